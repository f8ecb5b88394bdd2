#!/usr/bin/env python3
"""What writing the intents costs a business transaction, path by path (the numbers behind the comment of
notify.rule._notify_flush_pending).

Run through ``bash scripts/bench.sh --intents [--messages M]`` (database nr_bench, after bench_rules' fixtures
exist). For each variant, T transactions each queue M messages (default 5: the 5 rules of bench_rules firing on
one invoice; 20 for issue 11's 20 rules) and commit; the commit, which runs the pre-commit hook and the
post-commit wake-up, is timed. A commit that writes one row and queues nothing is the baseline. Variants:

- ``orm_trigger``: ``notify.message.create`` (batched) + ``ir.cron._trigger`` (Odoo's path: ORM trigger row,
  NOTIFY through a pooled cursor on the postgres database after commit);
- ``orm_wake``: ORM create + the addon's ``notify.rule._notify_trigger_dispatch_now`` (trigger row in SQL,
  NOTIFY on one kept connection);
- ``sql_messages``: the messages themselves in one SQL INSERT + the same wake-up, as the addon wrote them
  before notify.intent (reproduced as the addon's own pre-commit hook, then the dispatcher's
  ``notify.intent._queue_all`` in the same transaction: one intent row more than that path had);
- ``intent``: the addon's own ``notify.rule._notify_flush_pending`` (one notify.intent row + the same wake-up);
  the dispatcher makes the messages later, off the business transaction.
"""
# A standalone script: committing and printing are its job.
# pylint: disable=invalid-commit,print-used

import argparse
import statistics
import sys
import time

import odoo
from odoo import SUPERUSER_ID, api, fields
from odoo.modules.registry import Registry

ACCOUNT_NAME = "NR Bench WAP"


def vals_list(account, partner_id, messages):
    return [{"provider_account_id": account.id, "channel": "whatsapp", "template_ref": f"tpl-{index}",
             "res_model": "res.partner", "res_id": partner_id, "next_attempt_at": fields.Datetime.now(),
             "to_render": True} for index in range(messages)]


def queue(env, variant, account, partner_id, cron_id, messages):
    # every variant writes one row of its own, as the business transaction would (the commit then flushes WAL)
    env.cr.execute("UPDATE res_partner SET write_date = write_date WHERE id = %s", [partner_id])
    if variant == "empty":
        return
    if variant in ("intent", "sql_messages"):
        from odoo.addons.notify_rules.models.notify_rule import PENDING_KEY  # noqa: PLC0415 - after the addons path

        # one rule per message, as M rules firing on one record
        env.cr.precommit.data[PENDING_KEY] = {
            (None, (account.id, account.provider, account.company_id.id, "whatsapp", f"tpl-{index}", "res.partner",
                    0)): {partner_id} for index in range(messages)}
        env["notify.rule"]._notify_flush_pending()
        if variant == "sql_messages":
            env["notify.intent"]._queue_all()
        return
    env["notify.message"].sudo().create(vals_list(account, partner_id, messages))
    if variant == "orm_trigger":
        env["ir.cron"].browse(cron_id).sudo()._trigger()
    else:
        env["notify.rule"]._notify_trigger_dispatch_now()
    env.flush_all()


def run(registry, variant, transactions, account_id, partner_id, cron_id, messages):
    times = []
    for _index in range(transactions):
        with registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            account = env["notify.provider.account"].browse(account_id)
            env.cr.precommit.add(lambda env=env, account=account: queue(env, variant, account, partner_id,
                                                                            cron_id, messages))
            cr.execute("SELECT 1")  # the business transaction's own work is not timed
            start = time.perf_counter()
            cr.commit()
            times.append(time.perf_counter() - start)
    return times


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True)
    parser.add_argument("--config", required=True)
    parser.add_argument("--transactions", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--messages", type=int, default=5, help="messages queued per transaction (default 5)")
    args = parser.parse_args()
    odoo.tools.config.parse_config(["-c", args.config, "-d", args.db])
    registry = Registry(args.db)
    with registry.cursor() as cr:
        env = api.Environment(cr, SUPERUSER_ID, {})
        account = env["notify.provider.account"].search([("name", "=", ACCOUNT_NAME)], limit=1)
        if not account:
            sys.exit("bench_intents: run `make bench` once first (it creates the bench account)")
        account_id, partner_id = account.id, env.ref("base.partner_admin").id
        cron_id = env.ref("notify_rules.ir_cron_notify_dispatch").id
        cr.execute("SELECT coalesce(max(id), 0) FROM notify_message")
        first_id = cr.fetchone()[0]
    variants = ("empty", "intent", "sql_messages", "orm_wake", "orm_trigger")
    samples = {variant: [] for variant in variants}
    try:
        for _repeat in range(args.repeat):
            for variant in variants:  # take turns: drift is shared
                samples[variant].append(statistics.median(
                    run(registry, variant, args.transactions, account_id, partner_id, cron_id, args.messages)) * 1000)
    finally:
        with registry.cursor() as cr:
            cr.execute("DELETE FROM notify_intent")  # the bench database's: no dispatcher runs there
            cr.execute("DELETE FROM notify_message WHERE id > %s", [first_id])
            cr.execute("DELETE FROM ir_cron_trigger WHERE cron_id = %s", [cron_id])
    empty = statistics.median(samples["empty"])
    print(f"commit of a transaction queuing {args.messages} messages, median of {args.transactions} "
          f"transactions x {args.repeat} repeats (ms; extra = minus the commit that queues nothing)")
    print(f"{'variant':<12} {'median_ms':>9} {'extra_ms':>9}   per repeat")
    for variant in variants:
        value = statistics.median(samples[variant])
        per_repeat = " ".join(f"{v:.2f}" for v in samples[variant])
        print(f"{variant:<12} {value:9.2f} {value - empty:9.2f}   {per_repeat}")


if __name__ == "__main__":
    main()
