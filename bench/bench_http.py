"""What the HTTP benches (bench_otp.py, bench_ipn.py) share: a free port, percentiles, /web/health as the baseline
of a request that does nothing, and clients in parallel."""

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
