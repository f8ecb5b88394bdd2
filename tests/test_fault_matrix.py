"""Every client against every fault of the simulator, through the dispatcher and the status poller (issue 11, item 4).

What is asserted is what a user sees: the message's state (queued for a retry at a later time, throttled, failed,
Outcome unknown), a plain `last_error` (a sentence, never a traceback nor a page of HTML), nothing lost (the message
exists, never left in Sending), and what the provider ends up with: a request the provider never processed is sent
again and arrives once; an answer that was lost is resent only where that cannot duplicate (Wazzup's crmMessageId)
or where the account's policy accepts a duplicate (Chinqit's default, as its document asks), and is otherwise held
for a person (WAP, Intech's money whatever the policy) or fails at once (one-time codes: the person asks again).

The expected outcome of each (provider, fault) is built from the clients' documented readings (README "Adding a
provider", the clients' docstrings), in EXPECTED below; the README's matrix is the same table.
"""

import contextlib
from datetime import timedelta

from freezegun import freeze_time

from odoo import fields
from odoo.tests import tagged

from ..models.notify_provider_account_wazzup import crm_key_hash
from .money_common import PAYOUT_SN, create_intech_account
from .test_otp_engine import OtpCase

TIMEOUT = 0.5  # the client's read timeout in these tests; the slow faults wait longer
DELAY = 1.5
RETRY_AFTER = 30
# Faults after which the provider did act on the request (the answer is what was lost).
PROCESSED = frozenset({"timeout_after", "reset_after", "processed_500", "slow_body"})
FAULTS = ("timeout_before", "timeout_after", "reset", "reset_after", "500", "processed_500", "502", "503", "504",
          "html_500", "429", "429_plain", "malformed", "html_200", "slow_body")
AMBIGUOUS = ("timeout_before", "timeout_after", "reset", "reset_after", "500", "processed_500", "504", "html_500",
             "slow_body")

# What the user sees after the first dispatch:
RETRIED = "retried"  # queued, a later next attempt, one attempt used; then sent, and the provider has it once
THROTTLED = "throttled"  # queued, the account waits (Retry-After, else a minute), no attempt used; then sent once
POLICY = "policy"  # queued: the account's "When the answer is lost" policy is Retry; then sent (twice if processed)
UNKNOWN = "unknown"  # Outcome unknown, held for a person: never sent again by itself
FAILED = "failed"  # failed with the reason: never sent again by itself


def _row(ambiguous, unreadable):
    row = {"502": RETRIED, "503": RETRIED, "429": THROTTLED, "429_plain": THROTTLED,
           "malformed": unreadable, "html_200": unreadable}
    row.update(dict.fromkeys(AMBIGUOUS, ambiguous))
    return row


EXPECTED = {
    # no idempotency key, no lookup: a lost answer is held (the account's default policy); an unreadable 2xx too
    "wap": _row(UNKNOWN, UNKNOWN),
    # Chinqit asks for retries of its 500s: its accounts default to Retry; an unreadable 2xx is held whatever it says
    "chinqit_sms": _row(POLICY, UNKNOWN),
    # one-time codes are never held: a lost or unreadable answer fails the code (the person asks for a new one)
    "chinqit_otp": _row(FAILED, FAILED),
    "wabek": _row(FAILED, FAILED),
    # money: a lost answer is Outcome unknown whatever the policy; a 2xx that is not Intech's JSON is a failure
    # saying to check the dashboard (issue 8 asks for it; Intech's IPN may still tell)
    "intech": _row(UNKNOWN, FAILED),
    # crmMessageId: a resend is safe, Wazzup answers repeatedCrmMessageId to what it already has
    "wazzup": _row(RETRIED, RETRIED),
}
PROVIDERS = tuple(EXPECTED)
LABELS = {"wap": "WAP", "chinqit_sms": "Chinqit", "chinqit_otp": "Chinqit", "wabek": "Wabek", "intech": "Intech",
          "wazzup": "Wazzup"}
WAZZUP_CRM_KEY = "crm-key-of-the-fault-matrix-0123456789abcdef"


@tagged("post_install", "-at_install")
class TestFaultMatrix(OtpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company.write({"notify_otp_resend_cooldown": 0, "notify_otp_phone_hourly": 0,
                           "notify_otp_phone_daily": 0})
        cls.otp_rule(cls, action="send_otp", provider_account_id=cls.chinqit.id, channel="sms", template_ref=False,
                     otp_purposes="fm_chinqit")
        cls.otp_rule(cls, action="send_otp", provider_account_id=cls.wabek.id, channel="whatsapp", template_ref=False,
                     otp_purposes="fm_wabek")
        cls.intech = create_intech_account(cls.env, cls.simulator, "http://127.0.0.1:8069")
        cls.intech.ambiguous_send_policy = "retry"  # money is never resent, even by an account that accepts it
        cls.payout = cls.env["notify.intech.service"].with_context(active_test=False).search(
            [("code", "=", PAYOUT_SN), ("provider_account_id", "=", cls.intech.id)])
        cls.wazzup_sim = cls.simulator.wazzup
        cls.wazzup_key = cls.wazzup_sim.add_account(crm_key=WAZZUP_CRM_KEY, name="Fault matrix")
        cls.wazzup_sim.add_channel(cls.wazzup_key, plain_id="221770000000")
        cls.wazzup_sim.save_baseline()
        cls.wazzup = cls.env["notify.provider.account"].create({
            "name": "Wazzup faults", "provider": "wazzup", "environment": "sandbox",
            "base_url": cls.simulator.base_url("wazzup"), "wazzup_api_key": cls.wazzup_key,
            "wazzup_crm_key_hash": crm_key_hash(WAZZUP_CRM_KEY)})
        cls.wazzup._wazzup_sync_channels()
        cls.accounts = {"wap": cls.account, "chinqit_sms": cls.chinqit, "chinqit_otp": cls.chinqit,
                        "wabek": cls.wabek, "intech": cls.intech, "wazzup": cls.wazzup}
        for account in (cls.account, cls.chinqit, cls.wabek, cls.wazzup):
            account.timeout = TIMEOUT
        # Intech's client takes 60 s at least, as its document asks: the test shortens the read timeout of the
        # account's (cached) client instead of waiting a minute per fault.
        client = cls.intech._notify_get_client()
        cls.addClassCleanup(setattr, client, "timeout", client.timeout)
        client.timeout = TIMEOUT

    def setUp(self):
        super().setUp()
        self.simulator.reset()
        self.serial = 0

    # ---- one message per provider, queued as the addon queues it ------------------------------------------
    def queue(self, provider):
        """(message, operation or None) waiting in the outbox for `provider`'s account."""
        self.serial += 1
        Message = self.env["notify.message"]
        if provider == "wap":
            return Message.create({"provider_account_id": self.account.id, "recipient_e164": "+237690000001",
                                   "template_ref": "tpl-partner-welcome",
                                   "payload": {"customer_name": "Aïcha"}}), None
        if provider == "chinqit_sms":
            return Message.create({"provider_account_id": self.chinqit.id, "recipient_e164": "+22227635642",
                                   "channel": "sms", "body": "Bonjour, votre facture est prête."}), None
        if provider == "wazzup":
            return Message.create({"provider_account_id": self.wazzup.id, "recipient_e164": "+221772457199",
                                   "channel": "whatsapp", "body": "Bonjour, votre facture est prête."}), None
        if provider == "intech":
            operation = self.env["notify.money.operation"].create({
                "provider_account_id": self.intech.id, "service_id": self.payout.id, "phone": "77 245 71 99",
                "amount": 1500})
            operation.action_request()
            return operation.message_id, operation
        # one-time codes through the OTP engine, a new number each time (the provider's per-number limits)
        if provider == "chinqit_otp":
            challenge = self.Otp._notify_request("fm_chinqit", f"+2222763{5600 + self.serial:04d}")
        else:
            challenge = self.Otp._notify_request("fm_wabek", f"+23769000{self.serial:04d}")
        return challenge.message_ids, None

    def delivered(self, provider, message, operation):
        """How many times the provider acted on this message (a message sent, a code sent, an operation)."""
        if provider == "wap":
            return self.wap_sim.sent_count()
        if provider in ("chinqit_sms", "chinqit_otp"):
            return self.chinqit_sim.sent_count()
        if provider == "wabek":
            return self.wabek_sim.sent_count()
        if provider == "intech":
            return self.simulator.intech.accepted_count(operation.external_id)
        return len([m for m in self.wazzup_sim.sent_messages(self.wazzup_key)
                    if m["crmMessageId"] == message.idempotency_key])

    def sim_of(self, provider):
        return self.simulator.provider(
            {"chinqit_sms": "chinqit", "chinqit_otp": "chinqit"}.get(provider, provider))

    def fresh_connections(self):
        """Every client starts on a new connection, so that a reset is the reset of the request itself (a reset of
        a reused keep-alive connection is resent at once: test_reset_of_a_reused_connection)."""
        for account in set(self.accounts.values()):
            account._notify_get_client().session.close()

    def dispatch(self):
        self.env["notify.message"]._cron_dispatch()
        self.env.invalidate_all()

    def due(self, provider, message):
        message.next_attempt_at = "2000-01-01 00:00:00"
        self.accounts[provider].throttled_until = False

    # ---- the assertions -------------------------------------------------------------------------------------
    def assert_plain(self, text, provider):
        self.assertTrue(text, "the user is told why")
        self.assertIn(LABELS[provider], text)
        for raw in ("Traceback", "<html", "<!DOCTYPE", "<body", "{\"", "Error(", "Exception"):
            self.assertNotIn(raw, text)
        self.assertLess(len(text), 500, text)

    def assert_first_dispatch(self, provider, fault, expected, message, operation):
        now = fields.Datetime.now()
        account = self.accounts[provider]
        self.assertTrue(message.exists(), "nothing is lost")
        self.assertNotEqual(message.state, "sending", "never left in Sending")
        self.assertFalse(message.sending_since)
        self.assert_plain(message.last_error, provider)
        self.assertFalse(account.paused, "a fault of the provider is not the account's fault")
        if expected == RETRIED:
            self.assertEqual((message.state, message.attempts), ("queued", 1), message.last_error)
            self.assertGreater(message.next_attempt_at, now)
            self.assertIn("retried automatically", message.last_error)
        elif expected == THROTTLED:
            self.assertEqual((message.state, message.attempts), ("queued", 0), message.last_error)
            wait = RETRY_AFTER if fault == "429" else 60
            self.assertAlmostEqual((account.throttled_until - now).total_seconds(), wait, delta=3)
            self.assertIn("slow down", message.last_error)
        elif expected == POLICY:
            self.assertEqual(message.state, "queued", message.last_error)
            self.assertGreater(message.next_attempt_at, now)
            self.assertIn("may receive it twice", message.last_error)
        elif expected == UNKNOWN:
            self.assertEqual(message.state, "unknown", message.last_error)
            self.assertIn("may or may not", message.last_error)
        else:
            self.assertEqual(message.state, "failed", message.last_error)
        if operation:
            self.assert_operation(operation, expected)
        if provider in ("chinqit_otp", "wabek"):
            self.assertEqual(message.otp_id.state, "failed" if expected == FAILED else "pending")
            self.assertFalse(message.sudo().otp_code)

    def assert_operation(self, operation, expected):
        if expected == UNKNOWN:
            self.assertEqual(operation.state, "unknown")
            self.assertIn("will not be requested again", operation.state_reason)
        elif expected == FAILED:
            self.assertEqual(operation.state, "failed")
            self.assertIn("dashboard", operation.state_reason)
            self.assertNotIn("<html", operation.state_reason)
        else:
            self.assertEqual(operation.state, "pending")

    def assert_follow_up(self, provider, fault, expected, message, operation):
        """The next runs: what is queued goes once; what is held or failed is never sent again by itself."""
        first = self.delivered(provider, message, operation)
        self.assertEqual(first, 1 if fault in PROCESSED else 0, "the simulator processed as the fault says")
        requests = len(self.sim_of(provider).requests)
        if expected in (UNKNOWN, FAILED):
            self.dispatch()
            self.assertEqual(len(self.sim_of(provider).requests), requests, "never sent again by itself")
            return
        self.due(provider, message)
        self.dispatch()
        self.assertEqual(message.state, "sent", message.last_error)
        self.assertFalse(message.last_error)
        once = 2 if expected == POLICY and fault in PROCESSED else 1  # POLICY: the duplicate the account accepted
        self.assertEqual(self.delivered(provider, message, operation), once)
        if provider == "wazzup" and fault in PROCESSED:
            self.assertEqual(message.provider_status, "repeatedCrmMessageId")

    # ---- the matrix -----------------------------------------------------------------------------------------
    def test_every_client_against_every_fault(self):
        for provider in PROVIDERS:
            for fault in FAULTS:
                expected = EXPECTED[provider][fault]
                with self.subTest(provider=provider, fault=fault, expected=expected), \
                        contextlib.closing(self.env.cr.savepoint()):
                    self.simulator.reset()
                    message, operation = self.queue(provider)
                    self.assertEqual(message.state, "queued")
                    self.fresh_connections()
                    self.sim_of(provider).fail_next(fault, retry_after=RETRY_AFTER, delay=DELAY)
                    self.dispatch()
                    self.assert_first_dispatch(provider, fault, expected, message, operation)
                    self.assert_follow_up(provider, fault, expected, message, operation)

    def test_expected_table_covers_every_fault(self):
        """The matrix is complete: every fault the simulator knows (but reset_reused, the same reset tested on a
        reused connection below) has an expected outcome for every provider."""
        from .simulator import FAULT_KINDS

        self.assertEqual(set(FAULTS), set(FAULT_KINDS) - {"reset_reused"})
        for provider in PROVIDERS:
            self.assertEqual(set(EXPECTED[provider]), set(FAULTS), provider)

    def test_reset_of_a_reused_connection(self):
        """A keep-alive connection reset before any answer is resent once at once on a new connection (what
        browsers do); Intech's money always goes on a new connection, so its reset is an unknown outcome."""
        for provider, expected in (("wap", "sent"), ("chinqit_sms", "sent"), ("wazzup", "sent"),
                                   ("intech", "unknown")):
            with self.subTest(provider=provider), contextlib.closing(self.env.cr.savepoint()):
                self.simulator.reset()
                warm, _operation = self.queue(provider)
                self.dispatch()  # the connection stays open in the client's pool
                self.assertEqual(warm.state, "sent", warm.last_error)
                self.simulator.reset()  # the log and the counts, not the open connection
                message, operation = self.queue(provider)
                self.sim_of(provider).fail_next("reset_reused")
                self.dispatch()
                self.assertEqual(message.state, expected, message.last_error)
                self.assertEqual(self.delivered(provider, message, operation), 1 if expected == "sent" else 0)
                self.assertEqual(len(self.sim_of(provider).requests), 2 if expected == "sent" else 1)

    # ---- the status poller (WAP: the only provider with a status call) -------------------------------------
    def sent_wap_message(self):
        message, _operation = self.queue("wap")
        self.dispatch()
        self.assertEqual(message.state, "sent", message.last_error)
        return message

    def status_checks(self):
        return [r for r in self.wap_sim.requests if r["method"] == "GET"]

    def test_status_check_against_every_fault(self):
        """A status check is harmless to repeat: every fault is "try later". It is said on the message, which keeps
        its state; a 429 makes the whole account wait instead (it counts as no failure of the message)."""
        for fault in FAULTS:
            with self.subTest(fault=fault), contextlib.closing(self.env.cr.savepoint()):
                self.simulator.reset()
                message = self.sent_wap_message()
                self.fresh_connections()
                self.wap_sim.fail_next(fault, retry_after=RETRY_AFTER, delay=DELAY)
                self.env["notify.message"]._cron_poll_status()
                self.env.invalidate_all()
                self.assertEqual(len(self.status_checks()), 1)
                self.assertEqual(message.state, "sent", "a failed check changes nothing of the message's state")
                self.assertFalse(self.account.paused)
                if fault in ("429", "429_plain"):
                    self.assertEqual(message.status_check_failures, 0)
                    self.assertGreater(self.account.throttled_until, fields.Datetime.now())
                    continue
                self.assertEqual(message.status_check_failures, 1)
                self.assert_plain(message.status_check_error, "wap")

    def test_failed_status_checks_back_off_then_stop(self):
        message = self.sent_wap_message()
        self.wap_sim.fail_next("500", count=10)
        start = fields.Datetime.now()
        self.env["notify.message"]._cron_poll_status()
        self.assertEqual(message.status_check_failures, 1)
        # 5 minutes doubled per failure: 10, 20, 40, 80 minutes after each failed check
        waited = timedelta()
        for failures, wait in ((1, 10), (2, 20), (3, 40), (4, 80)):
            with freeze_time(start + waited + timedelta(minutes=wait - 1)):
                self.env["notify.message"]._cron_poll_status()
            self.assertEqual(message.status_check_failures, failures, "not asked again before the backoff")
            waited += timedelta(minutes=wait + 1)
            with freeze_time(start + waited):
                self.env["notify.message"]._cron_poll_status()
            self.assertEqual(message.status_check_failures, failures + 1)
        self.assertIn("Status checks stopped after 5 failures", message.status_check_error)
        checks = len(self.status_checks())
        with freeze_time(start + waited + timedelta(days=1)):
            self.env["notify.message"]._cron_poll_status()
        self.assertEqual(len(self.status_checks()), checks, "no more checks after 5 failures")
        self.assertEqual(message.state, "sent", "the last known status stays shown")
