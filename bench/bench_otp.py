#!/usr/bin/env python3
"""OTP round trips through the OTP API served by Odoo, next to ``/web/health`` in the same run.

Run through ``make bench`` (after the posting bench) or alone: ``bash scripts/bench.sh --otp [--round-trips 200]``.

One Odoo server (threaded, 2 cron threads as Odoo's default: the dispatcher wakes on its trigger) on a free
loopback port, and the project's simulator in this process. A round trip is what a WHMCS hook does:
``POST /api/v1/otp`` → the engine queues the code → the dispatcher (cron) sends it to the WAP simulator → the
code is read there, as the person reads their WhatsApp → ``POST /api/v1/otp-verify``. Reported: round trips per
second (sequential, then with ``--clients`` in parallel), the latency of each call (p50 / p99), and
``GET /web/health`` measured the same way in the same run, as the baseline of an Odoo request that does nothing.
"""
# A standalone script, not addon code: committing transactions and printing the table are its job.
# pylint: disable=invalid-commit,print-used

import argparse
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

from bench_http import describe, free_port, health, p99, run_parallel, start_odoo, stop_odoo, write_results  # noqa: E402
from simulator import Simulator  # noqa: E402 - the project's simulator, run in this process
from simulator.wap import DEMO_API_KEY, DEMO_OTP_AUTOMATION, DEMO_SECRET_B64, seed_demo  # noqa: E402

ACCOUNT_NAME = "NR Bench OTP WAP"
RULE_NAME = "NR Bench OTP"
USER_LOGIN = "nr-bench-otp-api"
PURPOSE = "bench"


def log(message):
    print(f"[bench-otp {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def prepare(registry, simulator):
    """A WAP sandbox account on the simulator, an OTP rule, limits off, an API user and its key (new each run)."""
    with registry.cursor() as cr:
        env = api.Environment(cr, SUPERUSER_ID, {})
        company = env.ref("base.main_company")
        cm = env.ref("base.cm")
        company.write({"country_id": company.country_id.id or cm.id,
                       "notify_otp_country_ids": [(6, 0, [cm.id])], "notify_otp_resend_cooldown": 0,
                       "notify_otp_phone_hourly": 0, "notify_otp_phone_daily": 0, "notify_otp_ip_minute": 0,
                       "notify_otp_ip_hourly": 0, "notify_otp_ip_daily": 0})
        Account = env["notify.provider.account"].with_context(active_test=False)
        account = Account.search([("name", "=", ACCOUNT_NAME)], limit=1)
        vals = {"name": ACCOUNT_NAME, "provider": "wap", "environment": "sandbox",
                "base_url": simulator.base_url("wap"), "wap_api_key": DEMO_API_KEY,
                "wap_api_secret": DEMO_SECRET_B64, "company_id": company.id, "default_country_id": cm.id,
                "rate_limit_per_minute": 100000, "concurrency": 8, "active": True, "paused": False}
        account = account.write(vals) and account if account else Account.create(vals)
        for rule in env["notify.rule"].with_context(active_test=False).search(
                [("trigger", "in", ("on_otp_request", "on_login")), ("company_id", "=", company.id)]):
            rule.active = rule.name == RULE_NAME
        rule = env["notify.rule"].with_context(active_test=False).search([("name", "=", RULE_NAME)], limit=1)
        rule_vals = {"name": RULE_NAME, "trigger": "on_otp_request", "action": "send_template",
                     "provider_account_id": account.id, "channel": "whatsapp", "template_ref": DEMO_OTP_AUTOMATION,
                     "company_id": company.id, "active": True, "sequence": 0}
        if rule:
            rule.write(rule_vals)
        else:
            env["notify.rule"].create(rule_vals)
        user = env["res.users"].with_context(active_test=False).search([("login", "=", USER_LOGIN)], limit=1)
        group = env.ref("notify_rules.group_notify_otp_api")
        if not user:
            user = env["res.users"].create({"name": "Bench OTP API", "login": USER_LOGIN, "company_id": company.id,
                                            "company_ids": [(6, 0, [company.id])],
                                            "groups_id": [(6, 0, [group.id, env.ref("base.group_user").id])]})
        key = env["res.users.apikeys"].with_user(user).sudo()._generate("rpc", "bench", None)
        env["notify.otp"].search([("purpose", "=", PURPOSE)]).unlink()
        cr.commit()
        return key


def wait_code(simulator, phone, seen, timeout=30):
    """The code the person reads on WhatsApp: the newest template message to `phone` not seen before."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        with simulator.wap.lock:
            for reference, message in reversed(list(simulator.wap.messages.items())):
                if reference not in seen and message["recipient"].endswith(phone[-9:]):
                    seen.add(reference)
                    return message["variables"]["code_otp"]
        time.sleep(0.005)
    raise RuntimeError(f"no code reached {phone} within {timeout} s (is the dispatcher cron running?)")


def round_trip(session, base, key, simulator, phone, seen):
    headers = {"X-API-Key": key}
    started = time.perf_counter()
    answer = session.post(f"{base}/api/v1/otp", json={"phone": phone, "purpose": PURPOSE}, headers=headers,
                          timeout=30)
    send_done = time.perf_counter()
    if answer.status_code != 200:
        raise RuntimeError(f"/api/v1/otp answered {answer.status_code}: {answer.text[:300]}")
    otp_id = answer.json()["otpId"]
    code = wait_code(simulator, phone, seen)
    delivered = time.perf_counter()
    check = session.post(f"{base}/api/v1/otp-verify", json={"otp_id": otp_id, "otp": code}, headers=headers,
                         timeout=30)
    done = time.perf_counter()
    if check.status_code != 200 or check.json() != {"valid": True}:
        raise RuntimeError(f"/api/v1/otp-verify answered {check.status_code}: {check.text[:300]}")
    return {"send": send_done - started, "delivery": delivered - send_done, "verify": done - delivered,
            "total": done - started}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", required=True)
    parser.add_argument("--config", required=True)
    parser.add_argument("--round-trips", type=int, default=200, help="round trips per mode (default 200)")
    parser.add_argument("--clients", type=int, default=4, help="parallel clients in the second mode (default 4)")
    parser.add_argument("--cron-threads", type=int, default=2,
                        help="Odoo's cron threads (default 2, Odoo's own default): the dispatcher runs in one of them")
    args = parser.parse_args()
    if not args.db.startswith("nr_bench"):
        parser.error("the database name must start with nr_bench")
    odoo.tools.config.parse_config(["-c", args.config, "-d", args.db])
    simulator = Simulator().start()
    seed_demo(simulator.wap)
    simulator.wap.progress_seconds = None
    simulator.wap.rate_limit_per_minute = 10 ** 6
    key = prepare(Registry(args.db), simulator)
    port = free_port()
    log(f"Odoo on port {port}, simulator on {simulator.base_url('wap')}")
    server_log = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 - closed after the server stops
    server = start_odoo(args, port, server_log, workers=0)
    base = f"http://127.0.0.1:{port}"
    seen = set()
    try:
        session = requests.Session()
        log("warm-up")
        for n in range(10):
            health(session, base)
            round_trip(session, base, key, simulator, f"+23769001{n:04d}", seen)
        n = args.round_trips
        log(f"{n} sequential /web/health and {n} sequential round trips")
        started = time.perf_counter()
        health_seq = [health(session, base) for _ in range(n)]
        health_seconds = time.perf_counter() - started
        started = time.perf_counter()
        trips = [round_trip(session, base, key, simulator, f"+23769002{i:04d}", seen) for i in range(n)]
        trips_seconds = time.perf_counter() - started
        log(f"{n} round trips with {args.clients} clients in parallel")
        par_trips, par_seconds = run_parallel(
            args.clients, n, lambda s, c, i: round_trip(s, base, key, simulator, f"+2376903{c}{i:04d}", seen))
        par_health, par_health_seconds = run_parallel(args.clients, n, lambda s, c, i: health(s, base))
    finally:
        stop_odoo(server, server_log)
        server_log.close()
        simulator.stop()
    lines = [
        f"OTP API bench, {time.strftime('%Y-%m-%d %H:%M')}, {args.round_trips} per mode, "
        f"Odoo threaded ({args.cron_threads} cron threads)",
        "",
        "sequential (one client):",
        f"  GET /web/health            {n / health_seconds:8.1f} req/s   {describe(health_seq)}",
        f"  send + deliver + verify    {n / trips_seconds:8.1f} round trips/s   "
        f"total {describe([t['total'] for t in trips])}",
        f"    POST /api/v1/otp         {describe([t['send'] for t in trips])}",
        f"    code reaches the phone   {describe([t['delivery'] for t in trips])}  (the dispatcher cron, woken)",
        f"    POST /api/v1/otp-verify  {describe([t['verify'] for t in trips])}",
        f"  verify p99 / health p99    {p99([t['verify'] for t in trips]) / p99(health_seq):8.1f}x",
        f"{args.clients} clients in parallel:",
        f"  GET /web/health            {len(par_health) / par_health_seconds:8.1f} req/s   {describe(par_health)}",
        f"  send + deliver + verify    {len(par_trips) / par_seconds:8.1f} round trips/s   "
        f"total {describe([t['total'] for t in par_trips])}",
        f"    POST /api/v1/otp         {describe([t['send'] for t in par_trips])}",
        f"    code reaches the phone   {describe([t['delivery'] for t in par_trips])}",
        f"    POST /api/v1/otp-verify  {describe([t['verify'] for t in par_trips])}",
        f"  verify p99 / health p99    {p99([t['verify'] for t in par_trips]) / p99(par_health):8.1f}x",
    ]
    write_results("otp_api.txt", "\n".join(lines))


if __name__ == "__main__":
    main()
