#!/usr/bin/env python3
"""A million outgoing messages: do the outbox's hot queries stay index paths, and does the retention purge let
the dispatcher claim while it deletes?

Run: ``bash scripts/bench.sh --scale [--rows 1000000] [--purge]`` (see bench/README.md, "Scale").

- Its own database (``nr_scale``, created once with ``-i notify_rules --without-demo=all``; ``-u notify_rules``
  when the addon's code changed since the last run).
- Data, by SQL (a minute or two, once; again after a ``--purge`` run, which deletes half of it): 2 companies,
  5 provider accounts, 50 rules, 50,000 partners, ``--rows`` messages over two years (ids grow with the date, as
  in production): ~95% final (sent/delivered/read/failed/cancelled, provider reference, sent and polled dates
  on the sent ones), a few hundred outcome-unknown, and the last few thousand queued, sending or to render.
  ``partner_id`` is filled when the column exists.
- Measured: EXPLAIN (ANALYZE, BUFFERS) and the median of 5 runs of the dispatcher's claim, the render pick, the
  urgent pick, the poller's claim, the stuck-message recovery, the Messages list (``web_search_read`` as the
  list view calls it: default order, 80 rows, count up to 10,000) filtered by state, rule and partner, the rule
  form's counters, one batch of the retention purge. For the ORM calls, the SQL they ran on notify_message is
  captured and explained. Each line says which indexes the plan uses and whether it reads notify_message
  sequentially.
- ``--purge``: the retention purge of ~``--purge-rows`` messages (the company's window set for that) in one
  process, while another process runs the dispatcher's claim (account lock + claim UPDATE, rolled back) in a
  loop: claim latency before and during the purge, and the longest lock wait seen in pg_stat_activity.
"""
# A standalone script, not addon code: committing transactions and printing the table are its job.
# pylint: disable=invalid-commit,print-used

import argparse
import json
import multiprocessing
import os
import platform
import re
import statistics
import subprocess
import sys
import threading
import time

import psycopg2

import odoo
from odoo import SUPERUSER_ID, api
from odoo.modules.registry import Registry

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from bench_http import percentile  # noqa: E402

COMPANY_B = "NR Scale B"
RULE_PREFIX = "NR scale rule"
PARTNERS = 50000
RULES = 50
FINAL_STATES = ("sent", "delivered", "read", "failed", "cancelled")
CLAIM_LIMIT = 20
REPEATS = 5

# Copied from models/notify_message_dispatch.py (_render_pending, _dispatch_urgent, _recover_stuck_messages) and
# models/notify_message_status.py (_claim_polls) on 2026-12-02: keep them in step. The claim is the model's own
# statement (claim_sql()).
LOCK_ACCOUNT_SQL = "SELECT throttled_until FROM notify_provider_account WHERE id = %(account)s FOR UPDATE"
RENDER_SQL = """
    SELECT id FROM notify_message
     WHERE to_render AND state = 'queued' AND (next_attempt_at IS NULL OR next_attempt_at <= %(now)s)
       AND provider_account_id = %(account)s
  ORDER BY id LIMIT 200 FOR UPDATE SKIP LOCKED"""
URGENT_SQL = """SELECT DISTINCT provider_account_id FROM notify_message
                 WHERE state = 'queued' AND priority IS NOT NULL AND next_attempt_at <= %(now)s"""
POLL_COUNT_SQL = """SELECT count(*) FROM notify_message WHERE provider_account_id = %(account)s AND state = 'queued'
                     AND (next_attempt_at IS NULL OR next_attempt_at <= %(now)s)"""
POLL_SQL = """
    SELECT id FROM notify_message
     WHERE provider_account_id = %(account)s AND provider_ref IS NOT NULL AND sent_at > %(now)s - interval '7 days'
       AND state IN ('sent', 'delivered') AND status_check_failures < 5
       AND (last_polled_at IS NULL
            OR (state = 'sent'
                AND last_polled_at < %(now)s - interval '60 seconds' * power(2, status_check_failures))
            OR (state = 'delivered'
                AND last_polled_at < %(now)s - interval '3600 seconds' * power(2, status_check_failures)))
  ORDER BY last_polled_at NULLS FIRST, id
     LIMIT 51
FOR UPDATE SKIP LOCKED"""
STUCK_SQL = """SELECT id FROM notify_message WHERE provider_account_id = %(account)s AND state = 'sending'
                  AND sending_since < %(now)s - interval '5 minutes' ORDER BY id FOR UPDATE SKIP LOCKED"""


def claim_sql():
    """The dispatcher's claim, as the model runs it (once the addons path is set)."""
    from odoo.addons.notify_rules.models.notify_message_dispatch import CLAIM_DUE_SQL  # noqa: PLC0415

    return CLAIM_DUE_SQL.replace("{urgent}", "")


def log(message):
    print(f"[bench-scale {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", default=os.environ.get("NOTIFY_SCALE_DB", "nr_scale"))
    parser.add_argument("--config", required=True)
    parser.add_argument("--odoo-bin", required=True)
    parser.add_argument("--fingerprint", default="", help="the addon's code fingerprint (scripts/odoo_conf.sh)")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--regenerate", action="store_true", help="delete the messages and generate them again")
    parser.add_argument("--purge", action="store_true", help="measure claims during a retention purge")
    parser.add_argument("--purge-rows", type=int, default=500_000)
    parser.add_argument("--batch-size", type=int, default=5000, help="messages per DELETE of the purge")
    parser.add_argument("--baseline-seconds", type=float, default=20.0)
    parser.add_argument("--label", default="", help="a word for the results file (e.g. before, after)")
    args = parser.parse_args()
    if not args.db.startswith("nr_scale"):
        parser.error("the database name must start with nr_scale")
    return args


# ---- database and data --------------------------------------------------------------------------------------

def psql(db, sql):
    return subprocess.run(["psql", "-d", db, "-Atc", sql], capture_output=True, text=True, check=False).stdout.strip()


def ensure_database(args):
    installed = psql(args.db, "SELECT state FROM ir_module_module WHERE name = 'notify_rules'") == "installed"
    odoo_cmd = [sys.executable, args.odoo_bin, "-c", args.config, "-d", args.db, "--stop-after-init",
                "--log-level=warn"]
    if not installed:
        log(f"creating {args.db} with notify_rules (a few minutes, once)")
        subprocess.run(["dropdb", "--if-exists", args.db], check=True)
        subprocess.run([*odoo_cmd, "-i", "notify_rules", "--without-demo=all"], check=True)
    elif args.fingerprint and psql(args.db, "SELECT value FROM ir_config_parameter "
                                   "WHERE key = 'notify_rules.bench_scale_fingerprint'") != args.fingerprint:
        log("the addon changed since the last run: upgrading notify_rules (its indexes are built on the data)")
        started = time.perf_counter()
        subprocess.run([*odoo_cmd, "-u", "notify_rules"], check=True)
        log(f"upgrade took {time.perf_counter() - started:.1f} s")
    if args.fingerprint:
        psql(args.db, "INSERT INTO ir_config_parameter (key, value) VALUES ('notify_rules.bench_scale_fingerprint', "
             f"'{args.fingerprint}') ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value")


def fixtures(registry):
    """Companies, accounts and rules through the ORM (their constraints hold); returns the rules' rows."""
    with registry.cursor() as cr:
        env = api.Environment(cr, SUPERUSER_ID, {})
        company_a = env.ref("base.main_company")
        company_b = env["res.company"].search([("name", "=", COMPANY_B)], limit=1) or env["res.company"].create(
            {"name": COMPANY_B, "currency_id": env.ref("base.XOF").id})
        Account = env["notify.provider.account"].with_context(active_test=False)
        accounts = []
        for name, provider, company in [("Scale WAP A1", "wap", company_a), ("Scale WAP A2", "wap", company_a),
                                        ("Scale Chinqit A", "chinqit", company_a), ("Scale WAP B", "wap", company_b),
                                        ("Scale Chinqit B", "chinqit", company_b)]:
            account = Account.search([("name", "=", name)], limit=1)
            if not account:
                vals = {"name": name, "provider": provider, "environment": "sandbox", "company_id": company.id,
                        "base_url": f"http://127.0.0.1:9/{provider}", "default_country_id": env.ref("base.cm").id}
                if provider == "wap":
                    vals.update(wap_api_key="k", wap_api_secret="c2VjcmV0")
                else:
                    vals.update(chinqit_api_key="k", default_country_id=env.ref("base.mr").id)
                account = Account.create(vals)
            accounts.append(account)
        Rule = env["notify.rule"].with_context(active_test=False)
        rules = Rule.search([("name", "=like", f"{RULE_PREFIX}%")])
        model = env.ref("base.model_res_partner")
        for index in range(len(rules), RULES):
            account = accounts[index % len(accounts)]
            vals = {"name": f"{RULE_PREFIX} {index + 1:02d}", "model_id": model.id, "trigger": "on_create",
                    "filter_domain": "[('ref', '=', 'nr-scale-never')]", "provider_account_id": account.id,
                    "company_id": account.company_id.id, "recipient_path": "mobile", "active": False}
            if account.provider == "wap":
                vals.update(channel="whatsapp", template_ref=f"tpl-scale-{index}",
                            variable_ids=[(0, 0, {"name": "customer_name", "field_path": "name"})])
            else:
                vals.update(channel="sms", action="send_sms", sms_body="Bonjour {{ object.name }}")
            Rule.create(vals)
        rules = Rule.search([("name", "=like", f"{RULE_PREFIX}%")], order="id")
        cr.commit()
        return [(r.id, r.provider_account_id.id, r.company_id.id, r.provider_account_id.provider, r.channel)
                for r in rules]


def generate(args, registry):
    conn = psycopg2.connect(dbname=args.db)
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute("SELECT count(*) FROM notify_message")
    existing = cur.fetchone()[0]
    if existing >= args.rows * 0.99 and not args.regenerate:
        log(f"{existing} messages already there")
        return
    rules = fixtures(registry)
    log(f"generating {args.rows} messages ({existing} there before, deleted)")
    started = time.perf_counter()
    cur.execute("UPDATE notify_money_operation SET message_id = NULL")
    cur.execute("TRUNCATE notify_message CASCADE")
    cur.execute("SELECT count(*) FROM res_partner WHERE ref = 'nr-scale'")
    partners = cur.fetchone()[0]
    if partners < PARTNERS:
        cur.execute("""INSERT INTO res_partner (name, complete_name, active, type, is_company, autopost_bills, ref,
                                                mobile, lang, create_date, write_date, create_uid, write_uid)
                       SELECT 'Scale customer ' || i, 'Scale customer ' || i, true, 'contact', false, 'ask',
                              'nr-scale', '+2376' || lpad(i::text, 8, '0'), 'fr_FR', now(), now(), 1, 1
                         FROM generate_series(%s, %s) i""", [partners + 1, PARTNERS])
        cur.execute("UPDATE res_partner SET commercial_partner_id = id WHERE ref = 'nr-scale'")
    cur.execute("DROP TABLE IF EXISTS scale_rule; CREATE UNLOGGED TABLE scale_rule "
                "(idx int, rule_id int, account_id int, company_id int, provider varchar, channel varchar)")
    cur.executemany("INSERT INTO scale_rule VALUES (%s, %s, %s, %s, %s, %s)",
                    [(i, *rule) for i, rule in enumerate(rules)])
    cur.execute("DROP TABLE IF EXISTS scale_partner; CREATE UNLOGGED TABLE scale_partner AS "
                "SELECT (row_number() OVER (ORDER BY id))::int - 1 AS idx, id, name FROM res_partner "
                "WHERE ref = 'nr-scale'")
    cur.execute("SELECT 1 FROM information_schema.columns WHERE table_name = 'notify_message' "
                "AND column_name = 'partner_id'")
    has_partner = bool(cur.fetchone())
    cur.execute("SELECT setseed(0.42)")
    n = args.rows
    tail = 3000  # the newest rows: the live part of the queue
    chunk = 100_000
    for start in range(1, n + 1, chunk):
        end = min(start + chunk - 1, n)
        cur.execute(f"""
            INSERT INTO notify_message (provider_account_id, company_id, provider, channel, rule_id,
                recipient_e164, recipient_provider, template_ref, payload, body, res_model, res_id, res_name,
                state, provider_ref, provider_status, attempts, next_attempt_at, sending_since, last_attempt_at,
                sent_at, last_polled_at, status_check_failures, idempotency_key, to_render, last_error,
                create_uid, write_uid, create_date, write_date{', partner_id' if has_partner else ''})
            SELECT r.account_id, r.company_id, r.provider, r.channel, CASE WHEN g.x < 0.05 THEN NULL ELSE r.rule_id END,
                   '+2376' || lpad(p.id::text, 8, '0'), '2376' || lpad(p.id::text, 8, '0'),
                   CASE WHEN r.channel = 'whatsapp' THEN 'tpl-scale-' || r.idx END,
                   CASE WHEN r.channel = 'whatsapp' THEN jsonb_build_object('customer_name', p.name) END,
                   CASE WHEN r.channel = 'sms' THEN 'Bonjour ' || p.name END,
                   'res.partner', p.id, p.name,
                   g.state,
                   CASE WHEN g.state IN ('sent', 'delivered', 'read') THEN 'ref-' || g.i END,
                   CASE WHEN g.state IN ('sent', 'delivered', 'read') THEN upper(g.state) END,
                   CASE WHEN g.state = 'failed' THEN 3 WHEN g.state = 'queued' THEN 0 ELSE 1 END,
                   CASE WHEN g.state = 'queued' AND g.i %% 2 = 0 THEN now() AT TIME ZONE 'UTC' + interval '10 minutes'
                        ELSE g.created END,
                   CASE WHEN g.state = 'sending' THEN
                        now() AT TIME ZONE 'UTC' - (g.i %% 20) * interval '1 minute' END,
                   CASE WHEN g.state <> 'queued' THEN g.created END,
                   CASE WHEN g.state IN ('sent', 'delivered', 'read') THEN g.created + interval '2 seconds' END,
                   CASE WHEN g.state IN ('sent', 'delivered', 'read') AND r.provider = 'wap'
                        THEN g.created + interval '1 minute' * (1 + g.i %% 60) END,
                   0, md5('nr-scale-' || g.i), g.state = 'queued' AND g.i %% 5 = 0,
                   CASE WHEN g.state IN ('failed', 'unknown') THEN 'Scale: generated failure' END,
                   2, 2, g.created, g.created{', p.id' if has_partner else ''}
              FROM (SELECT i, x, created,
                           CASE WHEN i > {n - tail} THEN (CASE WHEN i %% 10 = 0 THEN 'sending' ELSE 'queued' END)
                                WHEN x < 0.30 THEN 'sent' WHEN x < 0.65 THEN 'delivered' WHEN x < 0.85 THEN 'read'
                                WHEN x < 0.96 THEN 'failed' WHEN x < 0.995 THEN 'cancelled' ELSE 'unknown' END AS state,
                           (i::bigint * 7919) %% {RULES} AS rule_idx, (i::bigint * 104729) %% {PARTNERS} AS partner_idx
                      FROM (SELECT i, random() AS x,
                                   now() AT TIME ZONE 'UTC' - interval '730 days' * (1 - i::float / {n})
                                   + random() * interval '1 minute' AS created
                              FROM generate_series(%s, %s) i) s) g
              JOIN scale_rule r ON r.idx = g.rule_idx %% (SELECT count(*) FROM scale_rule)
              JOIN scale_partner p ON p.idx = g.partner_idx""", [start, end])
        log(f"  {end} rows")
    cur.execute("ANALYZE notify_message")
    cur.execute("ANALYZE res_partner")
    conn.close()
    log(f"generated in {time.perf_counter() - started:.0f} s")


# ---- explain ------------------------------------------------------------------------------------------------

def explain(cur, sql, params):
    cur.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
    return "\n".join(row[0] for row in cur.fetchall())


def plan_summary(plan):
    indexes = sorted(set(re.findall(r"Index (?:Only )?Scan (?:Backward )?using (\w+) on \w+", plan))
                     | set(re.findall(r"Bitmap Index Scan on (\w+)", plan)))
    seq = sorted(set(re.findall(r"Seq Scan on (\w+)", plan)))
    return (", ".join(indexes) or "-"), (", ".join(seq) or "-")


class Recorder:
    """The SQL an ORM call runs (the cursor's execute, wrapped), to explain what touches notify_message."""

    def __init__(self, cr):
        self.cr, self.queries, self._execute = cr, [], cr.execute

    def __enter__(self):
        def execute(query, params=None, log_exceptions=True):
            self.queries.append((query, params))
            return self._execute(query, params, log_exceptions)
        self.cr.execute = execute
        return self

    def __exit__(self, *exc):
        self.cr.execute = self._execute


def timed(function, repeats=REPEATS):
    times = []
    for _i in range(repeats):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def measure(args, registry):
    """[(name, median ms, indexes, sequential scans, plan)]"""
    rows = []
    with registry.cursor() as cr:
        env = api.Environment(cr, SUPERUSER_ID, {})
        cr.execute("SET TRANSACTION ISOLATION LEVEL READ COMMITTED")
        cr.execute("SELECT now() AT TIME ZONE 'UTC'")
        now = cr.fetchone()[0]
        cr.execute("""SELECT provider_account_id FROM notify_message WHERE state = 'queued'
                      GROUP BY 1 ORDER BY count(*) DESC LIMIT 1""")
        account = cr.fetchone()[0]
        cr.execute("SELECT id FROM notify_provider_account WHERE provider = 'wap' AND name LIKE 'Scale WAP%' LIMIT 1")
        wap_account = cr.fetchone()[0]
        params = {"now": now, "account": account, "limit": CLAIM_LIMIT}

        def sql_case(name, sql, case_params, rollback=True):
            cr.execute("SAVEPOINT bench")
            plan = explain(cr, sql, case_params)
            cr.execute("ROLLBACK TO SAVEPOINT bench")

            def run():
                cr.execute("SAVEPOINT bench")
                cr.execute(sql, case_params)
                cr.fetchall()
                cr.execute("ROLLBACK TO SAVEPOINT bench")
            rows.append((name, timed(run) * 1000, *plan_summary(plan), plan))

        sql_case("dispatcher claim (_claim_batch)", claim_sql(), params)
        sql_case("render pick (_render_pending)", RENDER_SQL, params)
        sql_case("urgent pick (_dispatch_urgent)", URGENT_SQL, params)
        sql_case("poller: queued count (_claim_polls)", POLL_COUNT_SQL, dict(params, account=wap_account))
        sql_case("poller claim (_claim_polls)", POLL_SQL, dict(params, account=wap_account))
        sql_case("stuck recovery (_recover_stuck_messages)", STUCK_SQL, params)
        cr.execute("SELECT id FROM res_company WHERE id = (SELECT company_id FROM notify_provider_account "
                   "WHERE id = %s)", [account])
        company = env["res.company"].browse(cr.fetchone()[0])
        cr.execute("SELECT create_date FROM notify_message WHERE state IN %s ORDER BY create_date "
                   "OFFSET %s LIMIT 1", [FINAL_STATES, min(args.purge_rows, args.rows // 2)])
        cutoff = cr.fetchone()[0]
        purge_select = """
            SELECT m.id FROM notify_message m
             WHERE m.company_id = %(company)s AND m.state IN %(final)s AND m.create_date < %(cutoff)s
               AND m.money_operation_id IS NULL
               AND NOT EXISTS (SELECT 1 FROM notify_money_operation o WHERE o.message_id = m.id)
               AND NOT EXISTS (SELECT 1 FROM notify_message f
                                WHERE f.fallback_of_id = m.id AND f.state IN ('queued', 'sending', 'unknown'))
             LIMIT 5000 FOR UPDATE OF m SKIP LOCKED"""
        sql_case("retention batch pick (_purge_batch)", purge_select,
                 {"company": company.id, "final": FINAL_STATES, "cutoff": cutoff})

        # The ORM as the web client calls it, as the administrator (record rules and the content mask apply).
        admin = env.ref("base.user_admin")
        admin.write({"company_ids": [(4, company.id) for company in env["res.company"].search([])]})
        user_env = api.Environment(cr, admin.id, {"lang": "en_US", "allowed_company_ids": admin.company_ids.ids})
        Message = user_env["notify.message"]
        spec = {name: {} for name in ("create_date", "res_name", "recipient_e164", "template_ref", "state",
                                      "attempts", "cost", "last_error", "company_id")}
        spec.update({name: {"fields": {"display_name": {}}} for name in ("rule_id", "provider_account_id",
                                                                          "currency_id")})
        cr.execute("SELECT rule_id FROM notify_message WHERE rule_id IS NOT NULL GROUP BY 1 ORDER BY count(*) "
                   "DESC LIMIT 1")
        rule_id = cr.fetchone()[0]
        cr.execute("SELECT res_id FROM notify_message WHERE res_model = 'res.partner' LIMIT 1")
        partner_id = cr.fetchone()[0]
        partner_field = "partner_id" if "partner_id" in Message._fields else None
        cases = [("list: all (default order, 80)", []),
                 ("list: state = failed", [("state", "=", "failed")]),
                 ("list: state = queued", [("state", "=", "queued")]),
                 ("list: rule", [("rule_id", "=", rule_id)])]
        if partner_field:
            cases.append(("list: partner (partner_id)", [("partner_id", "=", partner_id)]))
        cases.append(("list: document (res_model, res_id)",
                      [("res_model", "=", "res.partner"), ("res_id", "=", partner_id)]))

        def orm_case(name, call):
            user_env.invalidate_all()
            with Recorder(cr) as recorder:
                call()
            plans = []
            for query, query_params in recorder.queries:
                text = query.code if hasattr(query, "code") else str(query)
                query_params = query.params if hasattr(query, "params") else query_params
                if "notify_message" in text and text.lstrip().upper().startswith("SELECT"):
                    plans.append(explain(cr, text, query_params))
            plan = "\n---\n".join(plans)

            def run():
                user_env.invalidate_all()
                call()
            rows.append((name, timed(run) * 1000, *plan_summary(plan), plan))

        for name, domain in cases:
            orm_case(name, lambda domain=domain: Message.web_search_read(
                domain, spec, limit=80, order=None, count_limit=10001))
        rule = user_env["notify.rule"].with_context(active_test=False).browse(rule_id)
        orm_case("rule form counters (_compute_counters)",
                 lambda: rule.read(["notify_message_count", "sent_count", "failed_count", "last_run"]))
        cr.rollback()
    return rows


def report_measures(rows):
    lines = ["| query | median ms | indexes used | sequential scans |", "|---|---:|---|---|"]
    lines += [f"| {name} | {ms:.2f} | {indexes} | {seq} |" for name, ms, indexes, seq, _plan in rows]
    plans = [f"### {name}\n```\n{plan}\n```" for name, _ms, _i, _s, plan in rows]
    return "\n".join(lines), "\n\n".join(plans)


# ---- claims during a purge ----------------------------------------------------------------------------------

def claim_loop(db, account, stop_at, results, stop_flag):
    """The dispatcher's claim, as _claim_batch runs it (account lock, claim), rolled back: the queue stays."""
    conn = psycopg2.connect(dbname=db)
    cur = conn.cursor()
    claim = claim_sql()
    while time.time() < stop_at and not stop_flag.is_set():
        started = time.perf_counter()
        cur.execute("BEGIN ISOLATION LEVEL READ COMMITTED")
        cur.execute("SELECT now() AT TIME ZONE 'UTC'")
        now = cur.fetchone()[0]
        cur.execute(LOCK_ACCOUNT_SQL, {"account": account})
        cur.execute(claim, {"now": now, "account": account, "limit": CLAIM_LIMIT})
        claimed = len(cur.fetchall())
        conn.rollback()
        results.append((time.time(), time.perf_counter() - started, claimed))
        time.sleep(0.01)
    conn.close()


def lock_watch(db, stop_flag, waits):
    """Samples pg_stat_activity: the longest time any backend of this database was seen waiting on a lock."""
    conn = psycopg2.connect(dbname=db)
    conn.autocommit = True
    cur = conn.cursor()
    while not stop_flag.is_set():
        cur.execute("""SELECT left(query, 60), extract(epoch FROM now() - query_start) FROM pg_stat_activity
                        WHERE datname = current_database() AND wait_event_type = 'Lock'""")
        for query, seconds in cur.fetchall():
            waits.append((float(seconds), query))
        time.sleep(0.02)
    conn.close()


def purge_process(db, config, batch_size, queue):
    odoo.tools.config.parse_config(["-c", config, "-d", db, "--log-level=warn"])
    registry = Registry(db)
    started = time.perf_counter()
    with registry.cursor() as cr:
        env = api.Environment(cr, SUPERUSER_ID, {})
        deleted = env["notify.message"]._cron_purge_old_messages(batch_size=batch_size, time_budget=3600)
        cr.commit()
    queue.put((deleted, time.perf_counter() - started))


def measure_purge(args):
    conn = psycopg2.connect(dbname=args.db)
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute("""SELECT provider_account_id, company_id FROM notify_message WHERE state = 'queued'
                    GROUP BY 1, 2 ORDER BY count(*) DESC LIMIT 1""")
    account, company = cur.fetchone()
    cur.execute("SELECT count(*) FROM notify_message WHERE company_id = %s AND state IN %s",
                [company, FINAL_STATES])
    final_count = cur.fetchone()[0]
    target = min(args.purge_rows, final_count)
    cur.execute("""SELECT ceil(extract(epoch FROM now() AT TIME ZONE 'UTC' - create_date) / 86400)::int
                     FROM notify_message WHERE company_id = %s AND state IN %s
                    ORDER BY create_date OFFSET %s LIMIT 1""", [company, FINAL_STATES, target])
    days = cur.fetchone()[0]
    cur.execute("UPDATE res_company SET notify_message_retention_days = 0")
    cur.execute("UPDATE res_company SET notify_message_retention_days = %s WHERE id = %s", [days, company])
    cur.execute("""SELECT count(*) FROM notify_message WHERE company_id = %s AND state IN %s
                    AND create_date < now() AT TIME ZONE 'UTC' - %s * interval '1 day'""",
                [company, FINAL_STATES, days])
    eligible = cur.fetchone()[0]
    log(f"purge: company {company}, window {days} days, {eligible} messages eligible; claims on account {account}")

    stop = threading.Event()
    before = []
    log(f"claims alone for {args.baseline_seconds:.0f} s")
    claim_loop(args.db, account, time.time() + args.baseline_seconds, before, stop)
    during, waits = [], []
    watcher = threading.Thread(target=lock_watch, args=(args.db, stop, waits))
    claimer = threading.Thread(target=claim_loop, args=(args.db, account, time.time() + 3600, during, stop))
    queue = multiprocessing.get_context("spawn").Queue()
    purger = multiprocessing.get_context("spawn").Process(
        target=purge_process, args=(args.db, args.config, args.batch_size, queue))
    watcher.start()
    claimer.start()
    time.sleep(1)
    log("purge started, claims go on")
    purge_started = time.time()
    purger.start()
    deleted, seconds = queue.get()
    purger.join()
    purge_ended = time.time()
    stop.set()
    claimer.join()
    watcher.join()
    cur.execute("UPDATE res_company SET notify_message_retention_days = 365")
    started = time.perf_counter()
    cur.execute("VACUUM ANALYZE notify_message")
    vacuum = time.perf_counter() - started
    conn.close()
    during = [r for r in during if purge_started <= r[0] <= purge_ended]

    def line(name, samples):
        latencies = [s[1] for s in samples]
        return (f"| {name} | {len(latencies)} | {statistics.median(latencies) * 1000:.2f} | "
                f"{percentile(latencies, 0.99) * 1000:.2f} | {max(latencies) * 1000:.2f} | "
                f"{min(s[2] for s in samples)}-{max(s[2] for s in samples)} |")

    longest = max(waits, default=(0.0, "-"))
    return "\n".join([
        f"Purge: {deleted} messages deleted in {seconds:.1f} s ({deleted / seconds:.0f}/s), batches of "
        f"{args.batch_size}; then VACUUM ANALYZE {vacuum:.1f} s.",
        "",
        "| dispatcher claim (lock account + claim 20, rolled back) | claims | p50 ms | p99 ms | max ms | claimed |",
        "|---|---:|---:|---:|---:|---|",
        line("before the purge", before),
        line("during the purge", during),
        "",
        f"Longest lock wait seen (pg_stat_activity sampled every 20 ms, any backend of {args.db}): "
        f"{longest[0] * 1000:.0f} ms ({longest[1]!r}); samples waiting: {len(waits)}.",
    ])


# ---- main ---------------------------------------------------------------------------------------------------

def machine():
    cores = os.cpu_count()
    pg = psql("postgres", "SHOW server_version")
    return f"{platform.platform()}, {cores} cores, Python {platform.python_version()}, PostgreSQL {pg}"


def main():
    args = parse_args()
    ensure_database(args)
    odoo.tools.config.parse_config(["-c", args.config, "-d", args.db, "--log-level=warn"])
    registry = Registry(args.db)
    generate(args, registry)
    counts = json.loads(psql(args.db, "SELECT json_object_agg(state, n) FROM (SELECT state, count(*) n "
                                      "FROM notify_message GROUP BY state) s") or "{}")
    sizes = psql(args.db, "SELECT pg_size_pretty(pg_table_size('notify_message')) || ' table, ' || "
                          "pg_size_pretty(pg_indexes_size('notify_message')) || ' indexes'")
    indexes = psql(args.db, "SELECT string_agg(indexname || ' (' || pg_size_pretty(pg_relation_size("
                            "indexname::regclass)) || ')', ', ' ORDER BY indexname) FROM pg_indexes "
                            "WHERE tablename = 'notify_message'")
    log("measuring the queries")
    table, plans = report_measures(measure(args, registry))
    text = "\n".join([
        f"# Scale bench {time.strftime('%Y-%m-%d %H:%M')} {args.label}".rstrip(),
        "", f"Machine: {machine()}", f"Database {args.db}: {sum(counts.values())} messages {counts}; {sizes}",
        f"Indexes: {indexes}", "", table, ""])
    print(text)
    if args.purge:
        purge_text = measure_purge(args)
        print(purge_text)
        text += "\n" + purge_text + "\n"
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    name = f"scale{'_' + args.label if args.label else ''}"
    path = os.path.join(HERE, "results", f"{name}.txt")
    with open(path, "w") as handle:
        handle.write(text + "\n## Plans\n\n" + plans + "\n")
    log(f"written {path}")


if __name__ == "__main__":
    main()
