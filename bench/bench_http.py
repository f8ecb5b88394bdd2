"""What the HTTP benches (bench_otp.py, bench_ipn.py) share: a free port, percentiles, /web/health as the baseline
of a request that does nothing, and clients in parallel."""

import argparse
import itertools
import socket
import statistics
import time
from concurrent.futures import ThreadPoolExecutor

import requests


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
