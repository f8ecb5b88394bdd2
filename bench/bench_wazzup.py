#!/usr/bin/env python3
"""Wazzup's status webhooks through ``POST /notify_rules/wazzup/webhook``, next to ``/web/health``, on a
multi-process Odoo.

Run through ``make bench`` (last) or alone: ``bash scripts/bench.sh --wazzup [--messages 500]``.

One Odoo server started as in production, ``--workers 2`` (prefork: two HTTP worker processes) and
``--max-cron-threads 1``, on free loopback ports; the project's simulator runs in this process and plays Wazzup.

Set-up, not timed: the account "NR Bench Wazzup" (created once, updated at each run: simulator URL, API key, a new
crmKey whose hash the webhook route checks, rate limit off), its channels read from the simulator, and
``--messages`` WhatsApp texts per mode queued in the outbox for contacts of the bench, sent by the dispatcher (run
in this process before Odoo starts) to the simulator, which accepts each (its messageId becomes the message's
reference). Timed: the ``statuses`` delivery telling that each message was delivered, as Wazzup writes it, posted
with ``Authorization: Bearer <crmKey>`` by ``requests`` clients: one client, then ``--clients`` in parallel. A
share of the messages (``--duplicates``) get their delivery twice in a row, as a sender that did not see the answer
re-sends it: one client sends the copy after the first answer; in parallel the two copies leave together.
``GET /web/health`` is measured the same way on the same server in the same run, as the baseline of a request that
does nothing. Then the database: one status event per (messageId, status) whose delivery was answered 200, none
twice, every such message Delivered (and its contact's chatter says so, once).
"""
# A standalone script, not addon code: committing transactions and printing the table are its job.
# pylint: disable=invalid-commit,print-used

import collections
import json
import os
import secrets
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
from simulator.intech import iso_ms  # noqa: E402
from simulator.wazzup import DEMO_API_KEY, DEMO_CHANNEL_ID, WazzupSimulator, seed_demo  # noqa: E402

ACCOUNT_NAME = "NR Bench Wazzup"
PARTNERS = 50  # contacts the messages are about: each delivered status notes it on its contact's chatter
NUMBER = "+221772457199"
WARM_UP = 10
TARGET_RATIO = 0.5  # the webhook route should serve at least half of /web/health's requests per second
ROUTE = "/notify_rules/wazzup/webhook"


def log(message):
    print(f"[bench-wazzup {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def prepare(registry, simulator, count, crm_key):
    """The Wazzup sandbox account on the simulator, its channels, and `count` messages sent through the outbox.
    Returns (account id, [(message id, Wazzup messageId)])."""
    # the addon is importable once its registry is loaded: what the account keeps of the key is the addon's word
    from odoo.addons.notify_rules.models.notify_provider_account_wazzup import crm_key_hash  # noqa: PLC0415

    with registry.cursor() as cr:
        env = api.Environment(cr, SUPERUSER_ID, {})
        company = env.company
        Account = env["notify.provider.account"].with_context(active_test=False)
        account = Account.search([("name", "=", ACCOUNT_NAME)], limit=1)
        vals = {"name": ACCOUNT_NAME, "provider": "wazzup", "environment": "sandbox",
                "base_url": simulator.base_url("wazzup"), "wazzup_api_key": DEMO_API_KEY,
                "wazzup_crm_key_hash": crm_key_hash(crm_key), "company_id": company.id,
                "rate_limit_per_minute": 100000, "concurrency": 8, "active": True, "paused": False,
                "throttled_until": False}
        account = account.write(vals) and account if account else Account.create(vals)
        account._wazzup_sync_channels()
        if account.wazzup_channel_id.channel_id != DEMO_CHANNEL_ID:
            raise RuntimeError("the simulator's WhatsApp channel was not chosen to send through")
        Partner = env["res.partner"].with_context(active_test=False)
        partners = Partner.search([("ref", "=like", "nr-bench-wazzup-%")], order="id")
        if len(partners) < PARTNERS:
            partners |= Partner.create([{"name": f"NR Bench Wazzup {n}", "ref": f"nr-bench-wazzup-{n}",
                                         "mobile": NUMBER} for n in range(len(partners), PARTNERS)])
        messages = env["notify.message"].create([{
            "provider_account_id": account.id, "channel": "whatsapp", "recipient_e164": NUMBER,
            "recipient_provider": NUMBER[1:], "body": f"Bench message {n}", "res_model": "res.partner",
            "res_id": partners[n % PARTNERS].id, "res_name": partners[n % PARTNERS].name} for n in range(count)])
        cr.commit()
        account_id, message_ids = account.id, messages.ids
    with registry.cursor() as cr:  # the dispatcher, as its cron runs it: it commits as it goes
        env = api.Environment(cr, SUPERUSER_ID, {})
        messages = env["notify.message"].browse(message_ids)
        for _round in range(200):
            env["notify.message"]._cron_dispatch()
            cr.commit()
            env.invalidate_all()
            if not messages.filtered(lambda m: m.state in ("queued", "sending")):
                break
        refused = messages.filtered(lambda m: m.state != "sent" or not m.provider_ref)
        if refused:
            reasons = collections.Counter(f"{m.state}: {m.last_error}" for m in refused)
            raise RuntimeError(f"{len(refused)} messages were not accepted by the simulator: {dict(reasons)}")
        return account_id, [(m.id, m.provider_ref) for m in messages]


def delivery(wazzup, message_ref):
    """The `statuses` delivery as Wazzup writes it (the document's §4.2 fields, JSON without spaces). Built before
    the timed loop: the clients then make one request per delivery, as for /web/health."""
    item = {"messageId": message_ref, "timestamp": iso_ms(wazzup.now()), "status": "delivered"}
    return json.dumps({"statuses": [item]}, ensure_ascii=False, separators=(",", ":")).encode()


def send_delivery(session, url, raw, headers):
    started = time.perf_counter()
    response = session.post(url, data=raw, headers=headers, timeout=60)
    seconds = time.perf_counter() - started
    try:
        answer = response.json()
    except ValueError:
        answer = response.text[:80]
    return {"seconds": seconds, "status": response.status_code, "answer": answer}


def check_database(registry, account_id, messages, answers, last_note_id):
    """What the deliveries left: (lines to print, whether every check held). The chatter notes posted by the
    deliveries are those after `last_note_id` (the dispatcher noted each message Sent before)."""
    ids = tuple(message_id for message_id, _ref in messages)
    accepted = {ref for (_id, ref), answer in answers if answer["status"] == 200}
    keys = tuple(f"{ref}:delivered" for _id, ref in messages)
    with registry.cursor() as cr:
        cr.execute("SELECT external_id, count(*) FROM notify_inbound_event WHERE source = 'wazzup' AND action = "
                   "'status' AND provider_account_id = %s AND external_id IN %s GROUP BY external_id",
                   [account_id, keys])
        events = dict(cr.fetchall())
        cr.execute("SELECT state, count(*) FROM notify_message WHERE id IN %s GROUP BY state", [ids])
        states = dict(cr.fetchall())
        cr.execute("SELECT count(*) FROM notify_message WHERE id IN %s AND state = 'delivered' AND provider_ref "
                   "NOT IN %s", [ids, tuple(accepted) or ("",)])
        moved_unasked = cr.fetchone()[0]
        cr.execute("""SELECT count(*), count(DISTINCT note.message_id) FROM (
                          SELECT substring(body FROM 'data-oe-id="([0-9]+)"')::int AS message_id FROM mail_message
                           WHERE id > %s AND model = 'res.partner' AND body LIKE '%%data-oe-model="notify.message"%%'
                      ) note WHERE note.message_id IN %s""", [last_note_id, ids])
        notes, noted = cr.fetchone()
    answered_200 = sum(answer["status"] == 200 for _ref, answer in answers)
    twice = sum(1 for count in events.values() if count > 1)
    checks = [
        (f"status events = messages whose delivery was answered 200: {sum(events.values())} = {len(accepted)}",
         sum(events.values()) == len(accepted) and set(events) == {f"{ref}:delivered" for ref in accepted}),
        (f"(messageId, status) recorded twice: {twice}", twice == 0),
        (f"messages delivered: {states.get('delivered', 0)} of {len(ids)} ({dict(states)})",
         states.get("delivered", 0) == len(accepted) == len(ids) and moved_unasked == 0),
        (f"chatter notes 'delivered': {notes}, one per message: {noted} messages",
         notes == noted == len(accepted)),
        (f"deliveries answered 200: {answered_200} of {len(answers)}", answered_200 == len(answers)),
    ]
    lines = [f"  {'ok ' if held else 'NO '} {text}" for text, held in checks]
    return lines, all(held for _text, held in checks)


def mode_lines(label, health_times, health_seconds, answers, webhook_seconds):
    times = [answer["seconds"] for _ref, answer in answers]
    statuses = collections.Counter(f"{a['status']} {a['answer']}" for _ref, a in answers)
    health_rate, webhook_rate = len(health_times) / health_seconds, len(answers) / webhook_seconds
    first, repeats, seen = [], [], set()
    for (_id, ref), answer in answers:
        (repeats if ref in seen else first).append(answer["seconds"])
        seen.add(ref)
    lines = [
        f"{label}:",
        f"  GET /web/health             {health_rate:8.1f} req/s   {describe(health_times)}",
        f"  POST webhook (statuses)     {webhook_rate:8.1f} req/s   {describe(times)}",
        f"    first deliveries         {len(first):5d}        {describe(first)}",
    ]
    if repeats:
        lines.append(f"    repeated deliveries      {len(repeats):5d}        {describe(repeats)}")
    lines.append(f"  webhook / health throughput {webhook_rate / health_rate:8.2f}   (target >= {TARGET_RATIO:.2f})")
    lines.append(f"  answers: {dict(sorted(statuses.items()))}")
    return lines, webhook_rate / health_rate


def main():
    args = route_bench_arguments(__doc__.split("\n\n")[0], "messages", "sent messages")
    odoo.tools.config.parse_config(["-c", args.config, "-d", args.db])
    load = os.getloadavg()[0]  # other work on the machine moves the timings: said in the table
    simulator = Simulator(providers=[WazzupSimulator()]).start()
    wazzup = seed_demo(simulator.wazzup)
    wazzup.rate_limit = (10**9, 5.0)  # the set-up sends 2N messages at once: Wazzup's 500 per 5 s is not measured
    crm_key = secrets.token_urlsafe(32)  # a new one per run, as a connection would make
    port = free_port()
    n = args.messages
    registry = Registry(args.db)
    log(f"set-up: {2 * n + WARM_UP} messages sent to the simulator through the outbox")
    started = time.perf_counter()
    account_id, messages = prepare(registry, simulator, 2 * n + WARM_UP, crm_key)
    log(f"set-up done in {time.perf_counter() - started:.0f} s; Odoo on port {port} "
        f"(--workers {args.workers} --max-cron-threads {args.cron_threads})")
    warm_up, sequential, parallel = messages[:WARM_UP], messages[WARM_UP:WARM_UP + n], messages[WARM_UP + n:]
    sequential_jobs = jobs_of(sequential, args.duplicates, 1)
    parallel_jobs = jobs_of(parallel, args.duplicates, 2)
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {crm_key}"}
    with registry.cursor() as cr:
        cr.execute("SELECT coalesce(max(id), 0) FROM mail_message")
        last_note_id = cr.fetchone()[0]
    server_log = tempfile.TemporaryFile(mode="w+", encoding="utf-8")  # noqa: SIM115 - closed below
    server = start_odoo(args, port, server_log)
    base = f"http://127.0.0.1:{port}"
    url = f"{base}{ROUTE}"
    try:
        session = requests.Session()
        log("warm-up")
        for _id, ref in warm_up:
            health(session, base)
            send_delivery(session, url, delivery(wazzup, ref), headers)
        count = len(sequential_jobs)
        log(f"{count} sequential /web/health and {count} sequential deliveries ({n} messages)")
        started = time.perf_counter()
        health_seq = [health(session, base) for _ in range(count)]
        health_seq_seconds = time.perf_counter() - started
        bodies = [delivery(wazzup, ref) for _id, ref in sequential_jobs]
        started = time.perf_counter()
        seq_answers = [(job, send_delivery(session, url, raw, headers))
                       for job, raw in zip(sequential_jobs, bodies, strict=True)]
        seq_seconds = time.perf_counter() - started
        count = len(parallel_jobs)
        log(f"{count} deliveries ({n} messages) and {count} /web/health with {args.clients} clients in parallel")
        bodies = [delivery(wazzup, ref) for _id, ref in parallel_jobs]
        par_answers, par_seconds = run_parallel(
            args.clients, count, lambda s, _c, i: (parallel_jobs[i], send_delivery(s, url, bodies[i], headers)))
        par_health, par_health_seconds = run_parallel(args.clients, count, lambda s, _c, _i: health(s, base))
        # the chatter notes of the statuses are the cron's, after the answers: wait for it (not timed above)
        started = time.perf_counter()
        while time.perf_counter() - started < 300:
            with registry.cursor() as cr:
                cr.execute("""SELECT count(*) FROM notify_inbound_event WHERE source = 'wazzup'
                               AND action = 'status' AND processed_at IS NULL""")
                left = cr.fetchone()[0]
            if not left:
                break
            time.sleep(1)
        log(f"the cron noted the statuses on the chatter {time.perf_counter() - started:.0f} s after the last "
            f"delivery ({left} left)")
    finally:
        errors = stop_odoo(server, server_log)
        server_log.close()
        simulator.stop()
    seq_lines, seq_ratio = mode_lines("sequential (one client)", health_seq, health_seq_seconds, seq_answers,
                                      seq_seconds)
    par_lines, par_ratio = mode_lines(f"{args.clients} clients in parallel", par_health, par_health_seconds,
                                      par_answers, par_seconds)
    check_lines, held = check_database(registry, account_id, sequential + parallel, seq_answers + par_answers,
                                         last_note_id)
    lines = [
        f"Wazzup webhook bench (statuses), {time.strftime('%Y-%m-%d %H:%M')}, {n} messages per mode, "
        f"{round(n * args.duplicates)} of them with their delivery sent twice; Odoo --workers {args.workers} "
        f"--max-cron-threads {args.cron_threads}; load average at start {load:.2f} on {os.cpu_count()} CPUs",
        "",
        *seq_lines,
        *par_lines,
        "database check (both modes):",
        *check_lines,
    ]
    log_lines = errors.splitlines()
    server_errors = [line[:300] + (f" -> {log_lines[i + 1][:200]}" if i + 1 < len(log_lines) else "")
                     for i, line in enumerate(log_lines) if " ERROR " in line or " CRITICAL " in line]
    if server_errors:
        kinds = collections.Counter(line.split(" -> ")[-1] for line in server_errors)
        lines += [f"Odoo logged {len(server_errors)} errors:", *(f"  {count} x {kind}" for kind, count in
                                                                  kinds.most_common(5)),
                  *(f"  {line}" for line in server_errors[:3])]
    write_results("wazzup.txt", "\n".join(lines))
    if not held:
        sys.exit("bench-wazzup: the database check failed (see above)")
    if min(seq_ratio, par_ratio) < TARGET_RATIO:
        log(f"webhook throughput under {TARGET_RATIO:.0%} of /web/health's (timings are reported, not asserted)")


if __name__ == "__main__":
    main()
