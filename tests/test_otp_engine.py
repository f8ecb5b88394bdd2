"""The OTP engine (notify.otp): codes of ours and of the provider, one-time use, attempts, expiry, limits per
number and per IP, the country guard, fallback between routes, priority over bulk messages, the purge, and a code
that is never stored nor logged in clear. Real HTTP to the simulator (WAP template, Chinqit SMS and OTP)."""

import logging
from datetime import timedelta

from odoo import fields
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tests import tagged

from ..clients.base import OutboundMessage
from ..tools.otp import PRIORITY, OtpRefused
from .simulator.wabek import DEMO_API_KEY as WABEK_KEY
from .simulator.wabek import seed_demo as seed_wabek
from .simulator.wap import DEMO_OTP_AUTOMATION
from .test_sms_routes import SmsRouteCase

CM_NUMBER = "+237690000001"
MR_NUMBER = "+22227635642"


@tagged("post_install", "-at_install")
class OtpCase(SmsRouteCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company = cls.env.company
        cls.company.write({
            "country_id": cls.env.ref("base.cm").id,
            "notify_otp_country_ids": [(6, 0, [cls.env.ref("base.cm").id, cls.env.ref("base.mr").id])],
        })
        cls.Otp = cls.env["notify.otp"]
        cls.wabek_sim = cls.simulator.wabek
        seed_wabek(cls.wabek_sim)
        cls.wabek = cls.env["notify.provider.account"].create({
            "name": "Wabek", "provider": "wabek", "environment": "sandbox",
            "base_url": cls.simulator.base_url("wabek"), "wabek_api_key": WABEK_KEY, "timeout": 5})

    def setUp(self):
        super().setUp()
        self.chinqit_sim.reset()
        self.wabek_sim.reset()

    def otp_rule(self, trigger="on_otp_request", **values):
        return self.env["notify.rule"].create(dict({
            "name": "Codes",
            "trigger": trigger,
            "action": "send_template",
            "provider_account_id": self.account.id,
            "channel": "whatsapp",
            "template_ref": DEMO_OTP_AUTOMATION,
        }, **values))

    def chinqit_otp_rule(self, **values):
        return self.otp_rule(**dict({"action": "send_otp", "provider_account_id": self.chinqit.id,
                                     "channel": "sms", "template_ref": False}, **values))

    def request(self, phone=CM_NUMBER, purpose="verification", **kwargs):
        return self.Otp._notify_request(purpose, phone, **kwargs)

    def wap_code(self):
        """What the WhatsApp user reads: the code variable of the last template message the simulator took."""
        message = list(self.wap_sim.messages.values())[-1]
        return message["variables"]["code_otp"]

    def chinqit_sms_code(self, phone=MR_NUMBER):
        sms = [m for m in self.chinqit_sim.messages.values() if m["phone"] == phone and m["kind"] == "sms"]
        return "".join(ch for ch in sms[-1]["message"].split()[0] if ch.isdigit())

    def age(self, challenges, seconds):
        """Move challenges back in time (the limits count them by creation date)."""
        self.env.flush_all()
        self.env.cr.execute("UPDATE notify_otp SET requested_at = requested_at - %s WHERE id IN %s",
                            [timedelta(seconds=seconds), tuple(challenges.ids)])
        challenges.invalidate_recordset()


class TestOtpLocalCode(OtpCase):
    def test_code_sent_in_the_template_then_checked_once(self):
        self.otp_rule()
        challenge = self.request()
        message = challenge.message_ids
        self.assertEqual(len(message), 1)
        self.assertEqual(message.priority, PRIORITY)
        self.assertEqual(message.payload, {"code_otp": "••••••"}, "the outbox shows a mask, not the code")
        self.assertTrue(message.sudo().otp_code, "the clear code waits on the queued message only")
        self.dispatch()
        self.assertEqual(message.state, "sent", message.last_error)
        code = self.wap_code()
        self.assertRegex(code, r"^\d{6}$")
        self.assertFalse(message.sudo().otp_code, "wiped once the provider has it")
        self.assertEqual(message.payload, {"code_otp": "••••••"})
        wrong = "000000" if code != "000000" else "111111"
        check = challenge._notify_verify(wrong)
        self.assertEqual((check.valid, check.reason), (False, "invalid_code"))
        self.assertIn("2 attempt(s) left", check.message)
        self.assertTrue(challenge._notify_verify(code).valid)
        self.assertEqual(challenge.state, "verified")
        again = challenge._notify_verify(code)
        self.assertEqual((again.valid, again.reason), (False, "used"))

    def test_the_code_is_stored_nowhere_in_clear_and_never_logged(self):
        self.otp_rule()
        with self.assertLogs(level="DEBUG") as logs:
            logging.getLogger("odoo.addons.notify_rules").debug("capture starts")
            challenge = self.request()
            self.dispatch()
        code = self.wap_code()
        self.assertFalse(any(code in line for line in logs.output), "the code appears in a log line")
        self.env.flush_all()
        for table in ("notify_otp", "notify_message", "notify_otp_attempt"):
            self.env.cr.execute(f"SELECT row_to_json(t)::text FROM {table} t")  # noqa: S608 - fixed names
            for (row,) in self.env.cr.fetchall():
                self.assertNotIn(f'"{code}"', row, f"the code is stored in clear in {table}")
        self.assertNotEqual(challenge.sudo().code_hash, code)
        self.assertEqual(len(challenge.sudo().code_hash), 64, "HMAC-SHA256, hex")
        manager = self.env["res.users"].create({
            "name": "OTP manager", "login": "otp-manager",
            "groups_id": [(6, 0, [self.env.ref("notify_rules.group_notify_manager").id,
                                  self.env.ref("base.group_user").id])]})
        self.assertEqual(challenge.with_user(manager).state, "pending", "a manager sees the challenge")
        with self.assertRaises(AccessError):
            challenge.with_user(manager).read(["code_hash"])

    def test_attempts_then_locked(self):
        self.otp_rule()
        challenge = self.request()
        self.dispatch()
        code = self.wap_code()
        wrong = "123456" if code != "123456" else "654321"
        self.assertEqual(challenge._notify_verify(wrong).reason, "invalid_code")
        self.assertEqual(challenge._notify_verify("12ab").reason, "invalid_code", "garbage counts as a wrong code")
        third = challenge._notify_verify(wrong)
        self.assertEqual((third.valid, third.reason), (False, "too_many_attempts"))
        self.assertEqual(challenge.state, "locked")
        self.assertEqual(challenge._notify_verify(code).reason, "too_many_attempts", "locked for good")

    def test_expired_code(self):
        self.otp_rule()
        challenge = self.request()
        self.dispatch()
        code = self.wap_code()
        challenge.sudo().write({"expires_at": fields.Datetime.now() - timedelta(seconds=1)})
        check = challenge._notify_verify(code)
        self.assertEqual((check.valid, check.reason), (False, "expired"))
        self.assertIn("expired", check.message)

    def test_code_length_and_expiry_follow_the_company(self):
        self.company.write({"notify_otp_length": 8, "notify_otp_validity_minutes": 3,
                            "notify_otp_max_attempts": 5})
        self.otp_rule()
        challenge = self.request()
        self.dispatch()
        self.assertRegex(self.wap_code(), r"^\d{8}$")
        self.assertEqual(challenge.max_attempts, 5)
        self.assertAlmostEqual((challenge.expires_at - challenge.requested_at).total_seconds(), 180, delta=5)
        with self.assertRaises(ValidationError):
            self.company.notify_otp_length = 3
        with self.assertRaises(ValidationError):
            self.company.notify_otp_length = 11

    def test_sms_text_with_the_code(self):
        rule = self.otp_rule(action="send_sms", provider_account_id=self.chinqit.id, channel="sms",
                             template_ref=False, sms_body="{{ object.code }} est votre code.")
        challenge = self.request(phone=MR_NUMBER)
        self.assertEqual(challenge.message_ids.body, "•••••• est votre code.")
        self.dispatch()
        code = self.chinqit_sms_code()
        self.assertTrue(challenge._notify_verify(code).valid)
        self.assertEqual(challenge.message_ids.body, "•••••• est votre code.")
        with self.assertRaises(ValidationError):
            rule.sms_body = "Votre code arrive."


class TestOtpProviderCode(OtpCase):
    def test_chinqit_generates_and_checks_its_own_code(self):
        self.chinqit_otp_rule()
        challenge = self.request(phone="+222 27 63 56 42", lang="ar_001")
        self.assertEqual(challenge.recipient_e164, MR_NUMBER)
        message = challenge.message_ids
        self.assertEqual(message.otp_kind, "provider")
        self.assertFalse(message.sudo().otp_code)
        self.dispatch()
        self.assertEqual(message.state, "sent", message.last_error)
        self.assertTrue(challenge.delegated)
        self.assertFalse(challenge.sudo().code_hash, "Odoo never saw the code")
        code = self.chinqit_sim.last_otp(MR_NUMBER)
        sends = [r for r in self.chinqit_sim.requests if r["path"] == "/otp/send"]
        self.assertEqual(len(sends), 1)
        self.assertEqual(sends[0]["json"]["language"], "ar")
        wrong = "000000" if code != "000000" else "111111"
        self.assertEqual(challenge._notify_verify(wrong).reason, "invalid_code")
        self.assertTrue(challenge._notify_verify(code).valid)
        self.assertEqual(challenge._notify_verify(code).reason, "used")

    def test_wabek_generates_and_checks_its_own_code(self):
        self.otp_rule(action="send_otp", provider_account_id=self.wabek.id, channel="whatsapp", template_ref=False)
        challenge = self.request(purpose="signup")
        self.dispatch()
        message = challenge.message_ids
        self.assertEqual(message.state, "sent", message.last_error)
        self.assertTrue(message.provider_ref, "Wabek's otpId, needed to check the code")
        sends = [r for r in self.wabek_sim.requests if r["path"].endswith("/otp")]
        self.assertEqual(sends[0]["json"], {"phone": CM_NUMBER, "purpose": "signup"})
        code = self.wabek_sim.last_otp(CM_NUMBER)
        wrong = "000000" if code != "000000" else "111111"
        self.assertEqual(challenge._notify_verify(wrong).reason, "invalid_code")
        self.assertTrue(challenge._notify_verify(code).valid)
        self.assertEqual(challenge._notify_verify(code).reason, "used", "ours says used before Wabek is asked")

    def test_wabek_account_cannot_carry_our_messages(self):
        with self.assertRaises(ValidationError) as error:
            self.otp_rule(provider_account_id=self.wabek.id)
        self.assertIn("only sends the one-time codes it generates itself", str(error.exception))

    def test_provider_code_not_yet_sent(self):
        self.chinqit_otp_rule()
        challenge = self.request(phone=MR_NUMBER)
        check = challenge._notify_verify("123456")
        self.assertEqual(check.reason, "not_sent")

    def test_provider_error_on_check_is_not_a_wrong_code(self):
        self.chinqit_otp_rule()
        challenge = self.request(phone=MR_NUMBER)
        self.dispatch()
        self.chinqit_sim.fail_next("500")
        check = challenge._notify_verify("123456")
        self.assertEqual((check.valid, check.reason), (False, "provider_error"))
        self.assertEqual(challenge.attempt_count, 0)

    def test_provider_otp_limit_refuses_before_any_call(self):
        self.chinqit_otp_rule()
        self.company.write({"notify_otp_resend_cooldown": 0, "notify_otp_phone_hourly": 0,
                            "notify_otp_phone_daily": 0})
        for _ in range(3):
            self.request(phone=MR_NUMBER)
        with self.assertRaises(OtpRefused) as refusal:
            self.request(phone=MR_NUMBER)
        self.assertEqual(refusal.exception.reason, "provider_limit")
        self.assertGreater(refusal.exception.retry_after, 0)


class TestOtpSafeguards(OtpCase):
    def test_refusals_say_why_and_store_nothing(self):
        cases = [
            ("12", "invalid_phone"),
            ("+33612345678", "country_not_allowed"),
        ]
        self.otp_rule()
        for phone, reason in cases:
            with self.subTest(phone=phone):
                before = self.Otp.search_count([])
                with self.assertRaises(OtpRefused) as refusal:
                    self.request(phone=phone)
                self.assertEqual(refusal.exception.reason, reason)
                self.assertTrue(str(refusal.exception.args[0]))
                self.assertEqual(self.Otp.search_count([]), before)

    def test_no_rule_for_the_purpose(self):
        self.otp_rule(otp_purposes="login, signup")
        with self.assertRaises(OtpRefused) as refusal:
            self.request(purpose="verification")
        self.assertEqual(refusal.exception.reason, "no_rule")
        self.assertIn("verification", refusal.exception.args[0])
        self.assertTrue(self.request(purpose="Signup"))

    def test_login_needs_a_login_rule(self):
        self.otp_rule()
        with self.assertRaises(OtpRefused) as refusal:
            self.request(purpose="odoo_login")
        self.assertEqual(refusal.exception.reason, "no_rule")
        self.otp_rule(trigger="on_login", name="Login")
        self.assertEqual(self.request(purpose="odoo_login").rule_id.trigger, "on_login")

    def test_country_allow_list_defaults_to_the_company_country(self):
        self.otp_rule()
        self.company.notify_otp_country_ids = False
        with self.assertRaises(OtpRefused) as refusal:
            self.request(phone="+22238089336")
        self.assertEqual(refusal.exception.reason, "country_not_allowed")
        self.assertIn("Mauritania", refusal.exception.args[0])
        self.assertTrue(self.request(phone=CM_NUMBER))

    def test_resend_cooldown_then_the_new_code_replaces_the_old(self):
        self.otp_rule()
        first = self.request()
        with self.assertRaises(OtpRefused) as refusal:
            self.request()
        self.assertEqual(refusal.exception.reason, "cooldown")
        self.assertTrue(50 <= refusal.exception.retry_after <= 61, refusal.exception.retry_after)
        self.assertIn("seconds", refusal.exception.args[0])
        self.age(first, 61)
        second = self.request()
        self.assertEqual(first.state, "replaced")
        self.assertEqual(first.message_ids.state, "cancelled", "the old code still queued is not sent")
        self.assertEqual(first._notify_verify("123456").reason, "replaced")
        self.assertEqual(second.state, "pending")
        self.assertTrue(self.request(purpose="other"), "the cooldown is per purpose")

    def test_limits_per_number_and_per_ip(self):
        self.otp_rule()
        self.company.write({"notify_otp_resend_cooldown": 0, "notify_otp_phone_hourly": 2,
                            "notify_otp_ip_hourly": 2})
        self.request(client_ip="10.0.0.1")
        self.request(client_ip="10.0.0.2")
        with self.assertRaises(OtpRefused) as refusal:
            self.request(client_ip="10.0.0.3")
        self.assertEqual(refusal.exception.reason, "phone_limit")
        self.assertGreater(refusal.exception.retry_after, 3000)
        self.assertIn("minutes", refusal.exception.args[0])
        self.request(phone="+237690000002", client_ip="10.0.0.1")
        with self.assertRaises(OtpRefused) as refusal:
            self.request(phone="+237690000003", client_ip="10.0.0.1")
        self.assertEqual(refusal.exception.reason, "ip_limit", "2 codes an hour from 10.0.0.1")
        self.assertTrue(self.request(phone="+237690000003", client_ip="10.0.0.9"))

    def test_wrong_codes_per_ip_and_per_user_across_challenges(self):
        self.otp_rule()
        self.company.write({"notify_otp_resend_cooldown": 0, "notify_otp_phone_hourly": 0,
                            "notify_otp_phone_daily": 0, "notify_otp_ip_hourly": 0, "notify_otp_ip_daily": 0})
        user = self.env.ref("base.user_admin")
        waiting = self.request(phone="+237690000199", user=user, purpose="waiting")
        for attempt in range(10):
            challenge = self.request(phone=f"+2376900001{attempt:02d}", user=user, purpose=f"p{attempt}")
            check = challenge._notify_verify("99999", client_ip="10.1.1.1")
            self.assertEqual(check.reason, "invalid_code")
        check = waiting._notify_verify("99999", client_ip="10.2.2.2")
        self.assertEqual(check.reason, "user_blocked", "10 wrong codes an hour for one user")
        self.assertGreater(check.retry_after, 3000)
        self.assertIn("Too many wrong codes", check.message)
        self.assertEqual(waiting.attempt_count, 0, "a blocked check is not an attempt")
        with self.assertRaises(OtpRefused) as refusal:
            self.request(phone="+237690000201", user=user, purpose="again")
        self.assertEqual(refusal.exception.reason, "user_blocked", "no new code either")
        # per IP: 20 wrong codes an hour from one address, whatever the user
        for attempt in range(10, 30):
            challenge = self.request(phone=f"+2376900003{attempt:02d}", purpose=f"q{attempt}")
            check = challenge._notify_verify("99999", client_ip="10.1.1.1")
        self.assertEqual(check.reason, "ip_blocked")


class TestOtpDelivery(OtpCase):
    def test_fallback_to_the_next_route_with_a_new_code(self):
        self.otp_rule(template_ref="unknown-automation", route_fallback=True, route_ids=[(0, 0, {
            "action": "send_sms", "provider_account_id": self.chinqit.id, "channel": "sms",
            "sms_body": "Code : {{ object.code }}", "country_ids": [(6, 0, [self.env.ref("base.mr").id])]})])
        challenge = self.request(phone=MR_NUMBER)
        first = challenge.message_ids
        hash_before = challenge.sudo().code_hash
        self.dispatch()
        self.assertEqual(first.state, "failed")
        self.assertFalse(first.sudo().otp_code)
        fallback = challenge.message_ids - first
        self.assertEqual(fallback.provider_account_id, self.chinqit)
        self.assertEqual(fallback.fallback_of_id, first)
        self.assertIn("Tried after", fallback.route_note)
        self.assertEqual(fallback.priority, PRIORITY)
        self.dispatch()
        self.assertEqual(fallback.state, "sent", fallback.last_error)
        self.assertNotEqual(challenge.sudo().code_hash, hash_before, "the code that never arrived is dead")
        sms = [m for m in self.chinqit_sim.messages.values() if m["kind"] == "sms"][-1]["message"]
        self.assertTrue(challenge._notify_verify(sms.split(":")[1].strip()).valid)

    def test_no_fallback_the_challenge_fails_with_the_reason(self):
        self.otp_rule(template_ref="unknown-automation")
        challenge = self.request()
        self.dispatch()
        self.assertEqual(challenge.state, "failed")
        check = challenge._notify_verify("123456")
        self.assertEqual(check.reason, "not_sent")
        self.assertIn("could not be sent", check.message)

    def test_a_lost_answer_fails_the_code_rather_than_holding_it(self):
        self.otp_rule()
        challenge = self.request()
        self.wap_sim.fail_next("500")
        self.dispatch()
        message = challenge.message_ids
        self.assertEqual(message.state, "failed", "a code is not held as outcome unknown")
        self.assertFalse(message.sudo().otp_code)
        self.assertEqual(challenge.state, "failed")
        with self.assertRaises(UserError):
            message.action_retry()

    def test_a_code_goes_before_the_backlog_of_any_account(self):
        self.otp_rule(otp_purposes="verification")
        self.account.write({"concurrency": 2, "rate_limit_per_minute": 1000})
        backlog = self.env["notify.message"].create([{
            "provider_account_id": self.account.id, "channel": "whatsapp", "template_ref": "tpl-partner-welcome",
            "recipient_e164": f"+2376900005{n:02d}", "payload": {"customer_name": "X"}, "to_render": False,
        } for n in range(10)])
        challenge = self.request()
        self.env["notify.message"]._dispatch_account(self.account, batch_limit=1)
        self.assertEqual(challenge.message_ids.state, "sent", "the code leaves in the first batch")
        posts = [r["json"] for r in self.wap_sim.requests if r["method"] == "POST"]
        self.assertIn("code_otp", posts[0]["variables"], "the code goes before the older backlog")
        self.assertEqual(backlog.filtered(lambda m: m.state == "sent"),
                         backlog.sorted("id")[:len(posts) - 1], "then the backlog, oldest first")
        # a code on another account is sent while this account works through its backlog
        self.chinqit_otp_rule(name="MR codes", otp_purposes="mr")
        mr = self.request(phone=MR_NUMBER, purpose="mr")
        self.env["notify.message"]._dispatch_account(self.account, batch_limit=1)
        self.assertEqual(mr.message_ids.state, "sent")

    def test_a_code_not_sent_before_expiry_is_never_sent(self):
        self.otp_rule()
        challenge = self.request()
        challenge.sudo().expires_at = fields.Datetime.now() - timedelta(seconds=1)
        challenge.message_ids.sudo().expires_at = challenge.expires_at
        self.dispatch()
        self.assertEqual(challenge.message_ids.state, "queued")
        self.assertFalse(self.wap_sim.messages)
        self.Otp._cron_purge()
        self.assertEqual(challenge.state, "expired")
        self.assertEqual(challenge.message_ids.state, "cancelled")
        self.assertFalse(challenge.message_ids.sudo().otp_code)

    def test_purge_deletes_what_the_limits_no_longer_need(self):
        self.otp_rule()
        challenge = self.request()
        challenge._notify_verify("000000", client_ip="10.0.0.1")
        self.env.flush_all()
        self.env.cr.execute("UPDATE notify_otp SET requested_at = now() - interval '2 days'")
        self.env.cr.execute("UPDATE notify_otp_attempt SET checked_at = now() - interval '2 days'")
        self.Otp.invalidate_model()
        self.Otp._cron_purge()
        self.assertFalse(challenge.exists())
        self.assertFalse(self.env["notify.otp.attempt"].search([]))

    def test_outbound_carries_the_code_only_on_the_way_out(self):
        self.otp_rule()
        challenge = self.request()
        message = challenge.message_ids
        outbound = message._to_outbound()
        self.assertIsInstance(outbound, OutboundMessage)
        self.assertRegex(outbound.variables["code_otp"], r"^\d{6}$")
        self.assertEqual(message.payload["code_otp"], "••••••")


class TestOtpRules(OtpCase):
    def test_otp_rule_acts_on_challenges_and_checks_its_delivery(self):
        rule = self.otp_rule()
        self.assertEqual(rule.model_id.model, "notify.otp")
        self.assertEqual(rule.recipient_path, "recipient_e164")
        self.assertFalse(rule.automation_id, "an OTP rule is not a base_automation")
        with self.assertRaises(ValidationError) as error:
            self.otp_rule(action="send_otp", template_ref=False)
        self.assertIn("does not send codes of its own", str(error.exception))
        with self.assertRaises(ValidationError):
            self.env["notify.rule"].create({
                "name": "Wrong", "model_id": self.env.ref("base.model_res_partner").id, "trigger": "on_create",
                "action": "send_otp", "provider_account_id": self.chinqit.id, "channel": "sms",
                "recipient_path": "mobile"})
        with self.assertRaises(ValidationError):
            self.otp_rule(action="send_sms", provider_account_id=self.chinqit.id, channel="sms",
                          template_ref=False, sms_body="Bonjour")


class TestOtpRecipientSafeguards(OtpCase):
    """Codes and the recipient safeguards: never held at night, opt-out only where the rule is not exempted."""

    def test_a_code_goes_to_an_opted_out_number_when_its_rule_is_exempted(self):
        rule = self.otp_rule()
        self.assertTrue(rule.optout_exempt, "code rules are exempted by default: a person's own code")
        self.env["phone.blacklist"].sudo()._add([CM_NUMBER])
        challenge = self.request()
        self.dispatch()
        self.assertEqual(challenge.message_ids.state, "sent")

    def test_a_code_rule_that_honours_opt_out_fails_the_challenge_with_the_reason(self):
        self.otp_rule(optout_exempt=False)
        self.env["phone.blacklist"].sudo()._add([CM_NUMBER])
        challenge = self.request()
        self.dispatch()
        self.assertEqual((challenge.message_ids.state, challenge.message_ids.safeguard), ("cancelled", "optout"))
        self.assertEqual(challenge.state, "failed")
        self.assertIn("opted out", challenge.failure_reason)
        self.assertFalse(self.wap_sim.messages)

    def test_a_code_is_never_held_by_quiet_hours_or_the_limit(self):
        self.company.write({"notify_quiet_hours": True, "notify_quiet_start": 0.0, "notify_quiet_end": 23.99,
                            "notify_throttle_max": 1})
        self.otp_rule()
        first, second = self.request(), self.request(purpose="other")
        self.dispatch()
        self.assertEqual((first.message_ids | second.message_ids).mapped("state"), ["sent", "sent"])
