"""Odoo's own paths, or the measured reason not to: the outbox rows of a transaction (one INSERT, the fields the
ORM would set), the dispatcher's trigger, and Odoo's test runner finding every test of the addon."""

import importlib
import pathlib
from unittest.mock import patch

from odoo import fields

from ..models.notify_intent import INTENT_COLUMNS
from .common import NotifyCase


class TestOdooNativePaths(NotifyCase):
    def test_intents_set_every_field_the_orm_would(self):
        """Messages are made of intents in SQL (a measured need, see notify.rule._notify_flush_pending): every
        stored field that is required, has a default or is related is among the columns, and the rows read back
        as the ORM's create would have made them."""
        Message = self.env["notify.message"]
        magic = {"id"}
        needing = {name for name, field in Message._fields.items()
                   if field.store and field.column_type and name not in magic
                   and (field.required or field.default or field.related or field.compute)}
        self.assertEqual(needing - set(INTENT_COLUMNS), set(), "add these fields to INTENT_COLUMNS")
        partner = self.env["res.partner"].create({"name": "Intent", "mobile": "690000051", "ref": "notify-test"})
        self.queue_intents()  # the message is made of the intent; the dispatcher has not rendered it
        intent = self.messages_of(partner)
        reference = Message.create({
            "provider_account_id": self.account.id, "channel": "whatsapp", "rule_id": self.rule.id,
            "template_ref": intent.template_ref, "res_model": "res.partner", "res_id": partner.id,
            "next_attempt_at": intent.next_attempt_at, "to_render": True})
        compared = [name for name in INTENT_COLUMNS if name not in ("idempotency_key", "create_date", "write_date")]
        self.assertEqual(intent.read(compared)[0] | {"id": 0}, reference.read(compared)[0] | {"id": 0})
        self.assertEqual(len(intent.idempotency_key), 32)

    def test_intents_of_a_transaction_in_one_insert(self):
        """The transaction writes one intent row, whatever the number of records; the dispatcher makes the
        messages of it in one statement."""
        statements = []
        original = type(self.env.cr).execute

        def execute(cr, query, params=None, log_exceptions=True):
            text = str(query)
            if "INSERT INTO notify_message" in text or "INSERT INTO notify_intent" in text:
                statements.append("intent" if "INSERT INTO notify_intent" in text else "messages")
            return original(cr, query, params, log_exceptions)

        with patch.object(type(self.env.cr), "execute", execute):
            partners = self.env["res.partner"].create([
                {"name": f"Batch {i}", "mobile": f"69000050{i}", "ref": "notify-test"} for i in range(3)])
            self.env.cr.flush()
            self.assertEqual(statements, ["intent"])
            self.env["notify.intent"]._queue_all()
        self.assertEqual(statements, ["intent", "messages"])
        self.assertEqual(len(self.env["notify.message"].search([("res_model", "=", "res.partner"),
                                                                ("res_id", "in", partners.ids)])), 3)

    def test_queued_messages_trigger_the_dispatcher(self):
        cron = self.env.ref("notify_rules.ir_cron_notify_dispatch")
        Trigger = self.env["ir.cron.trigger"]
        Trigger.search([("cron_id", "=", cron.id)]).unlink()
        self.make_partner()
        self.assertTrue(Trigger.search([("cron_id", "=", cron.id), ("call_at", "<=", fields.Datetime.now())]))

    def test_odoos_test_runner_finds_every_test_file(self):
        tests_dir = pathlib.Path(__file__).parent
        package = importlib.import_module(__package__)
        files = sorted(path.stem for path in tests_dir.glob("test_*.py"))
        self.assertTrue(files)
        missing = [name for name in files if not hasattr(package, name)]
        self.assertEqual(missing, [], "tests/__init__.py must import them for odoo-bin --test-enable")
