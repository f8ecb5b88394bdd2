"""Outbox and dispatcher against the WAP simulator: happy path, bad input, provider faults."""

from datetime import timedelta

import psycopg2
from freezegun import freeze_time

from odoo import fields
from odoo.exceptions import UserError, ValidationError
from odoo.tools import mute_logger

from .common import PARTNER_TEMPLATE, NotifyCase, force_rescanned_subselect_plan


class TestDispatch(NotifyCase):
    def queue_messages(self, count, mobile_prefix):
        """One message each for `count` new partners, with mobiles <prefix><index>."""
        messages = self.env["notify.message"]
        for index in range(count):
            messages |= self.messages_of(self.make_partner(name=f"P{index}", mobile=f"{mobile_prefix}{index}"))
        return messages

    def status_checks(self):
        return len([r for r in self.wap_sim.requests if r["method"] == "GET"])

    def test_partner_created_message_sent_and_logged(self):
        partner = self.make_partner()
        message = self.messages_of(partner)
        self.assertEqual(len(message), 1)
        self.assertEqual(message.state, "queued")
        self.assertEqual(message.recipient_e164, "+237690000001")
        self.assertEqual(message.recipient_provider, "CM 690000001")
        self.assertEqual(message.payload, {"customer_name": "Aïcha Ngono"})
        self.assertFalse(self.wap_sim.requests, "the business transaction must not call the provider")

        self.dispatch()
        self.assertEqual(message.state, "sent")
        self.assertTrue(message.provider_ref.startswith("WAP"))
        self.assertEqual((message.cost, message.currency), (10.0, "XAF"))
        [request] = self.wap_sim.requests
        self.assertEqual(request["json"]["reference"], PARTNER_TEMPLATE)
        self.assertEqual(request["json"]["recipient"], "690000001")
        self.assertEqual(request["json"]["country"], "CM")
        self.assertEqual(request["json"]["variables"], {"customer_name": "Aïcha Ngono"})
        self.assertIn("Welcome — WhatsApp to +237 6 90 00 00 01: sent", partner.message_ids[0].body)

    def test_a_claim_never_takes_more_than_its_capacity(self):
        """Whatever plan PostgreSQL picks, one claim marks at most ``capacity`` messages 'sending'."""
        messages = self.queue_messages(5, "69000009")
        self.make_due(messages)
        self.assertEqual(set(messages.mapped("state")), {"queued"})
        force_rescanned_subselect_plan(self)
        claimed = self.env["notify.message"]._claim_due(self.account, fields.Datetime.now(), 2, False)
        self.assertEqual(len(claimed), 2)
        self.assertEqual(sorted(messages.mapped("state")), ["queued"] * 3 + ["sending"] * 2)

    def test_not_matching_domain_enqueues_nothing(self):
        self.make_partner(ref="other")
        self.assertFalse(self.env["notify.message"].search([("rule_id", "=", self.rule.id)]))

    def test_missing_phone_fails_clearly_and_is_kept(self):
        partner = self.make_partner(mobile=False)
        message = self.messages_of(partner)
        self.assertEqual(message.state, "failed")
        self.assertIn("No phone number", message.last_error)
        self.assertIn("cannot be sent", partner.message_ids[0].body)
        self.dispatch()
        self.assertFalse(self.wap_sim.requests)

    def test_resend_after_fixing_the_record(self):
        partner = self.make_partner(mobile=False)
        message = self.messages_of(partner)
        with self.assertRaisesRegex(UserError, "No phone number"):
            message.action_retry()
        partner.mobile = "+237 690 00 00 07"
        message.action_retry()
        self.dispatch()
        self.assertEqual((message.state, message.recipient_e164), ("sent", "+237690000007"))
        self.assertEqual(self.accepted_posts()[0]["json"]["recipient"], "690000007")

    def test_record_deleted_before_sending(self):
        partner = self.env["res.partner"].create(
            {"name": "Gone", "mobile": "690000001", "ref": "notify-test", "country_id": self.env.ref("base.cm").id}
        )
        self.queue_intents()
        message = self.messages_of(partner)
        partner.unlink()
        self.dispatch()
        self.assertEqual(message.state, "failed")
        self.assertIn("deleted", message.last_error)
        self.assertFalse(self.wap_sim.requests)

    def test_variables_use_the_recipient_language(self):
        self.env["res.lang"]._activate_lang("fr_FR")
        self.rule.variable_ids = [(0, 0, {"name": "since", "field_path": "create_date"})]
        english = self.messages_of(self.make_partner(name="Ann", lang="en_US"))
        french = self.messages_of(self.make_partner(name="Aïcha", lang="fr_FR"))
        # babel's medium format: "Nov 24, 2026, 10:17:14 AM" / "24 nov. 2026, 10:17:14"
        self.assertRegex(english.payload["since"], r"^[A-Z][a-z]{2} \d{1,2}, \d{4}")
        self.assertRegex(french.payload["since"], r"^\d{1,2} [a-zéû]{3,4}\.? \d{4}")

    def test_invalid_phone_fails_clearly(self):
        partner = self.make_partner(mobile="12")
        message = self.messages_of(partner)
        self.assertEqual(message.state, "failed")
        self.assertIn("'12'", message.last_error)
        with self.assertRaises(UserError):
            message.action_retry()

    def test_fallback_field_used_when_mobile_empty(self):
        partner = self.make_partner(mobile=False, phone="+237 677 12 34 56")
        self.assertEqual(self.messages_of(partner).recipient_e164, "+237677123456")

    def test_server_error_then_success_sent_exactly_once(self):
        partner = self.make_partner()
        message = self.messages_of(partner)
        self.wap_sim.fail_next("503")  # proves the request was not processed: retried
        self.dispatch()
        self.assertEqual(message.state, "queued")
        self.assertIn("retried automatically", message.last_error)
        self.assertGreater(message.next_attempt_at, fields.Datetime.now())
        self.dispatch()  # not due yet: nothing sent
        self.assertEqual(len(self.wap_sim.requests), 1)
        self.make_due(message)
        self.dispatch()
        self.assertEqual(message.state, "sent")
        self.assertFalse(message.last_error)
        self.assertEqual(message.attempts, 2)
        self.assertEqual(len(self.accepted_posts()), 1)
        self.assertEqual(self.wap_sim.sent_count(), 1)

    def test_a_batch_of_answers_writes_each_message_its_own(self):
        """A batch's answers are applied together: the state and what is each message's own (its reference, the
        provider's scheduled time) at once, the columns equal across the batch in one write at its end. Every
        message must end with its own answer, read back from the database, whatever else the batch holds."""
        self.account.concurrency = 4
        messages = self.queue_messages(4, "69000007")
        messages.last_error = "an earlier attempt's error"
        self.wap_sim.fail_next("503")  # one of the four (whichever goes first) is refused: it waits, the others go
        self.dispatch()
        self.env.invalidate_all()
        waiting = messages.filtered(lambda m: m.state == "queued")
        sent = messages - waiting
        self.assertEqual(len(waiting), 1)
        self.assertIn("retried automatically", waiting.last_error)
        self.assertEqual(set(sent.mapped("state")), {"sent"})
        self.assertEqual(len(set(sent.mapped("provider_ref"))), 3)
        for message in sent:
            answer = self.wap_sim.messages[message.provider_ref]
            self.assertEqual("+" + str(answer["calling_code"]) + answer["recipient"], message.recipient_e164)
            expected_scheduled = answer["scheduled_dt"].replace(tzinfo=None)  # the simulator's, in UTC
            self.assertLess(abs((message.scheduled_at - expected_scheduled).total_seconds()), 0.001)
            self.assertEqual((message.cost, message.currency, message.currency_id.name), (10.0, "XAF", "XAF"))
            self.assertFalse(message.last_error)
            self.assertFalse(message.sending_since)
            self.assertTrue(message.sent_at)
            self.assertTrue(message.provider_status)
        self.make_due(waiting)
        self.dispatch()  # a batch of its own, after the first: its answer is written too
        self.env.invalidate_all()
        self.assertEqual(waiting.state, "sent")
        self.assertFalse(waiting.last_error)
        self.assertFalse(waiting.sending_since)
        self.assertEqual(self.wap_sim.sent_count(), 4)

    def test_backoff_grows_exponentially(self):
        partner = self.make_partner()
        message = self.messages_of(partner)
        delays = []
        for _attempt in range(3):
            self.wap_sim.fail_next("502")
            start = fields.Datetime.now()
            self.dispatch()
            delays.append((message.next_attempt_at - start).total_seconds())
            self.make_due(message)
        # base 30 s doubled each attempt, with jitter in [0.5, 1.5]
        self.assertTrue(14 <= delays[0] <= 46, delays)
        self.assertTrue(29 <= delays[1] <= 91, delays)
        self.assertTrue(59 <= delays[2] <= 181, delays)

    def test_rate_limited_by_provider_waits_as_told(self):
        partner = self.make_partner()
        message = self.messages_of(partner)
        self.wap_sim.fail_next("429", retry_after=120)
        before = fields.Datetime.now()
        self.dispatch()
        self.assertEqual(message.state, "queued")
        wait = (message.next_attempt_at - before).total_seconds()
        self.assertTrue(119 <= wait <= 122, wait)
        self.assertTrue(self.account.throttled_until)
        other = self.messages_of(self.make_partner(name="Other", mobile="690000002"))
        self.dispatch()
        self.assertEqual(other.state, "queued", "the account is throttled: nothing else goes out")
        self.assertEqual(len(self.wap_sim.requests), 1)
        with freeze_time(fields.Datetime.now() + timedelta(seconds=125)):
            self.dispatch()
        self.assertEqual((message.state, other.state), ("sent", "sent"))
        self.assertEqual(message.attempts, 1, "waiting as told is not an attempt")

    def test_throttling_never_uses_up_the_attempts(self):
        self.account.max_attempts = 2
        message = self.messages_of(self.make_partner())
        for _round in range(4):
            self.wap_sim.fail_next("429")  # no Retry-After: the account waits a minute
            self.make_due(message)
            self.dispatch()
            self.assertEqual((message.state, message.attempts), ("queued", 0))
        self.make_due(message)
        self.dispatch()
        self.assertEqual(message.state, "sent")

    def test_invalid_base_url_keeps_messages_queued(self):
        message = self.messages_of(self.make_partner())
        self.env.cr.execute("UPDATE notify_provider_account SET base_url = 'http://' WHERE id = %s", [self.account.id])
        self.account.invalidate_recordset(["base_url"])
        self.dispatch()
        self.assertEqual(message.state, "queued")
        self.assertIn("is not a valid web address", message.last_error)
        with self.assertRaisesRegex(ValidationError, "must be a web address"):
            self.account.base_url = "http://:8079/wap"

    def test_permanent_error_carries_provider_message(self):
        self.wap_sim.add_automation(PARTNER_TEMPLATE, variables=["customer_name", "city"])
        self.addCleanup(self.wap_sim.add_automation, PARTNER_TEMPLATE, variables=["customer_name"])
        message = self.messages_of(self.make_partner())
        self.dispatch()
        self.assertEqual(message.state, "failed")
        self.assertIn("missing_variable_city", message.last_error)
        self.assertEqual(len(self.wap_sim.requests), 1, "a 4xx is not retried")

    def test_gives_up_after_max_attempts(self):
        self.account.max_attempts = 2
        message = self.messages_of(self.make_partner())
        self.wap_sim.fail_next("503", count=2)
        self.dispatch()
        self.make_due(message)
        self.dispatch()
        self.assertEqual(message.state, "failed")
        self.assertIn("Gave up after 2 attempts", message.last_error)

    def test_timeout_after_send_is_outcome_unknown_never_resent(self):
        self.account.timeout = 0.5
        message = self.messages_of(self.make_partner())
        self.wap_sim.fail_next("timeout_after", delay=1.5)
        self.dispatch()
        self.assertEqual(message.state, "unknown")
        self.assertEqual(self.wap_sim.sent_count(), 1, "the provider did accept it")
        self.dispatch()
        self.assertEqual(self.wap_sim.sent_count(), 1, "never re-sent by itself")
        message.action_retry()  # a person decided it did not arrive
        self.dispatch()
        self.assertEqual((message.state, self.wap_sim.sent_count()), ("sent", 2))

    def test_malformed_answer_is_outcome_unknown(self):
        message = self.messages_of(self.make_partner())
        self.wap_sim.fail_next("malformed")
        self.dispatch()
        self.assertEqual(message.state, "unknown")

    def test_account_rate_limit_respected(self):
        self.account.rate_limit_per_minute = 3
        messages = self.queue_messages(5, "69000001")
        self.dispatch()
        self.assertEqual(len(self.wap_sim.requests), 3)
        self.assertEqual(sorted(messages.mapped("state")), ["queued", "queued", "sent", "sent", "sent"])
        with freeze_time(fields.Datetime.now() + timedelta(seconds=64)):
            self.dispatch()
        self.assertEqual(set(messages.mapped("state")), {"sent"})

    def test_polling_moves_to_delivered_then_read(self):
        partner = self.make_partner()
        message = self.messages_of(partner)
        self.dispatch()
        self.env["notify.message"]._cron_poll_status()
        self.assertEqual(message.state, "sent")
        self.wap_sim.advance(message.provider_ref, "delivered")
        self.env["notify.message"]._cron_poll_status()
        self.assertEqual(message.state, "sent", "asked again about the same message only after 5 minutes")
        with freeze_time(fields.Datetime.now() + timedelta(minutes=6)):
            self.env["notify.message"]._cron_poll_status()
        self.assertEqual(message.state, "delivered")
        self.assertIn("Delivered", partner.message_ids[0].body)
        self.wap_sim.advance(message.provider_ref, "read")
        self.env["notify.message"]._cron_poll_status()
        self.assertEqual(message.state, "delivered", "a delivered message is asked again only after an hour")
        with freeze_time(fields.Datetime.now() + timedelta(minutes=70)):  # an hour after the last check
            self.env["notify.message"]._cron_poll_status()
        self.assertEqual(message.state, "read")

    def test_polling_shares_the_rate_limit_with_sending(self):
        """Status checks count in the provider's per-minute limit, and leave room for messages waiting."""
        self.account.rate_limit_per_minute = 4
        sent = self.queue_messages(3, "69000003")
        self.dispatch()
        self.assertEqual(set(sent.mapped("state")), {"sent"})
        self.env["notify.message"]._cron_poll_status()
        self.assertEqual(self.status_checks(), 1, "3 sends + 1 status check = the 4 requests of this minute")
        waiting = self.messages_of(self.make_partner(name="Waiting", mobile="690000039"))
        self.dispatch()
        self.assertEqual(waiting.state, "queued", "the status check used the last request of the minute")
        later = fields.Datetime.now() + timedelta(seconds=64)
        with freeze_time(later):
            self.env["notify.message"]._cron_poll_status()  # 4 free, 1 kept for the waiting message: 3 allowed,
            # but only the 2 messages not asked about yet are due (the first one was asked a minute ago)
            self.assertEqual(self.status_checks(), 3)
            self.dispatch()
        self.assertEqual(waiting.state, "sent")

    def test_polling_stops_when_the_provider_says_slow_down(self):
        sent = self.queue_messages(3, "69000004")
        self.dispatch()
        self.wap_sim.fail_next("429", retry_after=30)
        self.env["notify.message"]._cron_poll_status()
        self.assertEqual(self.status_checks(), 1)
        self.assertTrue(self.account.throttled_until)
        self.env["notify.message"]._cron_poll_status()
        self.assertEqual(self.status_checks(), 1, "paused")
        self.assertEqual(set(sent.mapped("state")), {"sent"}, "a refused status check changes nothing")

    def test_archived_account_keeps_its_messages_and_says_why(self):
        self.account.active = False
        message = self.messages_of(self.make_partner())
        self.dispatch()
        self.assertEqual((message.state, len(self.wap_sim.requests)), ("queued", 0))
        self.assertIn("is archived", message.last_error)
        self.account.active = True
        self.dispatch()
        self.assertEqual(message.state, "sent")

    def test_send_answer_is_kept(self):
        message = self.messages_of(self.make_partner())
        self.dispatch()
        self.assertEqual((message.cost, message.currency, message.currency_id.name), (10.0, "XAF", "XAF"))
        self.assertTrue(message.scheduled_at)
        self.assertLess(abs((message.scheduled_at - message.sent_at).total_seconds()), 5)

    def test_idempotency_key_is_unique(self):
        message = self.messages_of(self.make_partner())
        other = self.messages_of(self.make_partner(name="Other", mobile="690000048"))
        with self.assertRaises(psycopg2.IntegrityError), mute_logger("odoo.sql_db"), self.env.cr.savepoint():
            other.write({"idempotency_key": message.idempotency_key})
            other.flush_recordset()

    def test_polling_reports_delivery_failure(self):
        message = self.messages_of(self.make_partner())
        self.dispatch()
        self.wap_sim.advance(message.provider_ref, "failed")
        self.env["notify.message"]._cron_poll_status()
        self.assertEqual(message.state, "failed")

    def test_cancel_and_retry_buttons(self):
        message = self.messages_of(self.make_partner())
        message.action_cancel()
        self.dispatch()
        self.assertEqual((message.state, len(self.wap_sim.requests)), ("cancelled", 0))
        message.action_retry()
        self.dispatch()
        self.assertEqual(message.state, "sent")
        with self.assertRaises(UserError):
            message.action_cancel()

    def test_delay_postpones_sending(self):
        self.rule.delay_minutes = 30
        message = self.messages_of(self.make_partner())
        self.dispatch()
        self.assertEqual((message.state, len(self.wap_sim.requests)), ("queued", 0))
        with freeze_time(fields.Datetime.now() + timedelta(minutes=31)):
            self.dispatch()
        self.assertEqual(message.state, "sent")

    def test_misconfigured_account_keeps_messages_queued_and_says_why(self):
        message = self.messages_of(self.make_partner())
        self.account.wap_api_key = False
        self.dispatch()
        self.assertEqual((message.state, len(self.wap_sim.requests)), ("queued", 0))
        self.assertIn("is paused", message.last_error)
        self.assertIn("API key", message.last_error)
        self.assertTrue(self.account.paused)
        self.account.wap_api_key = "demo-wap-key"
        self.dispatch()
        self.assertEqual(message.state, "sent")

    def test_one_http_session_per_account_reused_across_runs(self):
        client = self.account._notify_get_client()
        for index in range(3):
            self.messages_of(self.make_partner(name=f"P{index}", mobile=f"69000002{index}"))
            self.dispatch()
        self.assertIs(self.account._notify_get_client(), client)
        self.assertEqual(len(self.accepted_posts()), 3)
        self.account.timeout = 7  # a configuration change gives a new client
        self.assertIsNot(self.account._notify_get_client(), client)

    def test_test_connection_button(self):
        result = self.account.action_test_connection()
        self.assertEqual(result["params"]["type"], "success", result)
        self.account.wap_api_secret = "d3Jvbmc="  # valid base64, wrong secret
        result = self.account.action_test_connection()
        self.assertEqual(result["params"]["type"], "danger")
        self.assertIn("credentials", result["params"]["message"])


