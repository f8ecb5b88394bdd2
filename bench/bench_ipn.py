#!/usr/bin/env python3
"""Intech IPNs through ``POST /notify_rules/intech/ipn/<account>``, next to ``/web/health``, on a multi-process Odoo.

Run through ``make bench`` (after the OTP bench) or alone: ``bash scripts/bench.sh --ipn [--operations 500]``.

One Odoo server started as in production, ``--workers 2`` (prefork: two HTTP worker processes) and
``--max-cron-threads 1`` (one cron worker, which carries settled operations to their records after the IPN's
answer), on free loopback ports; the project's simulator runs in this process and plays Intech.

Set-up, not timed: ``--operations`` pending operations per mode on the account "NR Bench Intech" (created once,
updated at each run), requested through the outbox as in production (the dispatcher, run in this process, sends
them to the simulator, which accepts them). Timed: the SUCCESS IPN of each operation, written and signed by the
simulator (its own JSON.stringify and HMAC), posted by ``requests`` clients: one client, then ``--clients`` in
parallel. A share of the operations (``--duplicates``) get their IPN twice in a row, as Intech re-sends it: one
client sends the copy after the first answer; in parallel the two copies leave together and race for the
operation's lock. ``GET /web/health`` is measured the same way on the same server in the same run, as the baseline
of a request that does nothing. Then the database is checked: one 'applied' callback per operation whose IPN was
answered 200, none applied twice, every operation done.
"""
# A standalone script, not addon code: committing transactions and printing the table are its job.
# pylint: disable=invalid-commit,print-used

import collections
import os
import sys
import tempfile
import time

import requests

import odoo
from odoo import SUPERUSER_ID, api
from odoo.modules.registry import Registry

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests"))

from bench_http import (  # noqa: E402
    describe,
    free_port,
    health,
    jobs_of,
    route_bench_arguments,
    run_parallel,
    start_odoo,
    stop_odoo,
    write_results,
)
from simulator import Simulator  # noqa: E402 - the project's simulator, run in this process
from simulator.intech import (  # noqa: E402
    DEMO_API_KEY,
    DEMO_HMAC_SECRET,
    DEMO_SECRET_KEY,
    intech_signature,
    js_stringify_bytes,
    seed_demo,
)

ACCOUNT_NAME = "NR Bench Intech"
SERVICE = "WAVE_SN_API_CASH_IN"
PHONE = "772457199"
WARM_UP = 10
TARGET_RATIO = 0.5  # the IPN route should serve at least half of /web/health's requests per second


def log(message):
    print(f"[bench-ipn {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def prepare(registry, simulator, port, count):
    """The Intech sandbox account on the simulator (its IPN URL on this run's Odoo port), its catalogue, and
    `count` operations requested through the outbox. Returns [(operation id, Intech transaction id)]."""
    with registry.cursor() as cr:
        env = api.Environment(cr, SUPERUSER_ID, {})
        company = env.company
        Account = env["notify.provider.account"].with_context(active_test=False)
        account = Account.search([("name", "=", ACCOUNT_NAME)], limit=1)
        vals = {"name": ACCOUNT_NAME, "provider": "intech", "environment": "sandbox",
                "base_url": simulator.base_url("intech"), "intech_api_key": DEMO_API_KEY,
                "intech_hmac_secret": DEMO_HMAC_SECRET, "intech_secret_key": DEMO_SECRET_KEY,
                "intech_ipn_base_url": f"http://127.0.0.1:{port}", "company_id": company.id,
                "default_country_id": env.ref("base.sn").id, "rate_limit_per_minute": 100000, "concurrency": 8,
                "active": True, "paused": False, "throttled_until": False}
        account = account.write(vals) and account if account else Account.create(vals)
        account._intech_sync_services()
        service = env["notify.intech.service"].search(
            [("code", "=", SERVICE), ("provider_account_id", "=", account.id)], limit=1)
        Operation = env["notify.money.operation"]
        operations = Operation.create([{"provider_account_id": account.id, "service_id": service.id,
                                        "phone": PHONE, "amount": 1000 + n, "company_id": company.id}
                                       for n in range(count)])
        operations.action_request()
        cr.commit()
        account_id = account.id
        operation_ids = operations.ids
    with registry.cursor() as cr:  # the dispatcher, as its cron runs it: it commits as it goes
        env = api.Environment(cr, SUPERUSER_ID, {})
        operations = env["notify.money.operation"].browse(operation_ids)
        for _round in range(200):
            env["notify.message"]._cron_dispatch()
            cr.commit()
            env.invalidate_all()
            if not operations.filtered(lambda op: op.state == "pending" and not op.provider_ref):
                break
        refused = operations.filtered(lambda op: op.state != "pending" or not op.provider_ref)
        if refused:
            reasons = collections.Counter(f"{op.state}: {op.state_reason or op.message_id.last_error}"
                                          for op in refused)
            raise RuntimeError(f"{len(refused)} operations were not accepted by the simulator: {dict(reasons)}")
        return account_id, [(op.id, op.provider_ref) for op in operations]


def signed_ipn(intech, transaction_id):
    """The IPN as Intech writes it: the simulator's body, its JSON.stringify bytes, signed. Built before the timed
    loop, as Intech builds it on its own servers: the clients then do for an IPN what they do for /web/health, one
    request (the timestamp stays well inside the 5 minutes a run of a few seconds needs)."""
    raw = js_stringify_bytes(intech.ipn_body(transaction_id, "SUCCESS"))
    timestamp = str(intech.now_ms())
    headers = {"Content-Type": "application/json", "Timestamp": timestamp,
               "Hmac-Signature": intech_signature(DEMO_HMAC_SECRET, "POST", timestamp, raw.decode())}
    return raw, headers


def send_ipn(session, url, signed):
    raw, headers = signed
    started = time.perf_counter()
    response = session.post(url, data=raw, headers=headers, timeout=60)
    seconds = time.perf_counter() - started
    try:
        detail = response.json().get("detail")
    except ValueError:
        detail = response.text[:80]
    return {"seconds": seconds, "status": response.status_code, "detail": detail}


def check_database(registry, operations, answers):
    """What the IPNs left: (lines to print, whether every check held)."""
    ids = [op_id for op_id, _ref in operations]
    accepted = {op_id for (op_id, _ref), answer in answers if answer["status"] == 200}
    with registry.cursor() as cr:
        cr.execute("SELECT state, count(*) FROM notify_money_operation WHERE id IN %s GROUP BY state", [tuple(ids)])
        states = dict(cr.fetchall())
        cr.execute("SELECT result, count(*) FROM notify_money_callback WHERE operation_id IN %s GROUP BY result",
                   [tuple(ids)])
        results = dict(cr.fetchall())
        cr.execute("SELECT count(*) FROM (SELECT operation_id FROM notify_money_callback WHERE operation_id IN %s "
                   "AND result = 'applied' GROUP BY operation_id HAVING count(*) > 1) twice", [tuple(ids)])
        applied_twice = cr.fetchone()[0]
    answered_200 = sum(answer["status"] == 200 for _op, answer in answers)
    checks = [
        (f"callbacks 'applied' = operations whose IPN was answered 200: {results.get('applied', 0)} = "
         f"{len(accepted)}", results.get("applied", 0) == len(accepted)),
        (f"callbacks stored = IPNs answered 200: {sum(results.values())} = {answered_200}",
         sum(results.values()) == answered_200),
        (f"operations applied twice: {applied_twice}", applied_twice == 0),
        (f"operations done: {states.get('done', 0)} of {len(ids)} ({dict(states)})", states.get("done", 0) == len(ids)),
    ]
    lines = [f"  {'ok ' if held else 'NO '} {text}" for text, held in checks]
    lines.append(f"  callbacks by result: {dict(sorted(results.items()))}")
    return lines, all(held for _text, held in checks)


def mode_lines(label, health_times, health_seconds, answers, ipn_seconds):
    ipn_times = [answer["seconds"] for _op, answer in answers]
    statuses = collections.Counter(f"{a['status']} {a['detail']}" for _op, a in answers)
    health_rate, ipn_rate = len(health_times) / health_seconds, len(answers) / ipn_seconds
    lines = [
        f"{label}:",
        f"  GET /web/health             {health_rate:8.1f} req/s   {describe(health_times)}",
        f"  POST IPN                    {ipn_rate:8.1f} req/s   {describe(ipn_times)}",
    ]
    for detail in ("applied", "duplicate"):
        times = [a["seconds"] for _op, a in answers if a["status"] == 200 and a["detail"] == detail]
        if times:
            lines.append(f"    answered {detail:<10}       {len(times):5d} IPNs   {describe(times)}")
    lines.append(f"  IPN / health throughput     {ipn_rate / health_rate:8.2f}   (target >= {TARGET_RATIO:.2f})")
    lines.append(f"  answers: {dict(sorted(statuses.items()))}")
    return lines, ipn_rate / health_rate


def main():
    args = route_bench_arguments(__doc__.split("\n\n")[0], "operations", "pending operations")
    odoo.tools.config.parse_config(["-c", args.config, "-d", args.db])
    load = os.getloadavg()[0]  # other work on the machine moves the timings: said in the table
    simulator = Simulator().start()
    seed_demo(simulator.intech)
    intech = simulator.intech
    port = free_port()
    n = args.operations
    registry = Registry(args.db)
    log(f"set-up: {2 * n + WARM_UP} operations requested at the simulator through the outbox")
    started = time.perf_counter()
    account_id, operations = prepare(registry, simulator, port, 2 * n + WARM_UP)
    log(f"set-up done in {time.perf_counter() - started:.0f} s; Odoo on port {port} "
        f"(--workers {args.workers} --max-cron-threads {args.cron_threads})")
    warm_up, sequential, parallel = operations[:WARM_UP], operations[WARM_UP:WARM_UP + n], operations[WARM_UP + n:]
    sequential_jobs = jobs_of(sequential, args.duplicates, 1)
    parallel_jobs = jobs_of(parallel, args.duplicates, 2)
    server_log = tempfile.TemporaryFile(mode="w+", encoding="utf-8")  # noqa: SIM115 - closed below
    server = start_odoo(args, port, server_log)
    base = f"http://127.0.0.1:{port}"
    url = f"{base}/notify_rules/intech/ipn/{account_id}"
    try:
        session = requests.Session()
        log("warm-up")
        for _op, transaction_id in warm_up:
            health(session, base)
            send_ipn(session, url, signed_ipn(intech, transaction_id))
        count = len(sequential_jobs)
        log(f"{count} sequential /web/health and {count} sequential IPNs ({n} operations)")
        started = time.perf_counter()
        health_seq = [health(session, base) for _ in range(count)]
        health_seq_seconds = time.perf_counter() - started
        signed = [signed_ipn(intech, op[1]) for op in sequential_jobs]
        started = time.perf_counter()
        seq_answers = [(op, send_ipn(session, url, ipn)) for op, ipn in zip(sequential_jobs, signed, strict=True)]
        seq_seconds = time.perf_counter() - started
        count = len(parallel_jobs)
        log(f"{count} IPNs ({n} operations) and {count} /web/health with {args.clients} clients in parallel")
        signed = [signed_ipn(intech, op[1]) for op in parallel_jobs]
        par_answers, par_seconds = run_parallel(
            args.clients, count, lambda s, _c, i: (parallel_jobs[i], send_ipn(s, url, signed[i])))
        par_health, par_health_seconds = run_parallel(args.clients, count, lambda s, _c, _i: health(s, base))
    finally:
        errors = stop_odoo(server, server_log)
        server_log.close()
        simulator.stop()
    seq_lines, seq_ratio = mode_lines("sequential (one client)", health_seq, health_seq_seconds, seq_answers,
                                      seq_seconds)
    par_lines, par_ratio = mode_lines(f"{args.clients} clients in parallel", par_health, par_health_seconds,
                                      par_answers, par_seconds)
    check_lines, held = check_database(registry, sequential + parallel, seq_answers + par_answers)
    lines = [
        f"Intech IPN bench, {time.strftime('%Y-%m-%d %H:%M')}, {n} operations per mode, "
        f"{round(n * args.duplicates)} of them with their IPN sent twice; Odoo --workers {args.workers} "
        f"--max-cron-threads {args.cron_threads}; load average at start {load:.2f} on {os.cpu_count()} CPUs",
        "",
        *seq_lines,
        *par_lines,
        "database check (both modes):",
        *check_lines,
    ]
    server_errors = [line for line in errors.splitlines() if " ERROR " in line or " CRITICAL " in line]
    if server_errors:
        lines += ["Odoo logged errors:", *(f"  {line}" for line in server_errors[:10])]
    write_results("ipn.txt", "\n".join(lines))
    if not held:
        sys.exit("bench-ipn: the database check failed (see above)")
    if min(seq_ratio, par_ratio) < TARGET_RATIO:
        log(f"IPN throughput under {TARGET_RATIO:.0%} of /web/health's (timings are reported, not asserted)")


if __name__ == "__main__":
    main()
