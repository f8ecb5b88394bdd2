"""The dispatcher and the poller under faults of our own: one bad message, a run that must stop in time,
status checks that fail, quick retries in the rate window."""

from datetime import datetime, timedelta, timezone
from unittest.mock import patch

from freezegun import freeze_time

from odoo import fields

from .common import NotifyCase


class TestDispatchIsolation(NotifyCase):
    def queue(self, count, prefix="6900008"):
        messages = self.env["notify.message"]
        for index in range(count):
            messages |= self.messages_of(self.make_partner(name=f"Iso {index}", mobile=f"{prefix}{index:02d}"))
        return messages

    def test_poison_message_fails_alone_when_prepared(self):
        """A message whose preparation raises fails with the reason; the others of the batch go out."""
        Rule = type(self.env["notify.rule"])
        original = Rule._prepare_message_vals
        poison = self.env["res.partner"].create(
            {"name": "Poison", "mobile": "690000099", "ref": "notify-test", "country_id": self.env.ref("base.cm").id})
        self.env.cr.flush()
        good = self.env["res.partner"].create(
            {"name": "Good", "mobile": "690000098", "ref": "notify-test", "country_id": self.env.ref("base.cm").id})
        self.env.cr.flush()

        def prepare(rule, record, after_route=None):
            if record == poison:
                raise ZeroDivisionError("division by zero in a computed field")
            return original(rule, record, after_route)

        with patch.object(Rule, "_prepare_message_vals", prepare):
            self.dispatch()
            self.dispatch()  # comes back: the poison message is not retried, it is failed
        poisoned, sent = self.messages_of(poison), self.messages_of(good)
        self.assertEqual((poisoned.state, sent.state), ("failed", "sent"))
        self.assertIn("could not be prepared", poisoned.last_error)
        self.assertIn("division by zero", poisoned.last_error)
        self.assertFalse(poisoned.to_render)

    def test_poison_message_does_not_block_the_next_account(self):
        other_account = self.create_wap_account(self.env, name="Second WAP")
        first = self.messages_of(self.make_partner())
        second = first.copy({"provider_account_id": other_account.id, "to_render": False,
                             "recipient_e164": "+237690000097", "payload": {"customer_name": "B"}})
        Message = type(self.env["notify.message"])
        original = Message._claim_batch

        def claim(model, account, urgent=False):
            if account == self.account:
                raise RuntimeError("a bug while claiming")
            return original(model, account, urgent=urgent)

        with patch.object(Message, "_claim_batch", claim):
            self.dispatch()
        self.assertEqual((first.state, second.state), ("queued", "sent"))

    def test_answer_that_cannot_be_recorded_keeps_the_provider_reference(self):
        """If applying one answer raises, the message still records that the provider took it (and its
        reference: a Resend would otherwise send twice); the other messages of the batch are applied."""
        self.account.concurrency = 3
        messages = self.queue(3)
        broken = messages[1]
        Message = type(self.env["notify.message"])
        original = Message._cost_vals

        def cost_vals(message, result):
            if message == broken:
                raise ValueError("currency lookup failed")
            return original(message, result)

        with patch.object(Message, "_cost_vals", cost_vals):
            self.dispatch()
        self.assertEqual(set(messages.mapped("state")), {"sent"})
        self.assertTrue(broken.provider_ref)
        self.assertIn(broken.provider_ref, self.wap_sim.messages)
        self.assertIn("recording the answer failed", broken.last_error)
        self.assertEqual(self.wap_sim.sent_count(), 3)
        self.dispatch()
        self.assertEqual(self.wap_sim.sent_count(), 3, "nothing sent twice")

    def test_chatter_failure_does_not_undo_the_sent_state(self):
        partner = self.make_partner()
        message = self.messages_of(partner)
        Partner = type(self.env["res.partner"])
        with patch.object(Partner, "message_post", side_effect=RuntimeError("mail server plugin bug")):
            self.dispatch()
        self.assertEqual(message.state, "sent")
        self.assertTrue(message.provider_ref)

    def test_failed_status_in_the_send_answer_is_said_failed_on_the_record(self):
        partner = self.make_partner()
        message = self.messages_of(partner)
        failed_at_once = ("failed", datetime.now(timezone.utc))
        with patch.object(self.wap_sim, "current_status", return_value=failed_at_once):
            self.dispatch()
        self.assertEqual(message.state, "failed")
        self.assertIn(": failed", partner.message_ids[0].body)
        self.assertNotIn(": sent", partner.message_ids[0].body)

    # ---- bounded runs ---------------------------------------------------------------------------------
    def triggers(self, xmlid):
        cron = self.env.ref(xmlid)
        return self.env["ir.cron.trigger"].search([("cron_id", "=", cron.id)])

    def test_dispatch_run_stops_at_its_time_budget_and_triggers_itself(self):
        self.account.concurrency = 1
        messages = self.queue(3)
        self.triggers("notify_rules.ir_cron_notify_dispatch").unlink()
        self.env["notify.message"]._cron_dispatch(time_budget=0)
        self.assertEqual(sorted(messages.mapped("state")), ["queued", "queued", "sent"], "one batch, then stop")
        [trigger] = self.triggers("notify_rules.ir_cron_notify_dispatch")
        self.assertLessEqual(trigger.call_at, fields.Datetime.now())
        self.env["notify.message"]._cron_dispatch()
        self.assertEqual(set(messages.mapped("state")), {"sent"})

    def test_poll_run_stops_at_its_time_budget_and_leaves_nothing_reserved(self):
        self.account.write({"concurrency": 8, "rate_limit_per_minute": 100})
        messages = self.queue(25, prefix="6900090")
        self.dispatch()
        self.assertEqual(set(messages.mapped("state")), {"sent"})
        self.triggers("notify_rules.ir_cron_notify_poll_status").unlink()
        with freeze_time(fields.Datetime.now() + timedelta(minutes=2)):
            self.env["notify.message"]._cron_poll_status(time_budget=0)
            checked = messages.filtered("last_polled_at")
            self.assertEqual(len(checked), 20, "one chunk of checks")
            self.assertEqual(len([r for r in self.wap_sim.requests if r["method"] == "GET"]), 20)
            self.assertTrue(self.triggers("notify_rules.ir_cron_notify_poll_status").filtered(
                lambda t: t.call_at <= fields.Datetime.now()))

    # ---- status checks that fail ----------------------------------------------------------------------
    def test_failed_status_checks_are_said_backed_off_then_stopped(self):
        message = self.messages_of(self.make_partner())
        self.dispatch()
        del self.wap_sim.messages[message.provider_ref]  # WAP no longer knows it: 404 on every check
        Message = self.env["notify.message"]
        start = fields.Datetime.now()
        gets = lambda: len([r for r in self.wap_sim.requests if r["method"] == "GET"])  # noqa: E731
        with freeze_time(start + timedelta(minutes=2)):
            Message._cron_poll_status()
        self.assertEqual((message.status_check_failures, gets()), (1, 1))
        self.assertIn("does not know the message", message.status_check_error)
        self.assertEqual(message.state, "sent", "the status shown is the last known")
        with freeze_time(start + timedelta(minutes=8)):  # 5 min would be enough without the failure
            Message._cron_poll_status()
        self.assertEqual(gets(), 1, "backed off: 10 minutes after one failure")
        minutes = 2
        for failures in range(2, 6):
            minutes += 5 * 2 ** (failures - 1) + 1
            with freeze_time(start + timedelta(minutes=minutes)):
                Message._cron_poll_status()
            self.assertEqual((message.status_check_failures, gets()), (failures, failures))
        self.assertIn("stopped after 5 failures", message.status_check_error)
        with freeze_time(start + timedelta(days=2)):
            Message._cron_poll_status()
        self.assertEqual(gets(), 5, "no more checks")

    def test_a_good_status_check_clears_the_failures(self):
        message = self.messages_of(self.make_partner())
        self.dispatch()
        self.wap_sim.fail_next("500")
        start = fields.Datetime.now()
        with freeze_time(start + timedelta(minutes=2)):
            self.env["notify.message"]._cron_poll_status()
        self.assertEqual(message.status_check_failures, 1)
        self.wap_sim.advance(message.provider_ref, "delivered")
        with freeze_time(start + timedelta(minutes=13)):
            self.env["notify.message"]._cron_poll_status()
        self.assertEqual((message.state, message.status_check_failures, message.status_check_error),
                         ("delivered", 0, False))

    # ---- rate window ----------------------------------------------------------------------------------
    def test_quick_retries_count_in_the_rate_window(self):
        """Three attempts of one message within a minute are three requests: the limit of 3 is reached."""
        self.account.rate_limit_per_minute = 3
        retried = self.messages_of(self.make_partner())
        for _attempt in range(3):
            self.wap_sim.fail_next("503")
            self.make_due(retried)
            self.dispatch()
        waiting = self.messages_of(self.make_partner(name="Waiting", mobile="690000089"))
        self.dispatch()
        self.assertEqual(waiting.state, "queued", "3 requests were made this minute")
        self.assertEqual(len(self.wap_sim.requests), 3)
        with freeze_time(fields.Datetime.now() + timedelta(seconds=64)):
            self.dispatch()
        self.assertEqual(waiting.state, "sent")

    # ---- client cache ---------------------------------------------------------------------------------
    def test_replaced_client_is_not_closed_under_a_sender(self):
        """A configuration change gives a new client; the old one may still be sending in another thread, so
        its connection pool is left alone (closing it cut the connections of the batch in flight)."""
        old = self.account._notify_get_client()
        self.dispatch()
        self.messages_of(self.make_partner())
        self.dispatch()
        pools = old.session.get_adapter(old.base_url).poolmanager.pools
        self.assertTrue(len(pools))
        self.account.timeout = 6
        self.assertIsNot(self.account._notify_get_client(), old)
        self.assertTrue(len(pools), "the old client's pooled connections are still there")
