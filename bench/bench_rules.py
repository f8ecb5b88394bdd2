#!/usr/bin/env python3
"""Posting cost of notify rules next to Odoo's own automation rules, measured in the same run.

Run through ``make bench`` (scripts/bench.sh), which creates/reuses the database ``nr_bench``::

    bash scripts/bench.sh [--invoices 500] [--repeat 3] [--rules 5] [--block 50] [--full] [--profile notify_5]

For every scenario (baseline; odoo_noop, odoo_write and notify_R with R = --rules Odoo automations or notify
rules on account.move) it times posting N draft single-line customer invoices, (a) one transaction per invoice
and (b) all N in ONE transaction, interleaving the scenarios within each repeat and reporting medians and
ratios paired with the same repeat's baseline. Only ``action_post`` and the commit are timed (the commit runs
our pre-commit hook, which creates the outbox rows). See bench/README.md.
"""
# A standalone script, not addon code: committing transactions and printing the table are its job.
# pylint: disable=invalid-commit,print-used

import argparse
import cProfile
import datetime
import gc
import io
import itertools
import os
import platform
import pstats
import re
import statistics
import subprocess
import sys
import time

from bench_db import bench_lock as shared_bench_lock

import odoo
from odoo import SUPERUSER_ID, api
from odoo.modules.registry import Registry

COMPANY_NAME = "NR Bench Company"
PARTNER_REF = "nr-bench-customer"
ACCOUNT_NAME = "NR Bench WAP"
AUTOMATION_PREFIX = "NR bench"
MOBILE = "+237690000001"
N_RULES = 5  # default of --rules: the bench measured 5 until issue 11 asked for 20
ONCE_BY_DEFAULT = ("odoo_write",)  # measured in the first repeat only unless --full (see run())
# odoo_write in one transaction posts at most this many invoices when --rules > N_RULES (--odoo-write-cap): with
# 20 "Update record" automations its posting is quadratic in the transaction's length (measured 2026-12-02:
# 70 s for 50 invoices, 19 s for the first 25), which would be hours at N=1000
ODOO_WRITE_CAP = 50
PER_TX, ONE_TX = "per-transaction", "one-transaction"
TARGET = 1.10
LOCK_KEY = 0x6E725F62656E6368  # "nr_bench"
HERE = os.path.dirname(os.path.abspath(__file__))
# (messages made, seconds) of each untimed run of the dispatcher's first step (see outbox_rows)
QUEUING = []

# filter_domain of the first 5 notify rules, as measured before --rules existed (so notify_5 is unchanged)
NOTIFY_DOMAINS = [
    '[("move_type", "=", "out_invoice")]',
    '[("amount_total", ">", 0)]',
    '[("partner_id.mobile", "!=", False)]',
    '[("move_type", "=", "out_invoice"), ("amount_total", ">", 0)]',
    '[("move_type", "=", "out_invoice")]',
]
# Terms every bench invoice satisfies when it is posted; rules 6 and up filter on distinct combinations of them
# (one term, then two, then three), so that each rule is a different filter the engine evaluates on its own.
MATCHING_TERMS = (
    '("move_type", "=", "out_invoice")',
    '("amount_total", ">", 0)',
    '("partner_id.mobile", "!=", False)',
    '("journal_id.type", "=", "sale")',
    '("currency_id.name", "=", "USD")',
    '("invoice_date", "!=", False)',
    '("partner_id.country_id.code", "=", "CM")',
    '("amount_untaxed", ">=", 100)',
)
# With --matching M < R, rules M+1..R get one of these terms too: they are evaluated on every post and never fire.
FAILING_TERMS = (
    '("move_type", "=", "out_refund")',
    '("amount_total", ">", 1000000)',
    '("partner_id.country_id.code", "=", "SN")',
)
NOTIFY_VARIABLES = [("customer", "partner_id.name"), ("invoice", "name"), ("amount", "amount_residual")]
# rules 6 and up take 2 or 3 of these (NOTIFY_VARIABLES first, as the first 5)
MORE_VARIABLES = [("due", "invoice_date_due"), ("total", "amount_total"), ("date", "invoice_date"),
                  ("mobile", "partner_id.mobile")]


def scenarios_for(rules):
    """The scenarios of a run with ``rules`` notify rules (and as many Odoo automations for odoo_*)."""
    return ("baseline", "odoo_noop", "odoo_write", f"notify_{rules}")


def is_notify(scenario):
    return scenario.startswith("notify_")


def notify_domains(rules, matching):
    """``rules`` distinct filters (the first 5 as before --rules), the first ``matching`` of which match every
    bench invoice."""
    domains = list(NOTIFY_DOMAINS)
    taken = {frozenset(re.findall(r"\([^()]*\)", domain)) for domain in domains}
    for size in (1, 2, 3):
        for terms in itertools.combinations(MATCHING_TERMS, size):
            if frozenset(terms) not in taken:
                taken.add(frozenset(terms))
                domains.append(f"[{', '.join(terms)}]")
    if rules > len(domains):
        raise ValueError(f"--rules is at most {len(domains)}")
    domains = domains[:rules]
    for index in range(matching, rules):
        domains[index] = f"[{FAILING_TERMS[index % len(FAILING_TERMS)]}, {domains[index][1:]}"
    return domains


def notify_variables(index):
    """2 or 3 variables for rule ``index`` (0-based): the first 5 as before --rules, then other fields."""
    count = 3 if index % 2 == 0 else 2
    if index < len(NOTIFY_DOMAINS):
        return NOTIFY_VARIABLES[:count]
    pool = NOTIFY_VARIABLES + MORE_VARIABLES
    start = index % len(pool)
    return [pool[(start + k) % len(pool)] for k in range(count)]


def log(message):
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ---- registry changes --------------------------------------------------------------------------------
#
# base.automation's create/write(active)/unlink call ``_update_registry()``, which immediately runs
# ``_unregister_hook()`` + ``_register_hook()`` on THIS process's registry (re-reading the automations
# through the same cursor), then sets ``registry.registry_invalidated`` so that, at the end of a request,
# ``Registry.manage_changes()`` calls ``signal_changes()`` (bumps ``base_registry_signaling`` for other
# workers) or, if the transaction failed, ``reset_changes()`` (rebuilds the models from the database, so
# the patches of a rolled-back change disappear). So in a single script process the patched
# create/write/_compute_field_value of account.move are already current once the toggle commits; we only
# have to do what the HTTP/cron layer does: wrap each toggle in ``registry.manage_changes()``. No registry
# reload or subprocess is needed. ``check_patches`` verifies the outcome before each measurement.

def toggle(registry, func):
    with registry.manage_changes(), registry.cursor() as cr:
        env = api.Environment(cr, SUPERUSER_ID, {})
        func(env)
        cr.commit()


def check_patches(registry, expect_patched):
    if Registry(registry.db_name) is not registry:
        raise RuntimeError("the registry was reloaded behind the bench's back (module installed?)")
    move_class = registry["account.move"]
    patched = sorted(name for name in ("create", "write", "_compute_field_value")
                     if hasattr(vars(move_class).get(name), "origin"))
    if bool(patched) != expect_patched:
        raise RuntimeError(f"account.move patches are {patched or 'absent'}, expected "
                           f"{'present' if expect_patched else 'absent'}: the registry is out of date")
    return patched


# ---- fixtures (created once, reused across runs) ------------------------------------------------------

def prepare(registry, rules):
    """Company with the generic chart, partner, WAP sandbox account, ``rules`` archived Odoo automations of each
    kind (numbered #1..#R; more may exist from a run with a larger --rules: they stay archived)."""
    with registry.manage_changes(), registry.cursor() as cr:
        env = api.Environment(cr, SUPERUSER_ID, {})
        cm = env.ref("base.cm")
        company = env["res.company"].search([("name", "=", COMPANY_NAME)], limit=1)
        if not company:
            # no country on the company: a country would make `account` install its localisation module
            # (and its chart) instead of the generic chart we want; the phone numbers are E.164 anyway.
            log(f"creating company {COMPANY_NAME!r} with the generic chart of accounts")
            company = env["res.company"].create({"name": COMPANY_NAME, "currency_id": env.ref("base.USD").id})
        if company.chart_template != "generic_coa":
            if company.chart_template:
                raise RuntimeError(f"{COMPANY_NAME} has the chart {company.chart_template!r}, not generic_coa")
            env["account.chart.template"].try_loading("generic_coa", company, install_demo=False)
        admin = env.ref("base.user_admin")
        if company not in admin.company_ids:
            admin.write({"company_ids": [(4, company.id)]})
        partner = env["res.partner"].search([("ref", "=", PARTNER_REF)], limit=1)
        if not partner:
            partner = env["res.partner"].create(
                {"name": "Bench Customer", "ref": PARTNER_REF, "mobile": MOBILE, "country_id": cm.id}
            )
        account = env["notify.provider.account"].search(
            [("name", "=", ACCOUNT_NAME), ("company_id", "=", company.id)], limit=1
        )
        if not account:
            account = env["notify.provider.account"].create(
                {
                    "name": ACCOUNT_NAME,
                    "provider": "wap",
                    "environment": "sandbox",
                    "base_url": "http://127.0.0.1:9/wap",
                    "wap_api_key": "k",
                    "wap_api_secret": "c2VjcmV0",
                    "company_id": company.id,
                    "default_country_id": cm.id,
                }
            )
        move_model = env.ref("account.model_account_move")
        state_field = env.ref("account.field_account_move__state")
        posted = env["ir.model.fields.selection"].search(
            [("field_id", "=", state_field.id), ("value", "=", "posted")], limit=1
        )
        Automation = env["base.automation"].with_context(active_test=False)
        automations = {}
        for kind in ("odoo_noop", "odoo_write"):
            found = Automation.search([("name", "=like", f"{AUTOMATION_PREFIX} {kind} #%")])
            numbered = {}
            for automation in found:
                number = automation.name.rsplit("#", 1)[1]
                if not number.isdigit() or int(number) in numbered:
                    raise RuntimeError(f"unexpected bench automation {automation.name!r}: delete it")
                numbered[int(number)] = automation
            missing = [i for i in range(1, rules + 1) if i not in numbered]
            if missing:
                if kind == "odoo_noop":
                    action = {"state": "code", "code": "pass"}
                else:  # "Update record": write one harmless stored char field
                    action = {"state": "object_write", "update_path": "ref", "evaluation_type": "value",
                              "value": "nr-bench"}
                created = Automation.create([
                    {
                        "name": f"{AUTOMATION_PREFIX} {kind} #{i}",
                        "model_id": move_model.id,
                        "trigger": "on_state_set",
                        "trg_selection_field_id": posted.id,
                        "active": False,
                        "action_server_ids": [(0, 0, dict(action, name=f"{AUTOMATION_PREFIX} {kind} action #{i}",
                                                          model_id=move_model.id))],
                    }
                    for i in missing
                ])
                numbered.update(zip(missing, created, strict=True))
            found = Automation.browse([numbered[i].id for i in range(1, rules + 1)])
            for automation in found:
                assert automation.trigger == "on_state_set", automation.trigger
                assert automation.filter_domain == "[('state', '=', 'posted')]", automation.filter_domain
                assert automation.trigger_field_ids == state_field, automation.trigger_field_ids
                assert len(automation.action_server_ids) == 1
            automations[kind] = found.ids
        foreign = env["base.automation"].search(
            [("model_id", "=", move_model.id), ("name", "not like", f"{AUTOMATION_PREFIX} %")]
        )
        if foreign:
            raise RuntimeError(f"other active automations on account.move would skew the bench: "
                               f"{foreign.mapped('name')}")
        cr.commit()
        return {
            "company_id": company.id,
            "partner_id": partner.id,
            "account_id": account.id,
            "move_model_id": move_model.id,
            "state_field_id": state_field.id,
            "posted_value_id": posted.id,
            "automations": automations,
            "uid": admin.id,
            "context": {"allowed_company_ids": [company.id], "lang": "en_US", "tz": "UTC"},
        }


def cleanup_leftovers(registry, fx):
    """A previous run may have died half-way: archive our automations, unlink our notify rules."""
    def do(env):
        ours = env["base.automation"].search([("name", "=like", f"{AUTOMATION_PREFIX} odoo_%")])
        ours.write({"active": False})
        rules = env["notify.rule"].with_context(active_test=False).search([("model_id", "=", fx["move_model_id"])])
        rules.unlink()
        purge_outbox(env, fx)
    toggle(registry, do)


def purge_outbox(env, fx):
    """Remove what the bench queued, so no dispatcher would ever try to send it."""
    env.cr.execute("DELETE FROM notify_intent")  # the bench database's: no dispatcher runs there
    env.cr.execute("DELETE FROM notify_message WHERE provider_account_id = %s", [fx["account_id"]])
    cron = env.ref("notify_rules.ir_cron_notify_dispatch")
    env.cr.execute("DELETE FROM ir_cron_trigger WHERE cron_id = %s", [cron.id])


# ---- scenarios ----------------------------------------------------------------------------------------

def enable(registry, fx, scenario):
    if scenario in ("odoo_noop", "odoo_write"):
        toggle(registry, lambda env: env["base.automation"].browse(fx["automations"][scenario]).write({"active": True}))
    elif is_notify(scenario):
        def create_rules(env):
            env = env(context=fx["context"])
            env["notify.rule"].create([
                {
                    "name": f"{AUTOMATION_PREFIX} notify #{i + 1}",
                    "model_id": fx["move_model_id"],
                    "company_id": fx["company_id"],
                    "trigger": "on_state_set",
                    "state_field_id": fx["state_field_id"],
                    "state_value_id": fx["posted_value_id"],
                    "filter_domain": domain,
                    "provider_account_id": fx["account_id"],
                    "channel": "whatsapp",
                    "template_ref": "tpl-invoice-posted",
                    "recipient_path": "partner_id.mobile",
                    "recipient_fallback_path": "partner_id.phone",
                    "variable_ids": [(0, 0, {"name": name, "field_path": path})
                                     for name, path in notify_variables(i)],
                }
                for i, domain in enumerate(fx["domains"])
            ])
            shared = env["base.automation"].search([("notify_shared", "=", True)])
            assert len(shared) == 1 and shared.model_id.id == fx["move_model_id"], shared
        toggle(registry, create_rules)
    check_patches(registry, expect_patched=scenario != "baseline")


def disable(registry, fx, scenario):
    if scenario in ("odoo_noop", "odoo_write"):
        automations = fx["automations"][scenario]
        toggle(registry, lambda env: env["base.automation"].browse(automations).write({"active": False}))
    elif is_notify(scenario):
        def unlink_rules(env):
            env["notify.rule"].with_context(active_test=False).search([("model_id", "=", fx["move_model_id"])]).unlink()
            assert not env["base.automation"].with_context(active_test=False).search([("notify_shared", "=", True)])
            purge_outbox(env, fx)
        toggle(registry, unlink_rules)
    check_patches(registry, expect_patched=False)


def create_drafts(registry, fx, count, chunk=200):
    """Create ``count`` draft single-line customer invoices (committed, untimed); return their ids.

    Created ``chunk`` at a time: one ``create`` of thousands of moves costs more per move than small ones.
    ``tracking_disable`` only spares the creation chatter; posting then tracks and subscribes as usual,
    identically in every scenario.
    """
    ids = []
    today = datetime.date.today()
    while len(ids) < count:
        with registry.cursor() as cr:  # commits on exit
            env = api.Environment(cr, fx["uid"], dict(fx["context"], tracking_disable=True))
            moves = env["account.move"].create([
                {
                    "move_type": "out_invoice",
                    "partner_id": fx["partner_id"],
                    "invoice_date": today,
                    "invoice_line_ids": [(0, 0, {"name": "Bench service", "quantity": 1, "price_unit": 100.0})],
                }
                for _ in range(min(chunk, count - len(ids)))
            ])
            ids.extend(moves.ids)
    return ids


def outbox_rows(registry, fx, after_id):
    """The messages queued since ``after_id``, by state, after the dispatcher's first step (untimed): the posting
    transactions only recorded intents (notify.intent)."""
    with registry.cursor() as cr:
        t0 = time.perf_counter()
        made = api.Environment(cr, SUPERUSER_ID, {})["notify.intent"]._queue_all()
        cr.commit()
        if made:
            QUEUING.append((made, time.perf_counter() - t0))
        cr.execute(
            "SELECT state, count(*) FROM notify_message WHERE provider_account_id = %s AND id > %s GROUP BY state",
            [fx["account_id"], after_id],
        )
        return dict(cr.fetchall())


def last_outbox_id(registry):
    """The last message's id, once the intents of earlier (untimed) posts are made into messages."""
    with registry.cursor() as cr:
        api.Environment(cr, SUPERUSER_ID, {})["notify.intent"]._queue_all()
        cr.execute("SELECT coalesce(max(id), 0) FROM notify_message")
        return cr.fetchone()[0]


def post_per_transaction(registry, fx, ids, profiler=None):
    """Each invoice in its own transaction, as N separate requests would: fresh cursor, env and cache."""
    elapsed = 0.0
    for move_id in ids:
        gc.collect(0)
        t0 = time.perf_counter()
        profiler and profiler.enable()
        with registry.cursor() as cr:  # commits (pre-commit hooks included) and closes on exit
            env = api.Environment(cr, fx["uid"], fx["context"])
            env["account.move"].browse(move_id).action_post()
        profiler and profiler.disable()
        elapsed += time.perf_counter() - t0
    return elapsed


def post_one_transaction(registry, fx, ids, profiler=None):
    """All invoices posted one by one inside ONE transaction (e.g. a script or an import), then commit.

    Returns (seconds including the commit, seconds to post the first half, seconds to post all before the
    commit): the two partial times give the linearity check without a second run at N/2.
    """
    half = len(ids) // 2
    with registry.cursor() as cr:
        env = api.Environment(cr, fx["uid"], fx["context"])
        moves = env["account.move"].browse(ids)
        gc.collect()
        t0 = time.perf_counter()
        profiler and profiler.enable()
        for index, move in enumerate(moves, 1):
            move.action_post()
            if index == half:
                t_half = time.perf_counter() - t0
        t_loop = time.perf_counter() - t0
        cr.commit()
        profiler and profiler.disable()
        return time.perf_counter() - t0, t_half, t_loop


def check_posted(registry, ids):
    with registry.cursor() as cr:
        cr.execute("SELECT count(*) FROM account_move WHERE id IN %s AND state = 'posted'", [tuple(ids)])
        posted = cr.fetchone()[0]
    if posted != len(ids):
        raise RuntimeError(f"only {posted} of {len(ids)} invoices are posted")


def count_outbox(registry, fx, scenario, mode, expected, before, outbox_counts):
    rows = outbox_rows(registry, fx, before)
    if is_notify(scenario):
        outbox_counts.setdefault(mode, []).append((expected, rows))
    elif rows:
        raise RuntimeError(f"{scenario} created notify messages: {rows}")


def measure_repeat(registry, fx, scenarios, args, results, linearity, outbox_counts):
    """One repeat: every scenario in both modes, on drafts created beforehand with no rule active.

    Per-transaction: the N invoices are posted in blocks of --block, the scenarios taking turns block by
    block (toggling costs ~0.05 s), so that a slow minute of the machine weighs on all scenarios alike;
    after each toggle one untimed invoice warms the caches the toggle cleared. One-transaction: N in one
    transaction per scenario, with the baseline run first AND last and its two times averaged: later runs
    post into tables that earlier runs grew, and bracketing cancels that drift instead of charging it to the
    scenarios that happen to run later.
    """
    n = args.invoices
    blocks = [(start, min(start + args.block, n)) for start in range(0, n, args.block)]
    one_tx = {scenario: one_tx_count(args, scenario) for scenario in scenarios}
    total = sum(n + one_tx[scenario] + len(blocks) for scenario in scenarios)
    log(f"creating {total} draft invoices")
    ids = create_drafts(registry, fx, total)
    drafts = {}
    for scenario in scenarios:
        mine, ids = ids[:n + one_tx[scenario] + len(blocks)], ids[n + one_tx[scenario] + len(blocks):]
        drafts[scenario] = {"per_tx": mine[:n], "one_tx": mine[n:n + one_tx[scenario]],
                            "warm": mine[n + one_tx[scenario]:]}
    closing_baseline = create_drafts(registry, fx, n) if "baseline" in scenarios else []

    elapsed = dict.fromkeys(scenarios, 0.0)
    made = {scenario: {} for scenario in scenarios}
    for number, (start, stop) in enumerate(blocks):
        for scenario in scenarios:
            enable(registry, fx, scenario)
            try:
                post_per_transaction(registry, fx, drafts[scenario]["warm"][number:number + 1])  # untimed
                before = last_outbox_id(registry)
                elapsed[scenario] += post_per_transaction(registry, fx, drafts[scenario]["per_tx"][start:stop])
                for state, count in outbox_rows(registry, fx, before).items():
                    made[scenario][state] = made[scenario].get(state, 0) + count
            finally:
                disable(registry, fx, scenario)
    for scenario in scenarios:
        check_posted(registry, drafts[scenario]["per_tx"])
        results.setdefault((PER_TX, scenario), []).append(elapsed[scenario])
        if is_notify(scenario):
            outbox_counts.setdefault(PER_TX, []).append((n, made[scenario]))
        elif made[scenario]:
            raise RuntimeError(f"{scenario} created notify messages: {made[scenario]}")
        log(f"  {scenario:<10} {PER_TX:<15} {n:>5} invoices {elapsed[scenario]:8.2f}s "
            f"({1000 * elapsed[scenario] / n:.1f} ms/invoice, {len(blocks)} blocks)")

    runs = [(scenario, drafts[scenario]["one_tx"]) for scenario in scenarios]
    if closing_baseline:
        runs.append(("baseline", closing_baseline))
    baseline_runs = []
    for scenario, ids in runs:
        enable(registry, fx, scenario)
        count = len(ids)
        try:
            before = last_outbox_id(registry)
            seconds, t_half, t_loop = post_one_transaction(registry, fx, ids)
            check_posted(registry, ids)
            count_outbox(registry, fx, scenario, ONE_TX, count, before, outbox_counts)
        finally:
            disable(registry, fx, scenario)
        log(f"  {scenario:<10} {ONE_TX:<15} {count:>5} invoices {seconds:8.2f}s "
            f"({1000 * seconds / count:.1f} ms/invoice, first half {t_half:.2f}s, commit {seconds - t_loop:.2f}s)")
        # per invoice: at N/2, at N, and their ratio
        per_invoice = (t_half / (count // 2), t_loop / count, (t_loop / count) / (t_half / (count // 2)))
        if count != n:  # capped (odoo_write, see ODOO_WRITE_CAP): its time per invoice, as if for N invoices
            seconds = seconds * n / count
        if scenario == "baseline":
            baseline_runs.append(seconds)
            if len(baseline_runs) == 1:
                linearity.setdefault(scenario, []).append(per_invoice)
            if len(baseline_runs) < len([run for run in runs if run[0] == "baseline"]):
                continue  # the closing run comes last
            seconds = statistics.mean(baseline_runs)
            log(f"  baseline   {ONE_TX:<15} first and last run averaged: {seconds:.2f}s")
        else:
            linearity.setdefault(scenario, []).append(per_invoice)
        results.setdefault((ONE_TX, scenario), []).append(seconds)


def one_tx_count(args, scenario):
    """Invoices posted in the one-transaction run of ``scenario``: N, or fewer for a capped odoo_write."""
    if scenario == "odoo_write" and args.odoo_write_cap:
        return min(args.invoices, args.odoo_write_cap)
    return args.invoices


# ---- reporting ----------------------------------------------------------------------------------------

def report(args, results, linearity, outbox_counts, started):
    lines = []
    out = lines.append
    n, half = args.invoices, args.invoices // 2
    scenarios = scenarios_for(args.rules)
    notify = scenarios[-1]
    out(f"notify_rules posting benchmark - {time.strftime('%Y-%m-%d %H:%M:%S')}")
    out(f"Odoo {odoo.release.version}, Python {platform.python_version()}, {os.cpu_count()} CPU, "
        f"database {args.db}, addon {git_describe()}")
    out(f"{n} single-line customer invoices per mode and sample, {args.repeat} repeat(s), median; "
        f"{args.rules} rules per scenario ({notify}: {args.matching} of them match every invoice); "
        "only action_post + commit are timed")
    out(f"per-transaction: one transaction per invoice, scenarios taking turns every {args.block} invoices; "
        "one-transaction: N invoices posted one by one in one transaction")
    if not args.full and args.repeat > 1:
        out(f"({', '.join(ONCE_BY_DEFAULT)}: measured in the first repeat only, see samples; --full repeats it)")
    capped = one_tx_count(args, "odoo_write")
    if capped < n:
        out(f"(odoo_write {ONE_TX}: {capped} invoices per sample (--odoo-write-cap), time scaled to N = {n} as if "
            "linear: it is not, so its ratio is a lower bound)")
    out("")
    out("ratio_vs_baseline: median over the repeats of scenario time / baseline time of the same repeat")
    out("")
    out(f"{'mode':<17}{'scenario':<12}{'median_s':>9}{'ms/invoice':>12}{'ratio_vs_baseline':>19}   samples_s")
    medians = {key: statistics.median(values) for key, values in results.items()}
    ratios = {}  # paired with the baseline of the same repeat: drift between repeats cancels out
    for (mode, scenario), values in results.items():
        base = results[(mode, "baseline")]
        ratios[(mode, scenario)] = [value / base[index] for index, value in enumerate(values)]
    for mode in (PER_TX, ONE_TX):
        for scenario in scenarios:
            median = medians[(mode, scenario)]
            ratio = statistics.median(ratios[(mode, scenario)])
            samples = " ".join(f"{v:.2f}" for v in results[(mode, scenario)])
            out(f"{mode:<17}{scenario:<12}{median:>9.2f}{1000 * median / n:>12.1f}{ratio:>18.2f}x   {samples}")
    out("")
    for mode in (PER_TX, ONE_TX):
        ratio = statistics.median(ratios[(mode, notify)])
        others = ", ".join(f"{scenario} {statistics.median(ratios[(mode, scenario)]):.2f}x"
                           for scenario in scenarios if scenario.startswith("odoo_"))
        out(f"{mode}: {notify} vs baseline: {ratio:.2f}x (target <= {TARGET:.2f}x)   [Odoo's rules: {others}]")
        base = results[(mode, "baseline")]
        paired = " ".join(f"{r:.2f}" for r in ratios[(mode, notify)])
        spread = (max(base) - min(base)) / statistics.median(base)
        out(f"    {notify}/baseline in each repeat: {paired}; baseline spread between repeats {100 * spread:.0f}%")
    out("")
    out(f"linearity in one transaction: per-invoice posting cost over all N={n} / over the first N/2={half}"
        " of the same transaction, commit excluded (~1.0 linear, >1.3 super-linear), median:")
    for scenario in scenarios:
        runs = linearity[scenario]
        part = statistics.median(at_half for at_half, _at_n, _ratio in runs)
        full = statistics.median(at_n for _at_half, at_n, _ratio in runs)
        ratio = statistics.median(r for _at_half, _at_n, r in runs)
        count = one_tx_count(args, scenario)
        at = "" if count == n else f" (N={count})"
        out(f"  {scenario:<10} {1000 * part:7.1f} ms/invoice at N/2, {1000 * full:7.1f} at N: {ratio:.2f}{at}")
    out("")
    if QUEUING:
        made, seconds = sum(m for m, _s in QUEUING), sum(s for _m, s in QUEUING)
        out(f"the dispatcher's first step, not in the times above: {made} messages made of the posting transactions' "
            f"intents in {seconds:.2f}s ({1000 * seconds / made * args.matching:.2f} ms per invoice's "
            f"{args.matching} messages, {len(QUEUING)} runs)")
        out("")
    out(f"{notify} outbox rows created per mode and sample (expected {args.matching} x N, all queued):")
    for mode, runs in outbox_counts.items():
        parts = []
        for count, rows in runs:
            total, expected = sum(rows.values()), args.matching * count
            states = ",".join(f"{k}={v}" for k, v in sorted(rows.items()))
            parts.append(f"{total}/{expected} ({states})" + ("" if total == expected else " MISMATCH"))
        out(f"  {mode:<16} " + "; ".join(parts))
    out("")
    out(f"total bench time {time.time() - started:.0f}s")
    return "\n".join(lines)


def git_describe():
    try:
        rev = subprocess.run(["git", "-C", os.path.dirname(HERE), "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", os.path.dirname(HERE), "status", "--porcelain", "--", ".",
                                ":!bench"], capture_output=True, text=True).stdout.strip()
        return rev + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def write_result(name, text):
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    path = os.path.join(HERE, "results", name)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text + "\n")
    return path


# ---- profiling ----------------------------------------------------------------------------------------

def profile(args, registry, fx):
    """cProfile one scenario in both modes (not a timing: the profiler itself slows everything)."""
    scenario, n = args.profile, args.invoices
    texts = []
    for mode, runner in ((PER_TX, post_per_transaction), (ONE_TX, post_one_transaction)):
        count = n if mode == PER_TX else one_tx_count(args, scenario)  # odoo_write's cap applies here too
        ids = create_drafts(registry, fx, count)
        enable(registry, fx, scenario)
        try:
            profiler = cProfile.Profile()
            seconds = runner(registry, fx, ids, profiler=profiler)
            seconds = seconds[0] if isinstance(seconds, tuple) else seconds
        finally:
            disable(registry, fx, scenario)
        for sort in ("cumulative", "tottime"):
            buffer = io.StringIO()
            stats = pstats.Stats(profiler, stream=buffer).strip_dirs().sort_stats(sort)
            stats.print_stats(args.profile_lines)
            texts.append(f"===== {scenario} {mode} {count} invoices, {seconds:.2f}s under the profiler, "
                         f"by {sort} =====\n" + buffer.getvalue())
        profiler.dump_stats(os.path.join(HERE, "results", f"profile_{scenario}_{mode}.pstats"))
    text = "\n".join(texts)
    print(text)
    log(f"written {write_result(f'profile_{scenario}.txt', text)} (and .pstats files next to it)")


def bench_lock(db):
    """Wait until no other bench runs on this database (they would toggle each other's rules)."""
    return shared_bench_lock(db, LOCK_KEY, log, what="bench")


# ---- main ---------------------------------------------------------------------------------------------

def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", required=True)
    parser.add_argument("--config", required=True)
    parser.add_argument("--invoices", type=int, default=500, help="invoices posted per mode (default 500)")
    parser.add_argument("--repeat", type=int, default=3, help="repeats; the median is reported (default 3)")
    parser.add_argument("--block", type=int, default=50,
                        help="per-transaction mode: scenarios take turns every BLOCK invoices (default 50)")
    parser.add_argument("--full", action="store_true",
                        help=f"measure {', '.join(ONCE_BY_DEFAULT)} in every repeat too (default: first repeat only)")
    parser.add_argument("--rules", type=int,
                        help=f"notify rules in notify_R, and Odoo automations in odoo_noop/odoo_write (default "
                             f"{N_RULES}, or R of --profile notify_R)")
    parser.add_argument("--matching", type=int,
                        help="how many of the notify rules match every invoice (default: all); the others are "
                             "evaluated on every post and never fire")
    parser.add_argument("--odoo-write-cap", type=int,
                        help=f"odoo_write's one-transaction run posts at most this many invoices (default "
                             f"{ODOO_WRITE_CAP} when --rules > {N_RULES}, none otherwise; 0: no cap)")
    parser.add_argument("--profile", metavar="SCENARIO",
                        help="cProfile this scenario (baseline, odoo_noop, odoo_write, notify_R) instead of "
                             "benchmarking")
    parser.add_argument("--profile-lines", type=int, default=40)
    args = parser.parse_args()
    if not args.db.startswith("nr_bench"):
        parser.error("the database name must start with nr_bench")
    if args.invoices < 2 or args.repeat < 1 or args.block < 1:
        parser.error("--invoices must be >= 2, --repeat and --block >= 1")
    profiled = re.fullmatch(r"notify_(\d+)", args.profile or "")
    if args.rules is None:
        args.rules = int(profiled.group(1)) if profiled else N_RULES
    if args.matching is None:
        args.matching = args.rules
    if args.odoo_write_cap is None:
        args.odoo_write_cap = ODOO_WRITE_CAP if args.rules > N_RULES else 0
    if args.odoo_write_cap and args.odoo_write_cap < 2:
        parser.error("--odoo-write-cap must be 0 (no cap) or >= 2")
    if args.rules < 1 or not 0 <= args.matching <= args.rules:
        parser.error("--rules must be >= 1 and --matching between 0 and --rules")
    try:
        notify_domains(args.rules, args.matching)
    except ValueError as error:
        parser.error(str(error))
    if args.profile and args.profile not in scenarios_for(args.rules):
        parser.error(f"--profile must be one of {', '.join(scenarios_for(args.rules))} (with --rules {args.rules})")

    odoo.tools.config.parse_config(["-c", args.config, "-d", args.db])
    lock_cr = bench_lock(args.db)
    try:
        run(args)
    finally:
        lock_cr.close()  # releases the advisory lock


def run(args):
    started = time.time()
    fx = prepare(Registry(args.db), args.rules)
    fx["domains"] = notify_domains(args.rules, args.matching)
    # preparing may install modules (chart of accounts), which replaces the registry: take the current one
    registry = Registry(args.db)
    cleanup_leftovers(registry, fx)
    check_patches(registry, expect_patched=False)
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)

    if args.profile:
        profile(args, registry, fx)
        return

    # warm-up (untimed): fill the ORM/registry caches and the Python code paths of every scenario
    log(f"warm-up ({args.rules} rules per scenario, {args.matching} notify rules matching)")
    for scenario in scenarios_for(args.rules):
        ids = create_drafts(registry, fx, 6)
        enable(registry, fx, scenario)
        try:
            post_per_transaction(registry, fx, ids[:3])
            post_one_transaction(registry, fx, ids[3:])
        finally:
            disable(registry, fx, scenario)

    # Scenarios are interleaved inside each repeat. odoo_write is measured in the first repeat only by
    # default: it is a reference, and its one-transaction posting is super-linear (~2 min at N=500 on 2
    # cores), so repeating it would take the default run far beyond 10 minutes.
    results, linearity, outbox_counts = {}, {}, {}
    for repeat in range(1, args.repeat + 1):
        scenarios = [s for s in scenarios_for(args.rules) if repeat == 1 or args.full or s not in ONCE_BY_DEFAULT]
        log(f"repeat {repeat}/{args.repeat}")
        measure_repeat(registry, fx, scenarios, args, results, linearity, outbox_counts)

    text = report(args, results, linearity, outbox_counts, started)
    print(text)
    log(f"written {write_result('latest.txt', text)}")


if __name__ == "__main__":
    main()
