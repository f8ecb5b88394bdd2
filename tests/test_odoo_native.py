"""Odoo's own paths: the ORM creates the outbox rows (one batch), a cron trigger wakes the dispatcher, and
Odoo's test runner finds every test of the addon."""

import importlib
import pathlib
from unittest.mock import patch

from odoo import fields

from .common import NotifyCase


class TestOdooNativePaths(NotifyCase):
    def test_intents_are_created_by_the_orm_in_one_batch(self):
        Message = type(self.env["notify.message"])
        original = Message.create
        batches = []

        def create(model, vals_list):
            batches.append(len(vals_list) if isinstance(vals_list, list) else 1)
            return original(model, vals_list)

        with patch.object(Message, "create", create):
            partners = self.env["res.partner"].create([
                {"name": f"Batch {i}", "mobile": f"69000050{i}", "ref": "notify-test"} for i in range(3)])
            self.env.cr.flush()
        self.assertEqual(batches, [3])
        messages = self.env["notify.message"].search([("res_model", "=", "res.partner"),
                                                      ("res_id", "in", partners.ids)])
        self.assertEqual(len(messages), 3)
        # what the ORM fills in: related stored fields, defaults, audit columns
        self.assertEqual(set(messages.mapped("provider")), {"wap"})
        self.assertEqual(messages.company_id, self.account.company_id)
        self.assertEqual(len(set(messages.mapped("idempotency_key"))), 3)
        self.assertEqual(set(messages.mapped("status_check_failures")), {0})
        self.assertEqual(messages.create_uid, self.env.user)

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
