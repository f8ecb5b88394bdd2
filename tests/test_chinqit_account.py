"""A Chinqit account in Odoo: test connection, OTP through the account with its local per-number limits."""

from datetime import timedelta

from odoo import fields
from odoo.exceptions import UserError

from ..clients.base import PermanentError
from ..clients.phone import InvalidPhoneError
from .test_sms_routes import SmsRouteCase

NUMBER = "+22238089336"


class TestChinqitAccount(SmsRouteCase):
    def otp_sends(self):
        return [r for r in self.chinqit_sim.requests if r["path"] == "/otp/send"]

    def test_connection_ok_then_bad_key_pauses_nothing_but_says_so(self):
        result = self.chinqit.action_test_connection()
        self.assertEqual(result["params"]["type"], "success", result["params"]["message"])
        self.assertFalse(self.chinqit_sim.messages, "the connection test sends nothing")
        self.chinqit.chinqit_api_key = "not-a-key"
        result = self.chinqit.action_test_connection()
        self.assertEqual(result["params"]["type"], "danger")
        self.assertIn("API key", result["params"]["message"])

    def test_missing_or_invalid_key_pauses_the_account_and_keeps_the_sms(self):
        self.sms_rule()
        self.chinqit.chinqit_api_key = "wrong-key"
        message = self.messages_of(self.mr_partner())
        self.dispatch()
        self.assertEqual(message.state, "queued")
        self.assertTrue(self.chinqit.paused)
        self.assertIn("API key", self.chinqit.pause_reason)
        self.chinqit.chinqit_api_key = self.chinqit_sim_key()
        self.assertFalse(self.chinqit.paused, "fixing the key resumes the account")
        self.make_due(message)
        self.dispatch()
        self.assertEqual(message.state, "sent")

    def chinqit_sim_key(self):
        return next(iter(self.chinqit_sim.accounts))

    def test_retried_faults_then_sent_once(self):
        self.sms_rule()
        self.assertEqual(self.chinqit.ambiguous_send_policy, "retry", "Chinqit's document asks to retry a 500")
        for fault in ("429", "500", "502"):
            with self.subTest(fault=fault):
                self.chinqit_sim.reset()
                message = self.messages_of(self.mr_partner(name=f"Retry {fault}"))
                self.chinqit_sim.fail_next(fault, retry_after=1 if fault == "429" else None)
                self.dispatch()
                self.assertEqual(message.state, "queued", message.last_error)
                self.make_due(message)
                self.chinqit.throttled_until = False
                self.dispatch()
                self.assertEqual(message.state, "sent")
                self.assertEqual(len(self.chinqit_sends()), 1)

    def test_500_held_when_the_administrator_chose_hold(self):
        self.sms_rule()
        self.chinqit.ambiguous_send_policy = "hold"
        message = self.messages_of(self.mr_partner())
        self.chinqit_sim.fail_next("500")
        self.dispatch()
        self.assertEqual(message.state, "unknown")
        self.assertIn("may or may not", message.last_error)

    def test_otp_send_and_verify(self):
        result = self.chinqit._chinqit_send_otp("38 08 93 36", lang="ar_001")
        self.assertEqual(result.expires_in, 600)
        [request] = self.otp_sends()
        self.assertEqual(request["json"], {"phoneNumber": NUMBER, "channel": "sms", "language": "ar"})
        code = self.chinqit_sim.last_otp(NUMBER)
        wrong = "000000" if code != "000000" else "111111"
        first = self.chinqit._chinqit_verify_otp(NUMBER, wrong)
        self.assertEqual((first.verified, first.retries_left), (False, 2))
        second = self.chinqit._chinqit_verify_otp(NUMBER, wrong)
        self.assertEqual((second.verified, second.retries_left), (False, 1))
        self.assertTrue(self.chinqit._chinqit_verify_otp(NUMBER, code).verified)

    def test_otp_expired(self):
        self.chinqit._chinqit_send_otp(NUMBER)
        code = self.chinqit_sim.last_otp(NUMBER)
        self.chinqit_sim.expire(NUMBER)
        result = self.chinqit._chinqit_verify_otp(NUMBER, code)
        self.assertFalse(result.verified)
        self.assertIsNone(result.retries_left)

    def test_otp_limit_per_minute_refused_locally(self):
        for _index in range(3):
            self.chinqit._chinqit_send_otp(NUMBER)
        with self.assertRaisesRegex(UserError, r"Too many codes were sent to \+22238089336\. Try again in \d+ seconds"):
            self.chinqit._chinqit_send_otp(NUMBER)
        self.assertEqual(len(self.otp_sends()), 3, "the refusal is ours: no request reached Chinqit")
        # another number has its own limits
        self.chinqit._chinqit_send_otp("+22227635642")

    def test_otp_limits_per_hour_and_day(self):
        now = fields.Datetime.now()
        Request = self.env["notify.otp.request"]

        def history(count, age):
            Request.create([{"provider_account_id": self.chinqit.id, "recipient_e164": NUMBER,
                             "requested_at": now - age} for _index in range(count)])

        history(10, timedelta(minutes=30))
        with self.assertRaisesRegex(UserError, r"Try again in 3\d minutes"):
            self.chinqit._chinqit_send_otp(NUMBER)
        Request.search([]).unlink()
        history(20, timedelta(hours=5))
        with self.assertRaisesRegex(UserError, r"Try again in 20 hours"):
            self.chinqit._chinqit_send_otp(NUMBER)
        self.assertFalse(self.otp_sends())

    def test_otp_bad_inputs_refused_before_any_request(self):
        with self.assertRaisesRegex(InvalidPhoneError, "2, 3 or 4"):
            self.chinqit._chinqit_send_otp("12345678")
        with self.assertRaises(PermanentError):
            self.chinqit._chinqit_send_otp(NUMBER, app_hash="tooshort")
        with self.assertRaises(PermanentError):
            self.chinqit._chinqit_verify_otp(NUMBER, "12ab56")
        self.assertFalse(self.chinqit_sim.requests)
        self.assertFalse(self.env["notify.otp.request"].search([]), "a refused request uses no slot")
