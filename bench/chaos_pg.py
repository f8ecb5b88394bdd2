#!/usr/bin/env python3
"""PostgreSQL lost in the middle of a dispatch: the dispatcher recovers by itself at its next runs (issue 11, item 4).

Run: ``bash scripts/bench.sh --chaos-pg [--messages 1000] [--terminations 2]``, or
``python bench/chaos_pg.py --config <odoo.conf> [--db nr_chaos] ...`` (``$ODOO_DIR`` on ``PYTHONPATH``).

An ``odoo-bin`` server as in tests/test_crash_server.py (threaded, ``--workers 0``, one cron thread) dispatches
``--messages`` WAP messages to the project's simulator, run in this process with ``--latency-ms`` per request and
its rate limit lifted, at ``--concurrency``. Each time the simulator has received another share of them (a third,
then two thirds with the default 2 terminations), every backend of this database is ended with
``pg_terminate_backend``, from a separate superuser connection to the ``postgres`` database: what the server sees
when PostgreSQL restarts, without restarting the PostgreSQL server that other databases use. With
``--restart-postgres`` it is a real ``pg_ctlcluster 15 main restart`` instead (every database of the cluster: run it
on a quiet machine). ``--include-listener`` also ends the server's own connection to the ``postgres`` database (where
its cron thread LISTENs for triggers), which a real restart ends too.

Nobody steps in afterwards: no trigger, no lease aged by hand. The dispatcher cron of this database runs every
``--interval-minutes`` (its *Settings › Notifications* interval, 1 minute here) and the account's timeout is
``--timeout`` seconds (lease of an interrupted send: twice that + 60 s). The script waits until nothing is queued
or sending (``--deadline-minutes``), then checks every message: sent -> received exactly once by the simulator, with
the simulator's reference for it; outcome unknown -> received at most once, with a reason; nothing else left, none
received twice. It prints a Markdown table; a failed check exits non-zero.

The database is the script's own (its name must start with ``nr_chaos``): created once with
``-i notify_rules --without-demo=all``, upgraded when the addon's code changed. Every cron of it but the dispatcher
is deactivated (the one cron thread serves the dispatcher only).
"""
# A standalone script, not addon code: committing transactions and printing the table are its job.
# pylint: disable=invalid-commit,print-used

import argparse
import collections
import os
import subprocess
import sys
import tempfile
import time

import psutil
import psycopg2

import odoo
import odoo.service.db
from odoo import SUPERUSER_ID, api
from odoo.modules.registry import Registry

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests"))

from bench_db import ensure_database as shared_ensure_database  # noqa: E402
from bench_db import odoo_bin_command  # noqa: E402
from bench_http import free_port  # noqa: E402
from simulator import Simulator  # noqa: E402 - the project's simulator, run in this process
from simulator.wap import DEMO_API_KEY, DEMO_SECRET_B64, seed_demo  # noqa: E402

ACCOUNT_NAME = "NR Chaos WAP"
TEMPLATE = "tpl-chaos"
STAMP_PARAM = "notify_rules.chaos_pg_stamp"
UNLIMITED = 1_000_000
POLL_SECONDS = 0.2
INTERRUPTED = "offers no way to check"  # the reason of a send interrupted by a crash (notify_message_dispatch.py)


def log(message):
    print(f"[chaos-pg {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ---- the database -------------------------------------------------------------------------------------------

def ensure_database(args):
    """Create the script's database once; upgrade the addon when its code changed (``--fingerprint``)."""
    shared_ensure_database(args, args.fingerprint, STAMP_PARAM, log, "chaos-pg")


def prepare(registry, simulator, args, tag):
    """The sandbox WAP account on this run's simulator, ``--messages`` messages queued on it (each with its own tag
    in its variables: WAP has no idempotency key, the simulator counts by content), the dispatcher cron due and
    every other cron inactive. Returns (account id, {message id: tag})."""
    with registry.cursor() as cr:
        env = api.Environment(cr, SUPERUSER_ID, {"tracking_disable": True})
        Account = env["notify.provider.account"].with_context(active_test=False)
        account = Account.search([("name", "=", ACCOUNT_NAME)], limit=1)
        vals = {"name": ACCOUNT_NAME, "provider": "wap", "environment": "sandbox",
                "base_url": simulator.base_url("wap"), "wap_api_key": DEMO_API_KEY, "wap_api_secret": DEMO_SECRET_B64,
                "company_id": env.company.id, "default_country_id": env.ref("base.cm").id, "timeout": args.timeout,
                "rate_limit_per_minute": UNLIMITED, "concurrency": args.concurrency, "active": True, "paused": False,
                "throttled_until": False}
        if account:
            account.write(vals)
        else:
            account = Account.create(vals)
        others = env["notify.message"].search_count(
            [("state", "in", ("queued", "sending")), ("provider_account_id", "!=", account.id)])
        if others:
            raise RuntimeError(f"{others} messages of other accounts wait in {cr.dbname}: use a database of its own")
        cr.execute("DELETE FROM notify_message WHERE provider_account_id = %s", [account.id])
        cr.execute("DELETE FROM notify_provider_request WHERE provider_account_id = %s", [account.id])
        messages = env["notify.message"].create([
            {"provider_account_id": account.id, "recipient_e164": f"+23769{index:07d}", "template_ref": TEMPLATE,
             "payload": {"customer_name": f"{tag}-{index}"}} for index in range(args.messages)])
        cron = env.ref("notify_rules.ir_cron_notify_dispatch")
        cr.execute("UPDATE ir_cron SET active = FALSE WHERE active AND id <> %s", [cron.id])
        cr.execute("DELETE FROM ir_cron_trigger")
        cr.execute("DELETE FROM ir_cron_progress WHERE cron_id = %s", [cron.id])
        cron.write({"active": True, "interval_number": args.interval_minutes, "interval_type": "minutes",
                    "nextcall": odoo.fields.Datetime.now()})
        return account.id, {message.id: message.payload["customer_name"] for message in messages}


# ---- the server and the faults --------------------------------------------------------------------------------

def start_server(args, port, server_log):
    command = odoo_bin_command(args, "--db-filter", f"^{args.db}$", "--http-interface", "127.0.0.1",
                               "--http-port", str(port), "--gevent-port", str(free_port()),
                               "--workers", str(args.workers), "--max-cron-threads", "1", "--log-level", "warn",
                               "--log-handler", "odoo.addons.base.models.ir_cron:INFO")
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=server_log)  # noqa: S603
    deadline = time.time() + 120
    while time.time() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"odoo-bin stopped at start, see {server_log.name}")
        try:
            if urlopen_status(f"http://127.0.0.1:{port}/web/health") == 200:
                return server
        except OSError:
            time.sleep(0.3)
    server.kill()
    raise RuntimeError("odoo-bin did not answer /web/health within 120 s")


def urlopen_status(url):
    import urllib.request  # noqa: PLC0415 - only here

    with urllib.request.urlopen(url, timeout=2) as answer:  # noqa: S310 - loopback
        return answer.status


def superuser_connection():
    """A connection of its own to the ``postgres`` database, never one of the pool (those are being ended)."""
    _name, params = odoo.sql_db.connection_info_for("postgres")
    connection = psycopg2.connect(**params)
    connection.autocommit = True
    return connection


def wake(db):
    """NOTIFY cron_trigger, as a business transaction that queues messages does (once, at the start)."""
    with superuser_connection() as connection, connection.cursor() as cr:
        cr.execute("SELECT pg_notify('cron_trigger', %s)", [db])


def terminate_backends(args, server_pid):
    """End every backend of this database (and, with --include-listener, the server's connections to postgres:
    its processes' only, found by Odoo's application_name ``odoo-<pid>``). Returns how many were ended."""
    pids = [server_pid, *(child.pid for child in psutil.Process(server_pid).children(recursive=True))]
    connection = superuser_connection()
    try:
        with connection.cursor() as cr:
            cr.execute("""SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
                           WHERE pid <> pg_backend_pid()
                             AND (datname = %s OR (%s AND datname = 'postgres' AND application_name = ANY(%s)))""",
                       [args.db, args.include_listener, [f"odoo-{pid}" for pid in pids]])
            return cr.fetchone()[0]
    finally:
        connection.close()


def restart_postgres():
    """A real restart of the cluster (--restart-postgres): every database of the machine loses its connections."""
    subprocess.run(["pg_ctlcluster", "15", "main", "restart"], check=True)  # noqa: S607 - Debian's tool
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            superuser_connection().close()
            return
        except psycopg2.OperationalError:
            time.sleep(0.5)
    raise RuntimeError("PostgreSQL did not accept connections within 60 s of its restart")


def states(db, account_id):
    """Message states right now, on a connection of its own (the pool's may have been ended)."""
    _name, params = odoo.sql_db.connection_info_for(db)
    try:
        connection = psycopg2.connect(**params)
    except psycopg2.OperationalError:
        return None  # PostgreSQL is restarting
    try:
        with connection.cursor() as cr:
            cr.execute("SELECT state, count(*) FROM notify_message WHERE provider_account_id = %s GROUP BY state",
                       [account_id])
            return dict(cr.fetchall())
    finally:
        connection.close()


def received(simulator):
    """Requests the simulator processed, per tag, and the time of each."""
    with simulator.wap.lock:
        entries = [(entry["json"]["variables"]["customer_name"], entry["at"]) for entry in simulator.wap.requests
                   if entry["method"] == "POST" and entry["processed"]]
    return collections.Counter(tag for tag, _at in entries), sorted(at for _tag, at in entries)


# ---- the run ------------------------------------------------------------------------------------------------

def run(args, registry, simulator, server_log):
    tag = f"C{int(time.time())}"
    account_id, tags = prepare(registry, simulator, args, tag)
    port = args.http_port or free_port()
    server = start_server(args, port, server_log)
    try:
        started = time.time()
        wake(args.db)
        log(f"{args.messages} messages queued; odoo-bin pid {server.pid} on port {port}, --workers {args.workers}")
        faults = []
        thresholds = [args.messages * (k + 1) // (args.terminations + 1) for k in range(args.terminations)]
        deadline = started + args.deadline_minutes * 60
        settled_at = None
        while time.time() < deadline:
            if server.poll() is not None:
                raise RuntimeError(f"odoo-bin stopped (exit code {server.returncode}), see {server_log.name}")
            count = sum(received(simulator)[0].values())
            if thresholds and count >= thresholds[0]:
                thresholds.pop(0)
                at = time.time()
                if args.restart_postgres:
                    restart_postgres()
                    ended = "all (restart)"
                else:
                    ended = terminate_backends(args, server.pid)
                odoo.sql_db.close_db(args.db)  # this process's pooled connections were ended too
                faults.append({"at": at, "received": count, "ended": ended, "states": states(args.db, account_id)})
                log(f"fault {len(faults)}: {ended} backends ended at {count} received; states {faults[-1]['states']}")
                continue
            now_states = states(args.db, account_id)
            if not thresholds and now_states is not None and not (now_states.keys() & {"queued", "sending"}):
                settled_at = time.time()
                break
            time.sleep(POLL_SECONDS)
        return check(args, registry, simulator, account_id, tags, faults, started, settled_at)
    finally:
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def check(args, registry, simulator, account_id, tags, faults, started, settled_at):
    counts, times = received(simulator)
    with registry.cursor() as cr:
        cr.execute("SELECT id, state, provider_ref, last_error FROM notify_message WHERE provider_account_id = %s",
                   [account_id])
        rows = {row[0]: row[1:] for row in cr.fetchall()}
    with simulator.wap.lock:
        references = {ref: message["variables"]["customer_name"] for ref, message in simulator.wap.messages.items()}
    states_now = collections.Counter(state for state, _ref, _error in rows.values())
    sent_bad = [tags[i] for i, (state, ref, _e) in rows.items()
                if state == "sent" and (counts[tags[i]] != 1 or references.get(ref) != tags[i])]
    unknown = [(tags[i], error) for i, (state, _ref, error) in rows.items() if state == "unknown"]
    unknown_bad = [tag for tag, error in unknown if counts[tag] > 1 or INTERRUPTED not in (error or "")]
    twice = [tag for tag, n in counts.items() if n > 1]
    foreign = set(counts) - set(tags.values())
    left = states_now["queued"] + states_now["sending"]
    resumed = []
    for fault in faults:
        after = [at for at in times if at > fault["at"] + 0.5]  # requests in flight at the fault land within 0.5 s
        resumed.append(f"{after[0] - fault['at']:.0f} s" if after else "never")
    checks = [
        (f"none left queued or sending: {left}", not left and settled_at is not None),
        (f"every message is sent or outcome unknown: {dict(sorted(states_now.items()))}",
         set(states_now) <= {"sent", "unknown"}),
        (f"sent and received exactly once, with the simulator's reference: {states_now['sent'] - len(sent_bad)} of "
         f"{states_now['sent']}", not sent_bad),
        (f"outcome unknown, received at most once, with the reason: {len(unknown) - len(unknown_bad)} of "
         f"{len(unknown)}", not unknown_bad),
        (f"messages received twice: {len(twice)}", not twice),
        (f"requests about no message of this run: {len(foreign)}", not foreign),
        (f"no message lost: {len(rows)} of {len(tags)}", set(rows) == set(tags)),
    ]
    mode = "pg_ctlcluster 15 main restart" if args.restart_postgres else (
        "pg_terminate_backend of every backend of the database"
        + (" and of the server's listener" if args.include_listener else ""))
    lines = [
        f"{args.messages} WAP messages, concurrency {args.concurrency}, simulator latency {args.latency_ms:g} ms, "
        f"odoo-bin --workers {args.workers} --max-cron-threads 1, dispatcher every {args.interval_minutes} min, "
        f"account timeout {args.timeout:g} s (lease {2 * args.timeout + 60:g} s); fault: {mode}",
        "",
        "| fault | at (s) | received then | backends ended | states just after | next request after (s) |",
        "| --- | ---: | ---: | ---: | --- | ---: |",
    ]
    lines += [f"| {n} | {fault['at'] - started:.1f} | {fault['received']} | {fault['ended']} | "
              f"{dict(sorted((fault['states'] or {}).items()))} | {resumed[n - 1]} |"
              for n, fault in enumerate(faults, start=1)]
    unknown_received = sum(1 for tag, _error in unknown if counts[tag] == 1)
    lines += [
        "",
        "| messages | sent (received once) | outcome unknown: received once / not received | failed or other | "
        "left queued/sending | received twice | all settled after (s) |",
        "| ---: | ---: | --- | ---: | ---: | ---: | ---: |",
        f"| {len(tags)} | {states_now['sent']} | {unknown_received} / {len(unknown) - unknown_received} | "
        f"{sum(n for state, n in states_now.items() if state not in ('sent', 'unknown', 'queued', 'sending'))} | "
        f"{left} | {len(twice)} | {f'{settled_at - started:.0f}' if settled_at else 'not within the deadline'} |",
        "",
    ]
    lines += [f"  {'ok ' if held else 'NO '} {text}" for text, held in checks]
    return lines, all(held for _text, held in checks)


def server_errors(server_log):
    server_log.flush()
    with open(server_log.name, encoding="utf-8", errors="replace") as handle:
        text = handle.read()
    errors = [line for line in text.splitlines()
              if " ERROR " in line or " CRITICAL " in line or (" WARNING " in line and "cron" in line.lower())
              or line.startswith("Exception in thread")]  # a thread that died (Odoo's cron thread, see README)
    jobs = [line for line in text.splitlines() if "Job 'Notify rules: send queued messages'" in line]
    return errors, jobs


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--db", default="nr_chaos")
    parser.add_argument("--config", required=True)
    parser.add_argument("--fingerprint", help="the addon's code fingerprint (scripts/bench.sh passes it)")
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--latency-ms", type=float, default=30.0)
    parser.add_argument("--terminations", type=int, default=2, help="faults during the dispatch (default 2)")
    parser.add_argument("--timeout", type=float, default=5.0, help="the account's timeout, seconds (default 5)")
    parser.add_argument("--interval-minutes", type=int, default=1, help="the dispatcher cron's interval (default 1)")
    parser.add_argument("--deadline-minutes", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=0, help="odoo-bin --workers (default 0: threaded)")
    parser.add_argument("--http-port", type=int, default=0, help="odoo-bin's HTTP port (default: a free one)")
    parser.add_argument("--include-listener", action="store_true",
                        help="also end the server's connection to the postgres database (its cron listener)")
    parser.add_argument("--restart-postgres", action="store_true",
                        help="a real `pg_ctlcluster 15 main restart` instead (every database of the machine)")
    args = parser.parse_args()
    if not args.db.startswith("nr_chaos"):
        parser.error("the database name must start with nr_chaos: every backend of it is ended")
    if args.messages < 3 or args.concurrency < 1 or args.terminations < 1:
        parser.error("--messages >= 3, --concurrency >= 1, --terminations >= 1")
    odoo.tools.config.parse_config(["-c", args.config, "--log-level", "warn"])
    odoo.netsvc.init_logger()
    ensure_database(args)
    registry = Registry(args.db)
    simulator = Simulator().start()
    simulator.latency = args.latency_ms / 1000.0
    simulator.wap.rate_limit_per_minute = UNLIMITED
    simulator.wap.progress_seconds = None
    seed_demo(simulator.wap)
    simulator.wap.add_automation(TEMPLATE, variables=["customer_name"])
    with tempfile.NamedTemporaryFile(mode="w+", prefix="chaos_pg_odoo_", suffix=".log", delete=False) as server_log:
        try:
            lines, held = run(args, registry, simulator, server_log)
        finally:
            simulator.stop()
        errors, jobs = server_errors(server_log)
    print("\n".join(lines))
    print(f"\nodoo-bin log: {server_log.name} ({len(errors)} error/cron warning lines; dispatcher job lines below)")
    for line in jobs:
        print(f"    {line[:200]}")
    for line in list(dict.fromkeys(line.split(" ", 4)[-1] for line in errors))[:10]:
        print(f"    error: {line[:200]}")
    sys.exit(0 if held else 1)


if __name__ == "__main__":
    main()
