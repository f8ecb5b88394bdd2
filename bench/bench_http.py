"""What the HTTP benches (bench_otp.py, bench_ipn.py, bench_wazzup.py) share: an Odoo server of their own, a free
port, percentiles, /web/health as the baseline of a request that does nothing, clients in parallel, requests sent
twice, and where results go."""

import argparse
import itertools
import os
import random
import socket
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import requests

import odoo

RESULTS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")


def start_odoo(args, port, server_log, workers=None):
    """`odoo-bin` on `args.db` (`workers`, default `args.workers`: prefork; 0: threaded); its log goes to
    `server_log`, a file: a pipe nobody reads during the run would block the server once full."""
    workers = args.workers if workers is None else workers
    command = [sys.executable, os.path.join(os.path.dirname(os.path.dirname(odoo.__file__)), "odoo-bin"),
               "-c", args.config, "-d", args.db,
               "--db-filter", f"^{args.db}$", "--http-port", str(port), "--http-interface", "127.0.0.1",
               "--workers", str(workers), "--max-cron-threads", str(args.cron_threads), "--log-level", "warn",
               "--no-database-list"]
    if workers:
        command += ["--gevent-port", str(free_port())]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=server_log)
    deadline = time.time() + 120
    while time.time() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"Odoo stopped: {stop_odoo(server, server_log)[-2000:]}")
        try:
            if requests.get(f"http://127.0.0.1:{port}/web/health", timeout=2).status_code == 200:
                return server
        except requests.RequestException:
            pass
        time.sleep(0.5)
    server.kill()
    raise RuntimeError("Odoo did not answer /web/health within 120 s")


def stop_odoo(server, server_log):
    """Stop the server; returns its log."""
    server.terminate()
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()
    server_log.seek(0)
    return server_log.read()


def jobs_of(items, share, seed):
    """The requests to send: one per item, two in a row for a `share` of them (a provider's repeats)."""
    twice = set(random.Random(seed).sample(range(len(items)), round(len(items) * share)))
    return [items[i] for i in range(len(items)) for _ in range(2 if i in twice else 1)]


def write_results(name, text):
    """Print the report and keep it in bench/results/<name> (git-ignored)."""
    print(text)  # noqa: T201 - a bench's report
    os.makedirs(RESULTS_DIR, exist_ok=True)
    with open(os.path.join(RESULTS_DIR, name), "w", encoding="utf-8") as handle:
        handle.write(text + "\n")


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def p99(values):
    return percentile(values, 0.99)


def describe(values):
    return f"p50 {statistics.median(values) * 1000:7.1f} ms   p99 {percentile(values, 0.99) * 1000:7.1f} ms"


def health(session, base, timeout=60):
    """Seconds taken by one GET /web/health."""
    started = time.perf_counter()
    response = session.get(f"{base}/web/health", timeout=timeout)
    if response.status_code != 200:
        raise RuntimeError(f"/web/health answered {response.status_code}")
    return time.perf_counter() - started


def run_parallel(clients, count, work):
    """`count` calls of work(session, client, index) shared by `clients` threads, taken in order;
    (results, seconds)."""
    indexes = itertools.count()  # next() on it is atomic under the GIL
    results = [None] * count

    def worker(client):
        session = requests.Session()
        while (index := next(indexes)) < count:
            results[index] = work(session, client, index)

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        list(pool.map(worker, range(clients)))
    return results, time.perf_counter() - started


def route_bench_arguments(description, items, what):
    """The command line of a route bench on a multi-process Odoo (bench_ipn.py, bench_wazzup.py): `--<items>`
    per mode (`what` says what they are), clients, the share sent twice, workers, cron threads."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--db", required=True)
    parser.add_argument("--config", required=True)
    parser.add_argument(f"--{items}", type=int, default=500, help=f"{what} per mode (default 500)")
    parser.add_argument("--clients", type=int, default=8, help="parallel clients in the second mode (default 8)")
    parser.add_argument("--duplicates", type=float, default=0.2,
                        help=f"share of the {items} whose request is sent twice (default 0.2)")
    parser.add_argument("--workers", type=int, default=2, help="Odoo HTTP worker processes (default 2)")
    parser.add_argument("--cron-threads", type=int, default=1, help="Odoo cron workers (default 1)")
    args = parser.parse_args()
    if not args.db.startswith("nr_bench"):
        parser.error("the database name must start with nr_bench")
    if args.workers < 1:
        parser.error("--workers must be 1 or more: this bench measures a multi-process Odoo")
    return args
