"""Retention: final messages older than their company's window are deleted in batches, the rest stays."""

from odoo.exceptions import ValidationError
from odoo.tests import TransactionCase, tagged

from .common import force_rescanned_subselect_plan
from .money_common import IntechMixin

FINAL = ("sent", "delivered", "read", "failed", "cancelled")
NOT_FINAL = ("queued", "sending", "unknown")


@tagged("post_install", "-at_install")
class TestRetention(IntechMixin, TransactionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_intech()
        cls.company_a = cls.env.company
        cls.company_b = cls.env["res.company"].create(
            {"name": "Retention B", "currency_id": cls.env.ref("base.XOF").id})
        cls.account_a = cls.create_wap_account(cls.env)
        cls.account_b = cls.create_wap_account(cls.env, name="WAP B", company_id=cls.company_b.id)
        (cls.company_a | cls.company_b).write({"notify_message_retention_days": 365})
        cls.cron = cls.env.ref("notify_rules.ir_cron_notify_message_retention")

    def make_message(self, state, age_days, account=None, **values):
        message = self.env["notify.message"].create(dict({
            "provider_account_id": (account or self.account_a).id, "recipient_e164": "+237690000001",
            "template_ref": "tpl-retention", "state": state}, **values))
        self.age(message, age_days)
        return message

    def age(self, messages, days):
        self.env.flush_all()
        self.env.cr.execute(
            "UPDATE notify_message SET create_date = (now() AT TIME ZONE 'UTC') - %s * interval '1 day' "
            "WHERE id IN %s", [days, tuple(messages.ids)])
        messages.invalidate_recordset()

    def purge(self, **kwargs):
        deleted = self.env["notify.message"]._cron_purge_old_messages(**kwargs)
        self.env.invalidate_all()
        return deleted

    def retention_triggers(self):
        return self.env["ir.cron.trigger"].search_count([("cron_id", "=", self.cron.id)])

    def test_old_final_messages_go_recent_and_pending_ones_stay(self):
        old_final = self.env["notify.message"].concat(*(self.make_message(state, 400) for state in FINAL))
        recent_final = self.env["notify.message"].concat(*(self.make_message(state, 300) for state in FINAL))
        old_pending = self.env["notify.message"].concat(*(self.make_message(state, 900) for state in NOT_FINAL))
        self.assertEqual(self.purge(), len(FINAL))
        self.assertFalse(old_final.exists())
        self.assertEqual(recent_final.exists(), recent_final)
        self.assertEqual(old_pending.exists(), old_pending)
        self.assertEqual(sorted(old_pending.mapped("state")), sorted(NOT_FINAL))

    def test_each_company_has_its_own_window(self):
        self.company_a.notify_message_retention_days = 30
        in_a = self.make_message("sent", 100)
        in_b = self.make_message("sent", 100, account=self.account_b)
        older_in_b = self.make_message("delivered", 400, account=self.account_b)
        self.assertEqual(self.purge(), 2)
        self.assertFalse(in_a.exists())
        self.assertFalse(older_in_b.exists())
        self.assertTrue(in_b.exists())

    def test_zero_keeps_every_message(self):
        self.company_a.notify_message_retention_days = 0
        ancient = self.make_message("read", 5000)
        in_b = self.make_message("read", 5000, account=self.account_b)
        self.assertEqual(self.purge(), 1)
        self.assertTrue(ancient.exists())
        self.assertFalse(in_b.exists())

    def test_negative_window_is_refused(self):
        with self.assertRaises(ValidationError):
            self.company_a.notify_message_retention_days = -1

    def test_the_setting_writes_the_current_company(self):
        settings = self.env["res.config.settings"].create({"notify_message_retention_days": 90})
        settings.execute()
        self.assertEqual(self.company_a.notify_message_retention_days, 90)
        self.assertEqual(self.env["res.config.settings"].create({}).notify_message_retention_days, 90)

    def test_batches_delete_everything_within_the_budget(self):
        messages = self.env["notify.message"].concat(*(self.make_message("sent", 400) for _i in range(5)))
        triggers = self.retention_triggers()
        self.assertEqual(self.purge(batch_size=2, time_budget=3600), 5)
        self.assertFalse(messages.exists())
        self.assertEqual(self.retention_triggers(), triggers, "nothing left: no new run asked")

    def test_budget_spent_leaves_the_rest_to_a_new_run(self):
        messages = self.env["notify.message"].concat(*(self.make_message("failed", 400) for _i in range(5)))
        triggers = self.retention_triggers()
        # a negative budget is spent whatever the clock says (a budget of 0 relies on time.monotonic() moving,
        # which a freezegun-frozen clock elsewhere in the run does not guarantee)
        self.assertEqual(self.purge(batch_size=2, time_budget=-1), 2, "one batch per run at least, then stop")
        self.assertEqual(len(messages.exists()), 3)
        self.assertEqual(self.retention_triggers(), triggers + 1, "the cron triggers itself for the rest")
        self.assertEqual(self.purge(batch_size=2, time_budget=3600), 3)
        self.assertFalse(messages.exists())

    def test_a_batch_never_deletes_more_than_its_size(self):
        """Whatever plan PostgreSQL picks (a CI run deleted 5 in a batch of 2 before the sub-select became an
        array), one batch deletes at most ``batch_size`` messages."""
        messages = self.env["notify.message"].concat(*(self.make_message("failed", 400) for _i in range(5)))
        force_rescanned_subselect_plan(self)
        self.assertEqual(self.env["notify.message"]._purge_batch(self.company_a, messages[0].create_date.replace(
            year=2100), 2), 2)
        self.env.invalidate_all()
        self.assertEqual(len(messages.exists()), 3)

    def test_fallbacks(self):
        """A final fallback loses its link to the deleted message; a message whose fallback still waits stays."""
        first = self.make_message("failed", 400)
        done_fallback = self.make_message("sent", 10, fallback_of_id=first.id)
        second = self.make_message("failed", 400)
        waiting_fallback = self.make_message("queued", 400, fallback_of_id=second.id)
        self.assertEqual(self.purge(), 1)
        self.assertFalse(first.exists())
        self.assertTrue(done_fallback.exists())
        self.assertFalse(done_fallback.fallback_of_id)
        self.assertTrue(second.exists())
        self.assertEqual(waiting_fallback.fallback_of_id, second)

    def test_a_money_request_stays_while_its_operation_exists(self):
        operation = self.make_operation()
        self.dispatch_money()
        request = operation.message_id
        self.assertEqual(request.state, "sent")
        self.assertEqual(operation.state, "pending")
        plain = self.make_message("sent", 400, account=self.intech)
        self.age(request, 400)
        self.assertEqual(self.purge(), 1)
        self.assertFalse(plain.exists())
        self.assertTrue(request.exists())
        self.assertEqual(operation.message_id, request)

    def test_each_link_from_an_operation_keeps_its_message(self):
        """The message's link to its operation (``restrict``) and the operation's link to its request (``set
        null``) each keep the message, alone."""
        made_for = self.make_message("failed", 400, account=self.intech,
                                     money_operation_id=self.make_operation(request=False).id)
        requested_by = self.make_message("sent", 400, account=self.intech)
        operation = self.make_operation(request=False)
        operation.message_id = requested_by
        self.assertFalse(requested_by.money_operation_id)
        self.assertEqual(self.purge(), 0)
        self.assertTrue(made_for.exists())
        self.assertTrue(requested_by.exists())

    def test_the_daily_cron_runs_the_purge(self):
        old = self.make_message("sent", 400)
        recent = self.make_message("sent", 1)
        self.assertEqual((self.cron.interval_number, self.cron.interval_type), (1, "days"))
        self.cron.method_direct_trigger()
        self.env.invalidate_all()
        self.assertFalse(old.exists())
        self.assertTrue(recent.exists())
