#!/usr/bin/env python3
"""Dispatch throughput: queued WAP messages sent by the dispatcher to the simulator with a provider's latency.

Run alone: ``bash scripts/bench.sh --dispatch [--messages 10000] [--concurrency 20] [--latency-ms 20]``, or
``python bench/bench_dispatch.py --db <db> --config <odoo.conf> ...`` (``$ODOO_DIR`` on ``PYTHONPATH``).

Issue 11, item 1: how many messages per second one Odoo server sends when every request costs the provider's round
trip, against one connection's latency bound (1 / latency: 50/s at 20 ms). The project's simulator runs in this
process and plays WAP, with ``latency`` added before each answer and its rate limit lifted; the dispatcher runs in
separate OS processes, as cron workers do: each loops ``notify.message._cron_dispatch()`` (which commits as it goes)
until nothing is left queued or sending. Modes: (a) one process, (b) two processes at once on the same database.
Then every message must be sent exactly once: one accepted request per message at the simulator (each message
carries its own tag in its variables, WAP having no idempotency key), no request refused, zero left queued/sending,
and every provider reference in the database is the simulator's answer for that message's tag.

``--rate-limited``: WAP's documented 100 requests/minute, on the simulator and on the account, for ``--minutes``
(default 5): requests accepted per minute, the most accepted in any 60 s window, and the 429s (target: none).
``--profile``: cProfile of the single-process dispatcher loop instead (top functions, written to bench/results).

The database is the bench's own: created once with ``-i notify_rules --without-demo=all`` if it does not exist,
upgraded when the addon's code changed since its last run (the fingerprint is kept in the database). Each run
deletes the messages of the bench account first. Timings are printed, never asserted; a failed check exits
non-zero.
"""
# A standalone script, not addon code: committing transactions and printing the table are its job.
# pylint: disable=invalid-commit,print-used

import argparse
import collections
import cProfile
import hashlib
import io
import json
import os
import platform
import pstats
import resource
import subprocess
import sys
import tempfile
import time

import requests

import odoo
import odoo.service.db
from odoo import SUPERUSER_ID, api
from odoo.modules.registry import Registry

HERE = os.path.dirname(os.path.abspath(__file__))
ADDON_DIR = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ADDON_DIR, "tests"))

from bench_db import bench_lock as shared_bench_lock  # noqa: E402
from bench_db import ensure_database as shared_ensure_database  # noqa: E402
from simulator import Simulator  # noqa: E402 - the project's simulator, run in this process
from simulator.wap import DEMO_API_KEY, DEMO_INVOICE_AUTOMATION, DEMO_SECRET_B64, seed_demo  # noqa: E402

ACCOUNT_NAME = "NR Bench WAP dispatch"
STAMP_PARAM = "notify_rules.bench_dispatch_stamp"
LOCK_KEY = 0x4E52_4449  # "NRDI": one dispatch bench at a time per database
WAP_RATE_LIMIT = 100  # documented: 100 requests per minute
UNLIMITED = 1_000_000
IDLE_SLEEP = 0.25  # a worker with nothing it may send waits this long (a cron waits for its trigger)
TARGET_RATIO = 10  # issue 11: at least 10x one connection's latency bound
PROFILE_LINES = 30


def log(message):
    print(f"[bench-dispatch {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ---- the database -------------------------------------------------------------------------------------------

def addon_fingerprint():
    """The installable code's fingerprint (as scripts/bench.sh computes it): a change means `-u notify_rules`."""
    digest = hashlib.sha1()  # noqa: S324 - a fingerprint, not security
    for root, dirs, files in os.walk(ADDON_DIR):
        dirs[:] = sorted(d for d in dirs if not (root == ADDON_DIR and d in ("bench", "tests", ".git")))
        for name in sorted(files):
            if name.endswith((".py", ".xml", ".csv")):
                path = os.path.join(root, name)
                digest.update(os.path.relpath(path, ADDON_DIR).encode())
                with open(path, "rb") as handle:
                    digest.update(handle.read())
    return digest.hexdigest()[:16]


def ensure_database(args):
    shared_ensure_database(args, addon_fingerprint(), STAMP_PARAM, log, "bench-dispatch")


def bench_lock(db):
    """One dispatch bench at a time on a database (two would send each other's messages)."""
    return shared_bench_lock(db, LOCK_KEY, log, what="dispatch bench")


def prepare(registry, simulator, count, concurrency, rate_limit, tag):
    """The sandbox WAP account on the simulator, and `count` messages queued on it, already rendered (as a rule's
    message is once the dispatcher rendered it). The first is created by the ORM; the others are its copies made
    in one INSERT (every column the outbox has, whatever other features added), each with its own idempotency key,
    recipient and tag. Returns the account id."""
    with registry.cursor() as cr:
        env = api.Environment(cr, SUPERUSER_ID, {})
        Account = env["notify.provider.account"].with_context(active_test=False, tracking_disable=True)
        account = Account.search([("name", "=", ACCOUNT_NAME)], limit=1)
        vals = {"name": ACCOUNT_NAME, "provider": "wap", "environment": "sandbox",
                "base_url": simulator.base_url("wap"), "wap_api_key": DEMO_API_KEY, "wap_api_secret": DEMO_SECRET_B64,
                "company_id": env.company.id, "default_country_id": env.ref("base.cm").id, "timeout": 10.0,
                "rate_limit_per_minute": rate_limit, "concurrency": concurrency, "active": True, "paused": False,
                "throttled_until": False}
        if account:
            account.write(vals)
        else:
            account = Account.create(vals)
        others = env["notify.message"].search_count(
            [("state", "in", ("queued", "sending")), ("provider_account_id", "!=", account.id)])
        if others:
            raise RuntimeError(f"{others} messages of other accounts wait in {cr.dbname}: the dispatcher would send "
                               "them too. Use a database of its own for this bench.")
        cr.execute("DELETE FROM notify_message WHERE provider_account_id = %s", [account.id])
        cr.execute("DELETE FROM notify_provider_request WHERE provider_account_id = %s", [account.id])
        cr.execute("DELETE FROM ir_cron_trigger")  # no Odoo server runs the crons of this database
        first = env["notify.message"].create({
            "provider_account_id": account.id, "channel": "whatsapp", "recipient_e164": "+237690000000",
            "recipient_provider": "CM 690000000", "template_ref": DEMO_INVOICE_AUTOMATION, "to_render": False,
            "payload": payload(tag, 0)})
        env.flush_all()
        cr.execute("SELECT column_name FROM information_schema.columns WHERE table_name = 'notify_message' "
                   "AND column_name <> 'id'")
        overrides = {
            "idempotency_key": "md5(%(tag)s || '-' || n)",
            "recipient_e164": "'+23769' || lpad(n::text, 7, '0')",
            "recipient_provider": "'CM 69' || lpad(n::text, 7, '0')",
            "payload": "jsonb_build_object('customer_name', 'Bench', 'invoice_number', %(tag)s || '-' || n, "
                       "'amount_due', '1 000 FCFA')",
        }
        columns = [row[0] for row in cr.fetchall()]
        cr.execute(
            f"""INSERT INTO notify_message ({', '.join(columns)})
                SELECT {', '.join(overrides.get(c, c) for c in columns)}
                  FROM notify_message, generate_series(1, %(more)s) n WHERE id = %(first)s""",  # noqa: S608
            {"tag": tag, "more": count - 1, "first": first.id})
        cr.commit()
        return account.id


def payload(tag, number):
    return {"customer_name": "Bench", "invoice_number": f"{tag}-{number}", "amount_due": "1 000 FCFA"}


# ---- the dispatcher processes -------------------------------------------------------------------------------

def worker(args):
    """One dispatcher process: load the registry, say ready, wait for "go", then loop the cron's method until the
    account has nothing queued or sending (or until --seconds); print what it did as one JSON line."""
    odoo.tools.config.parse_config(["-c", args.config, "-d", args.db, "--log-level", "warn"])
    odoo.netsvc.init_logger()
    registry = Registry(args.db)
    print("ready", flush=True)
    sys.stdin.readline()
    profiler = cProfile.Profile() if args.profile_to else None
    statements = time_statements() if args.profile_to else None
    started, cpu_started = time.time(), resource.getrusage(resource.RUSAGE_SELF)
    runs = idle = 0
    done_before = -1
    if profiler:
        profiler.enable()
    while True:
        with registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            env["notify.message"]._cron_dispatch()
            cr.commit()
            cr.execute("""SELECT count(*) FILTER (WHERE state IN ('queued', 'sending')),
                                 count(*) FILTER (WHERE state NOT IN ('queued', 'sending'))
                            FROM notify_message WHERE provider_account_id = %s""", [args.account])
            left, done = cr.fetchone()
        runs += 1
        if not left or (args.seconds and time.time() - started >= args.seconds):
            break
        if done == done_before:  # nothing this run could send (rate window, or the other process holds them)
            idle += 1
            time.sleep(IDLE_SLEEP)
        done_before = done
    finished = time.time()
    if profiler:
        profiler.disable()
        profiler.dump_stats(args.profile_to)
        with open(args.profile_to + ".sql.json", "w", encoding="utf-8") as handle:
            json.dump(statements, handle)
    cpu = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({"started": started, "finished": finished, "runs": runs, "idle_runs": idle,
                      "cpu": cpu.ru_utime + cpu.ru_stime - cpu_started.ru_utime - cpu_started.ru_stime}), flush=True)


def time_statements():
    """Time every statement of this process by its text (whitespace folded, first 110 characters): which of the
    dispatcher's queries the round trips go to. The bench's own wrapper; the addon's code is not changed."""
    totals = {}
    execute = odoo.sql_db.Cursor.execute

    def timed(self, query, params=None, log_exceptions=True):
        started = time.perf_counter()
        try:
            return execute(self, query, params, log_exceptions)
        finally:
            key = " ".join(str(getattr(query, "code", query)).split())[:110]
            entry = totals.setdefault(key, [0, 0.0])
            entry[0] += 1
            entry[1] += time.perf_counter() - started

    odoo.sql_db.Cursor.execute = timed
    return totals


def statement_lines(path, messages, top=15):
    with open(path, encoding="utf-8") as handle:
        totals = json.load(handle)
    ordered = sorted(totals.items(), key=lambda item: -item[1][1])
    lines = [f"--- top {top} statements by total time (calls, per message, total s, ms each) ---"]
    lines += [f"{calls:7d} {calls / messages:5.2f} {seconds:7.2f} {seconds / calls * 1000:6.2f}  {text}"
              for text, (calls, seconds) in ordered[:top]]
    return lines


def run_workers(args, account_id, processes, seconds=None, profile_to=None):
    """Start `processes` dispatcher processes, let them go together once all are ready; (reports, go time,
    errors logged)."""
    command = [sys.executable, os.path.abspath(__file__), "--worker", "--db", args.db, "--config", args.config,
               "--account", str(account_id)]
    if seconds:
        command += ["--seconds", str(seconds)]
    if profile_to:
        command += ["--profile-to", profile_to]
    logs = [tempfile.TemporaryFile(mode="w+", encoding="utf-8") for _ in range(processes)]  # noqa: SIM115
    workers = [subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log_file, text=True)
               for log_file in logs]
    try:
        for process in workers:
            if process.stdout.readline().strip() != "ready":
                raise RuntimeError("a dispatcher process did not start (see its log below)")
        go = time.time()
        for process in workers:
            process.stdin.write("go\n")
            process.stdin.flush()
        reports = []
        for process in workers:
            line = process.stdout.readline()
            process.wait()
            if process.returncode or not line:
                raise RuntimeError(f"a dispatcher process stopped with code {process.returncode}")
            reports.append(json.loads(line))
    finally:
        errors = []
        for process, log_file in zip(workers, logs, strict=True):
            if process.poll() is None:
                process.kill()
                process.wait()
            log_file.seek(0)
            text = log_file.read()
            log_file.close()
            errors += [line for line in text.splitlines() if " ERROR " in line or " CRITICAL " in line
                       or line.startswith(("Traceback", "RuntimeError"))]
    return reports, go, errors


# ---- checks -------------------------------------------------------------------------------------------------

def wap_requests(simulator):
    """The simulator's send requests: (tag, status answered, time) of each."""
    with simulator.wap.lock:
        entries = list(simulator.wap.requests)
    return [(((entry["json"] or {}).get("variables") or {}).get("invoice_number"), entry["response_status"],
             entry["at"]) for entry in entries if entry["method"] == "POST"]


def check_exactly_once(registry, simulator, account_id, count, tag):
    """(lines, held): every message sent once, nothing left, each reference the simulator's answer for its tag."""
    requests = wap_requests(simulator)
    accepted = collections.Counter(t for t, status, _at in requests if status == 200)
    refused = collections.Counter(status for _t, status, _at in requests if status != 200)
    expected = {f"{tag}-{n}" for n in range(count)}
    with registry.cursor() as cr:
        cr.execute("SELECT state, count(*) FROM notify_message WHERE provider_account_id = %s GROUP BY state",
                   [account_id])
        states = dict(cr.fetchall())
        cr.execute("SELECT provider_ref, payload->>'invoice_number' FROM notify_message "
                   "WHERE provider_account_id = %s AND state = 'sent'", [account_id])
        references = cr.fetchall()
    with simulator.wap.lock:
        answered = {ref: message["variables"].get("invoice_number") for ref, message in simulator.wap.messages.items()}
    mismatched = sum(answered.get(ref) != message_tag for ref, message_tag in references)
    checks = [
        (f"messages sent: {states.get('sent', 0)} of {count} (states {dict(sorted(states.items()))})",
         states.get("sent", 0) == count),
        (f"left queued or sending: {states.get('queued', 0) + states.get('sending', 0)}",
         not states.get("queued") and not states.get("sending")),
        (f"messages accepted by the simulator exactly once: {sum(1 for t in expected if accepted[t] == 1)} of {count}",
         all(accepted[t] == 1 for t in expected)),
        (f"messages accepted more than once: {sum(1 for t in accepted if accepted[t] > 1)}",
         all(n == 1 for n in accepted.values())),
        (f"requests about no message of this run: {sum(n for t, n in accepted.items() if t not in expected)}",
         set(accepted) <= expected),
        (f"requests refused: {dict(refused)}", not refused),
        (f"provider references that are not the simulator's answer for their message: {mismatched}", not mismatched),
    ]
    return [f"  {'ok ' if held else 'NO '} {text}" for text, held in checks], all(held for _t, held in checks)


# ---- modes --------------------------------------------------------------------------------------------------

def throughput_run(args, registry, simulator, processes, profile_to=None):
    tag = f"B{int(time.time() * 1000)}"
    simulator.reset()
    account_id = prepare(registry, simulator, args.messages, args.concurrency, UNLIMITED, tag)
    log(f"{args.messages} messages queued; {processes} dispatcher process(es), concurrency {args.concurrency}, "
        f"latency {args.latency_ms:g} ms")
    load, round_trip = os.getloadavg()[0], sql_round_trip(registry)
    provider_trip = simulator_round_trip(simulator)
    cpu_before = time.process_time()
    reports, go, errors = run_workers(args, account_id, processes, profile_to=profile_to)
    simulator_cpu = time.process_time() - cpu_before
    wall = max(report["finished"] for report in reports) - go
    lines, held = check_exactly_once(registry, simulator, account_id, args.messages, tag)
    times = sorted(at for _t, status, at in wap_requests(simulator) if status == 200)
    row = {"processes": processes, "wall": wall, "rate": args.messages / wall,
           "first_request": times[0] - go if times else None,
           "dispatcher_cpu": sum(report["cpu"] for report in reports), "simulator_cpu": simulator_cpu,
           "runs": sum(report["runs"] for report in reports), "errors": errors, "load": load,
           "round_trip": round_trip, "provider_trip": provider_trip}
    return row, lines, held


def simulator_round_trip(simulator, count=20):
    """Median milliseconds of one request to the simulator on a kept-alive connection, as the dispatcher's are:
    the latency the dispatcher really meets (the configured latency plus the simulator's and the loopback's own
    time). It once measured 64 ms at a configured 20 ms: the simulator wrote an answer's headers and body in two
    packets, and Nagle's algorithm held the body until the client's delayed acknowledgement (40 ms)."""
    times = []
    with requests.Session() as session:
        for _n in range(count + 1):
            started = time.perf_counter()
            session.get(simulator.url + "/calibration/round-trip", timeout=10)
            times.append(time.perf_counter() - started)
    times = sorted(times[1:])  # the first one also opens the connection
    return times[len(times) // 2] * 1000


def sql_round_trip(registry, count=200):
    """Median milliseconds of a `SELECT 1` round trip: how busy PostgreSQL and the machine are right now (the
    dispatcher makes several statements per message)."""
    times = []
    with registry.cursor() as cr:
        for _n in range(count):
            started = time.perf_counter()
            cr.execute("SELECT 1")
            cr.fetchone()
            times.append(time.perf_counter() - started)
    return sorted(times)[len(times) // 2] * 1000


def rate_limited_run(args, registry, simulator):
    tag = f"R{int(time.time() * 1000)}"
    seconds = args.minutes * 60 + 5  # 5 s past the last minute: the next window's first requests are seen too
    count = WAP_RATE_LIMIT * (args.minutes + 2)  # always more queued than the limit lets through
    simulator.reset()
    simulator.wap.rate_limit_per_minute = WAP_RATE_LIMIT
    account_id = prepare(registry, simulator, count, args.concurrency, WAP_RATE_LIMIT, tag)
    log(f"rate-limited: {count} messages queued, {WAP_RATE_LIMIT}/minute on the simulator and the account, "
        f"one dispatcher process for {seconds} s")
    _reports, go, errors = run_workers(args, account_id, 1, seconds=seconds)
    requests = wap_requests(simulator)
    accepted = sorted(at - go for _t, status, at in requests if status == 200)
    per_minute = [sum(1 for at in accepted if minute * 60 <= at < (minute + 1) * 60) for minute in range(args.minutes)]
    busiest = max((sum(1 for other in accepted if start <= other < start + 60) for start in accepted), default=0)
    too_many = collections.Counter(status for _t, status, _at in requests if status == 429)[429]
    twice = sum(1 for n in collections.Counter(t for t, status, _at in requests if status == 200).values() if n > 1)
    refused_at = sorted(at - go for _t, status, at in requests if status == 429)
    with registry.cursor() as cr:
        cr.execute("SELECT state, count(*) FROM notify_message WHERE provider_account_id = %s GROUP BY state",
                   [account_id])
        states = dict(cr.fetchall())
        # the dispatcher's own count of its requests (its rate window), as stored: claim times, seconds from go
        cr.execute("""SELECT extract(epoch FROM requested_at) - %s, count(*) FROM notify_provider_request
                       WHERE provider_account_id = %s GROUP BY requested_at ORDER BY requested_at""",
                   [go, account_id])
        reserved = [(float(at), n) for at, n in cr.fetchall()]
    simulator.wap.rate_limit_per_minute = UNLIMITED
    held = not too_many and not twice and min(per_minute) >= 95 and busiest <= WAP_RATE_LIMIT
    lines = [
        f"WAP rate limit {WAP_RATE_LIMIT}/minute on the simulator and on the account, concurrency {args.concurrency}, "
        f"{args.minutes} minute(s) + 5 s, one dispatcher process",
        "",
        "| minute | " + " | ".join(str(minute + 1) for minute in range(args.minutes)) + " |",
        "| --- " * (args.minutes + 1) + "|",
        "| requests accepted | " + " | ".join(str(n) for n in per_minute) + " |",
        "",
        f"  {'ok ' if min(per_minute) >= 95 else 'NO '} sent per minute >= 95: {per_minute}",
        f"  {'ok ' if busiest <= WAP_RATE_LIMIT else 'NO '} most accepted in any 60 s window: {busiest}",
        f"  {'ok ' if not too_many else 'NO '} 429 answered by the simulator: {too_many}",
        f"  {'ok ' if not twice else 'NO '} messages accepted twice: {twice}",
        f"  accepted in the 5 s after the last minute: {sum(1 for at in accepted if at >= args.minutes * 60)}; "
        f"message states at the end: {dict(sorted(states.items()))}",
        "  times in seconds from go: accepted by the simulator "
        + ", ".join(f"{group[0]:.2f}-{group[-1]:.2f} ({len(group)})" for group in bursts(accepted))
        + "; refused (429) " + (", ".join(f"{group[0]:.2f}-{group[-1]:.2f} ({len(group)})"
                                          for group in bursts(refused_at)) or "none"),
        "  the dispatcher's rate window (notify_provider_request.requested_at, seconds from go: requests): "
        + ", ".join(f"{at:.3f}: {n}" for at, n in reserved),
    ]
    if errors:
        lines += ["Errors logged by the dispatcher:", *(f"  {line}" for line in errors[:10])]
    return lines, held


def profile_summary(path, messages):
    """What one message and one batch cost in round trips to PostgreSQL, savepoints and threads, from the profile's
    call counts (counts do not depend on the machine's load, times do)."""
    stats = pstats.Stats(path).stats
    def calls(predicate):
        return sum(entry[1] for key, entry in stats.items() if predicate(key))
    def seconds(predicate):
        return sum(entry[3] for key, entry in stats.items() if predicate(key))
    statements = calls(lambda k: k[2] == "<method 'execute' of 'psycopg2.extensions.cursor' objects>")
    statement_seconds = seconds(lambda k: k[2] == "<method 'execute' of 'psycopg2.extensions.cursor' objects>")
    commits = calls(lambda k: k[2] == "<method 'commit' of 'psycopg2.extensions.connection' objects>")
    batches = calls(lambda k: k[2] == "_start_batch")
    threads = calls(lambda k: k[2] == "<built-in method _thread.start_new_thread>")
    savepoints = calls(lambda k: k[0].endswith("sql_db.py") and k[2] == "savepoint")
    phases = [(name, seconds(lambda k, name=name: k[2] == name and k[0].endswith(".py")))
              for name in ("_apply_send_results", "_apply_send_result_isolated", "_claim_batch", "_render_pending",
                           "_dispatch_urgent", "_commit_read_committed", "map", "_notify_safeguard", "_trigger")]
    return [
        f"per message: {statements / messages:.1f} SQL statements ({statement_seconds / max(statements, 1) * 1000:.2f} "
        f"ms each under the profiler), {savepoints / messages:.1f} savepoints; per batch ({batches} batches): "
        f"{messages / max(batches, 1):.1f} messages, {commits / max(batches, 1):.1f} commits, "
        f"{threads / max(batches, 1):.1f} threads started",
        "cumulative seconds by phase (main thread): " + ", ".join(f"{name} {value:.1f}" for name, value in phases),
    ]


def bursts(times, gap=1.0):
    """Times grouped where they are less than `gap` seconds apart."""
    groups = []
    for at in times:
        if groups and at - groups[-1][-1] < gap:
            groups[-1].append(at)
        else:
            groups.append([at])
    return groups


def profile_lines(path):
    out = []
    for sort in ("tottime", "cumulative"):
        buffer = io.StringIO()
        stats = pstats.Stats(path, stream=buffer)
        stats.strip_dirs().sort_stats(sort).print_stats(PROFILE_LINES)
        out += [f"--- top {PROFILE_LINES} by {sort} ---", buffer.getvalue()]
    return out


# ---- report -------------------------------------------------------------------------------------------------

def machine_lines(registry, load):
    with registry.cursor() as cr:
        cr.execute("SHOW server_version")
        postgres = cr.fetchone()[0]
    cpu = ""
    if os.path.exists("/proc/cpuinfo"):
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            cpu = next((line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")), "")
    return [f"Machine: {os.cpu_count()} CPU ({cpu or platform.machine()}), Python {platform.python_version()}, "
            f"PostgreSQL {postgres}, Odoo {odoo.release.version}; load average at start {load:.2f}",
            f"Dispatcher: models/notify_message_dispatch.py sha1 {file_sha1('models/notify_message_dispatch.py')}, "
            f"addon fingerprint {addon_fingerprint()}"]


def file_sha1(relative):
    with open(os.path.join(ADDON_DIR, relative), "rb") as handle:
        return hashlib.sha1(handle.read()).hexdigest()[:12]  # noqa: S324 - a fingerprint


def throughput_table(args, rows):
    bound = 1000.0 / args.latency_ms if args.latency_ms else None  # no latency: no bound
    lines = [
        f"{args.messages} messages, concurrency {args.concurrency}, simulator latency {args.latency_ms:g} ms "
        + (f"(one connection's bound: {bound:g}/s; target >= {TARGET_RATIO * bound:g}/s)" if bound else
           "(no latency: what the dispatcher itself costs)"),
        "",
        "| dispatcher processes | wall time | messages/s (sum) | ratio to 1/latency | first request after go | "
        "cron runs | dispatcher CPU | simulator CPU | load at start | SELECT 1 p50 | "
        "one request to the simulator p50 |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        first = f"{row['first_request'] * 1000:.0f} ms" if row["first_request"] is not None else "-"
        ratio = f"{row['rate'] / bound:.2f}x" if bound else "-"
        lines.append(f"| {row['processes']} | {row['wall']:.2f} s | {row['rate']:.1f} | {ratio} | "
                     f"{first} | {row['runs']} | {row['dispatcher_cpu']:.1f} s | {row['simulator_cpu']:.1f} s | "
                     f"{row['load']:.2f} | {row['round_trip']:.2f} ms | {row['provider_trip']:.1f} ms |")
    return lines


def write_result(name, text):
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    path = os.path.join(HERE, "results", name)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text + "\n")
    return path


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", required=True)
    parser.add_argument("--config", required=True)
    parser.add_argument("--messages", type=int, default=10000, help="queued messages per run (default 10000)")
    parser.add_argument("--concurrency", type=int, default=20, help="the account's concurrency (default 20)")
    parser.add_argument("--latency-ms", type=float, default=20.0, help="added before each answer (default 20)")
    parser.add_argument("--processes", default="1,2", help="dispatcher processes per run, e.g. 1 or 1,2 (default)")
    parser.add_argument("--rate-limited", action="store_true", help="WAP's 100/minute instead of throughput")
    parser.add_argument("--minutes", type=int, default=5, help="length of the rate-limited run (default 5)")
    parser.add_argument("--profile", action="store_true", help="cProfile one dispatcher process instead")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--account", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--seconds", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--profile-to", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    processes = sorted({int(p) for p in args.processes.split(",")})
    if args.messages < 1 or args.concurrency < 1 or args.latency_ms < 0 or args.minutes < 1 or min(processes) < 1:
        parser.error("--messages, --concurrency, --minutes and --processes must be >= 1, --latency-ms >= 0")
    odoo.tools.config.parse_config(["-c", args.config, "-d", args.db])
    load = os.getloadavg()[0]
    ensure_database(args)
    lock_cr = bench_lock(args.db)
    simulator = Simulator().start()
    try:
        registry = Registry(args.db)
        seed_demo(simulator.wap)
        simulator.wap.rate_limit_per_minute = UNLIMITED
        simulator.wap.progress_seconds = None
        simulator.latency = args.latency_ms / 1000.0
        header = [f"Dispatch bench, {time.strftime('%Y-%m-%d %H:%M')}, database {args.db}",
                  *machine_lines(registry, load), ""]
        if args.rate_limited:
            lines, held = rate_limited_run(args, registry, simulator)
            name = "dispatch_rate_limited.txt"
        elif args.profile:
            path = os.path.join(HERE, "results", "dispatch_profile.pstats")
            os.makedirs(os.path.dirname(path), exist_ok=True)
            row, check, held = throughput_run(args, registry, simulator, 1, profile_to=path)
            lines = [*throughput_table(args, [row]), "(under cProfile: the main thread only; the sending threads "
                     "appear as the main thread's wait)", "checks:", *check,
                     *profile_summary(path, args.messages), *statement_lines(path + ".sql.json", args.messages),
                     *profile_lines(path)]
            name = "dispatch_profile.txt"
        else:
            rows, lines, held = [], [], True
            for count in processes:
                row, check, ok = throughput_run(args, registry, simulator, count)
                rows.append(row)
                lines += [f"checks, {count} process(es):", *check]
                lines += [f"  errors logged: {line}" for line in row["errors"][:10]]
                held = held and ok
            lines = [*throughput_table(args, rows), "", *lines]
            name = "dispatch.txt"
    finally:
        simulator.stop()
        lock_cr.close()
    text = "\n".join(header + lines)
    print(text)
    log(f"written {write_result(name, text)}")
    if not held:
        sys.exit("bench-dispatch: a check failed (see above)")


if __name__ == "__main__":
    main()
