"""The login second factor by a code sent by WhatsApp (controllers/otp_login.py, models/res_users.py), through
real HTTP: the password on /web/login, the code page, the code read from the WAP simulator after the dispatcher
ran, the finalized session. Headless Chromium tours (static/tests/tours/notify_otp_login_tour.js) do the same as
a person would, the code coming from a test-only route registered for the test (auth_totp's ``totphook``).
"""

import json
import re
import threading

from odoo import http
from odoo.exceptions import ValidationError
from odoo.http import request
from odoo.tests import HttpCase, new_test_user, tagged
from odoo.tests.common import HOST, TEST_CURSOR_COOKIE_NAME, Opener, get_db_name

from ..controllers.otp_login import NotifyOtpLogin, mask_number
from ..tools.otp import LOGIN_PURPOSE
from .common import NotifySimulatorMixin
from .simulator.chinqit import DEMO_API_KEY as CHINQIT_KEY
from .simulator.chinqit import seed_demo as seed_chinqit
from .simulator.wap import DEMO_OTP_AUTOMATION

PASSWORD = "Otp-login-pass-42"
CODE_HOOK = "/notify_rules_test/otp_code"


def last_code(wap_sim):
    """The code of the last authentication message the WAP simulator accepted."""
    codes = [m["variables"]["code_otp"] for m in wap_sim.messages.values() if m["automation"] == DEMO_OTP_AUTOMATION]
    return codes[-1] if codes else None


def wrong_code(code):
    """A code differing from `code` in every digit: certainly wrong."""
    return "".join(str((int(digit) + 1) % 10) for digit in code)


def csrf_of(html):
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


class OtpLoginCommon(NotifySimulatorMixin, HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        http.root.statics  # noqa: B018 - parse the manifests once (see tests/test_tour.py)
        cls.start_simulator()
        cameroon = cls.env.ref("base.cm")
        cls.company = cls.env.company
        cls.company.write({
            "country_id": cameroon.id,
            "notify_otp_login_no_mobile": "block",
            "notify_otp_trusted_days": 0,
            "notify_otp_resend_cooldown": 60,
            "notify_otp_max_attempts": 3,
        })
        cls.account = cls.create_wap_account(cls.env)
        cls.rule = cls.env["notify.rule"].create({
            "name": "Login code", "trigger": "on_login", "action": "send_template",
            "provider_account_id": cls.account.id, "channel": "whatsapp", "template_ref": DEMO_OTP_AUTOMATION,
        })
        cls.company.notify_otp_login_policy = "all"  # after the rule: the policy needs one
        cls.user = cls.make_user("otp_login_user", mobile="6 90 00 00 11")

    @classmethod
    def make_user(cls, login, groups="base.group_user", **values):
        return new_test_user(cls.env, login=login, password=PASSWORD, groups=groups, tz="UTC", **values)

    def setUp(self):
        super().setUp()
        # Wrong codes count in Odoo's login cooldown per address (registry-wide): each test starts clean
        failures = getattr(self.registry, "_login_failures", None)
        if failures is not None:
            failures.clear()
            self.addCleanup(failures.clear)

    # ---- a browser session ----------------------------------------------------------------------------
    def new_session(self):
        """A fresh anonymous session on the test database, its cookie on the host the server sets it for (so
        that the session rotated at login replaces it)."""
        self.authenticate(None, None)
        self.opener = Opener(self.cr)
        self.opener.cookies.set("session_id", self.session.sid, domain=HOST, path="/")
        self.opener.cookies.set(TEST_CURSOR_COOKIE_NAME, self.http_request_key, domain=HOST, path="/")

    def login_password(self, login, password=PASSWORD):
        """Password step on /web/login; returns its answer (not followed)."""
        self.new_session()
        page = self.url_open("/web/login")
        return self.url_open("/web/login", data={"login": login, "password": password,
                                                 "csrf_token": csrf_of(page.text)}, allow_redirects=False)

    def open_code_page(self, login):
        answer = self.login_password(login)
        self.assertEqual(answer.status_code, 303, "the password is right: on to the second step")
        self.assertEqual(self.parse_http_location(answer.headers["Location"]).path, "/web/login/notify_otp")
        page = self.url_open("/web/login/notify_otp", allow_redirects=False)
        self.assertEqual(page.status_code, 200)
        return page

    def post_page(self, page, **data):
        return self.url_open("/web/login/notify_otp", data=dict(data, csrf_token=csrf_of(page.text)),
                             allow_redirects=False)

    def deliver(self):
        """The dispatcher sends the queued code; returns it as the phone received it."""
        self.env["notify.message"].sudo()._cron_dispatch()
        return last_code(self.wap_sim)

    def session_uid(self):
        answer = self.url_open("/web/session/get_session_info", data=json.dumps(
            {"jsonrpc": "2.0", "method": "call", "id": 0, "params": {}}), headers={"Content-Type": "application/json"})
        return (answer.json().get("result") or {}).get("uid")

    def challenges(self, user):
        self.env.invalidate_all()
        return self.env["notify.otp"].sudo().search([("user_id", "=", user.id), ("purpose", "=", LOGIN_PURPOSE)])

    def page_state(self, page):
        return re.search(r'o_notify_otp_login"[^>]*data-state="([a-z_]+)"', page.text).group(1)

    def assertInPage(self, text, page):
        """`text` is on the page, as a reader sees it (white space collapsed)."""
        self.assertIn(text, re.sub(r"\s+", " ", page.text.replace("&#39;", "'").replace("&quot;", '"')))


@tagged("post_install", "-at_install")
class TestOtpLoginPolicy(OtpLoginCommon):
    def test_policy_matrix(self):
        opted_in = self.make_user("otp_opted_in", mobile="6 90 00 00 12", notify_otp_login=True)
        not_opted = self.make_user("otp_not_opted", mobile="6 90 00 00 13")
        portal = self.make_user("otp_portal", groups="base.group_portal", mobile="6 90 00 00 14")
        expected = {
            "off": (None, None, None),
            "selected": ("notify_otp", None, None),
            "internal": ("notify_otp", "notify_otp", None),
            "all": ("notify_otp", "notify_otp", "notify_otp"),
        }
        for policy, types in expected.items():
            self.company.notify_otp_login_policy = policy
            for user, mfa_type in zip((opted_in, not_opted, portal), types, strict=True):
                with self.subTest(policy=policy, user=user.login):
                    self.assertEqual(user._mfa_type(), mfa_type)
                    self.assertEqual(user._mfa_url(), mfa_type and "/web/login/notify_otp")
                    self.assertEqual(user.notify_otp_login_required, bool(mfa_type))

    def test_totp_user_keeps_totp(self):
        """An authenticator app (auth_totp) wins over the code by SMS/WhatsApp, in the hooks and at login."""
        self.env.cr.execute("UPDATE res_users SET totp_secret = %s WHERE id = %s",
                            ["JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP", self.user.id])
        self.user.invalidate_recordset()
        self.assertEqual(self.user._mfa_type(), "totp")
        self.assertEqual(self.user._mfa_url(), "/web/login/totp")
        answer = self.login_password(self.user.login)
        self.assertEqual(self.parse_http_location(answer.headers["Location"]).path, "/web/login/totp")
        # our page sends a partial TOTP session back to its own step, and asks for no code
        page = self.url_open("/web/login/notify_otp", allow_redirects=False)
        self.assertEqual(self.parse_http_location(page.headers["Location"]).path, "/web/login/totp")
        self.assertFalse(self.challenges(self.user))

    def test_user_of_a_company_with_policy_off_is_not_asked(self):
        other = self.env["res.company"].create({"name": "Nouakchott Services", "notify_otp_login_policy": "off"})
        user = self.make_user("otp_other_company", mobile="6 90 00 00 15", company_id=other.id,
                              company_ids=[(6, 0, [other.id])])
        answer = self.login_password(user.login)
        self.assertEqual(answer.status_code, 303)
        self.assertEqual(self.parse_http_location(answer.headers["Location"]).path, "/odoo")
        self.assertEqual(self.session_uid(), user.id)
        self.assertFalse(self.challenges(user))

    def test_password_alone_does_not_open_rpc(self):
        """As with auth_totp: XML-RPC with the password would bypass the second factor; an API key is needed."""
        db = get_db_name()
        self.assertFalse(self.xmlrpc_common.authenticate(db, self.user.login, PASSWORD, {}))
        self.company.notify_otp_login_policy = "off"
        self.assertEqual(self.xmlrpc_common.authenticate(db, self.user.login, PASSWORD, {}), self.user.id)

    def test_user_sets_own_choice_in_preferences(self):
        self.company.notify_otp_login_policy = "selected"
        as_user = self.user.with_user(self.user)
        self.assertFalse(as_user.notify_otp_login_required)
        as_user.write({"notify_otp_login": True})  # SELF_WRITEABLE_FIELDS: no admin right needed
        values = as_user.read(["notify_otp_login", "notify_otp_login_required", "notify_otp_login_mobile"])[0]
        self.assertEqual((values["notify_otp_login"], values["notify_otp_login_required"],
                          values["notify_otp_login_mobile"]), (True, True, "6 90 00 00 11"))
        arch = as_user.get_views([(self.env.ref("base.view_users_form_simple_modif").id, "form")])
        self.assertIn('name="notify_otp_login"', arch["views"]["form"]["arch"])


@tagged("post_install", "-at_install")
class TestOtpLoginFlow(OtpLoginCommon):
    def test_login_with_the_code(self):
        page = self.open_code_page(self.user.login)
        self.assertEqual(self.page_state(page), "code")
        self.assertInPage("A code was sent by WhatsApp to +237 • •• •• 00 11.", page)
        self.assertNotIn("690000011", page.text)
        self.assertIsNone(self.session_uid(), "no session before the code")
        code = self.deliver()
        self.assertRegex(code, r"^\d{6}$")
        answer = self.post_page(page, code=f" {code[:3]} {code[3:]} ")  # spaces as people type them
        self.assertEqual(answer.status_code, 303)
        self.assertEqual(self.parse_http_location(answer.headers["Location"]).path, "/odoo")
        self.assertEqual(self.session_uid(), self.user.id)
        self.assertEqual(self.challenges(self.user).state, "verified")
        self.assertFalse(self.opener.cookies.get("td_id"), "no device remembered unless asked")

    def test_reload_keeps_the_same_code(self):
        page = self.open_code_page(self.user.login)
        code = self.deliver()
        again = self.url_open("/web/login/notify_otp", allow_redirects=False)
        self.assertEqual(self.page_state(again), "code")
        self.assertEqual(len(self.challenges(self.user)), 1, "a reload sends no new code")
        self.assertEqual(self.post_page(page, code=code).status_code, 303)

    def test_wrong_code_three_times_locks(self):
        page = self.open_code_page(self.user.login)
        code = self.deliver()
        page = self.post_page(page, code=wrong_code(code))
        self.assertEqual(self.page_state(page), "code")
        self.assertInPage("This code is not right. 2 attempt(s) left.", page)
        page = self.post_page(page, code=wrong_code(code))
        self.assertInPage("This code is not right. 1 attempt(s) left.", page)
        page = self.post_page(page, code=wrong_code(code))
        self.assertEqual(self.page_state(page), "locked")
        self.assertInPage("Too many wrong codes: this code is locked. Ask for a new code.", page)
        self.assertNotIn('name="code"', page.text, "no code field on a locked code")
        self.assertIn("Send a new code", page.text)
        # the right code, posted anyway, is no longer accepted
        page = self.post_page(page, code=code)
        self.assertEqual(page.status_code, 200)
        self.assertEqual(self.page_state(page), "locked")
        self.assertIsNone(self.session_uid())
        self.assertEqual(self.challenges(self.user).state, "locked")
        # a reload says the same, without sending a code
        page = self.url_open("/web/login/notify_otp")
        self.assertEqual(self.page_state(page), "locked")
        self.assertEqual(len(self.challenges(self.user)), 1)

    def test_resend_honours_the_cooldown(self):
        page = self.open_code_page(self.user.login)
        first = self.deliver()
        page = self.post_page(page, resend="1")
        self.assertEqual(self.page_state(page), "code", "the code already sent still works")
        self.assertRegex(page.text, r"A code was just sent\. You can ask for a new one in \d+ seconds\.")
        self.assertEqual(len(self.challenges(self.user)), 1)
        self.assertEqual(self.post_page(page, code=first).status_code, 303)

    def test_resend_after_the_cooldown_replaces_the_code(self):
        self.company.notify_otp_resend_cooldown = 0
        page = self.open_code_page(self.user.login)
        first = self.deliver()
        page = self.post_page(page, resend="1")
        self.assertInPage("A new code was sent. The previous one no longer works.", page)
        second = self.deliver()
        self.assertEqual(self.challenges(self.user).mapped("state"), ["pending", "replaced"])
        if first != second:  # one chance in a million that the new code is the same
            page = self.post_page(page, code=first)
            self.assertInPage("This code is not right.", page)
        self.assertEqual(self.post_page(page, code=second).status_code, 303)
        self.assertEqual(self.session_uid(), self.user.id)

    def test_trusted_device_skips_the_code_next_time(self):
        self.company.write({"notify_otp_trusted_days": 30, "notify_otp_resend_cooldown": 0})
        page = self.open_code_page(self.user.login)
        self.assertIn("Remember this device for 30 days", page.text)
        answer = self.post_page(page, code=self.deliver(), remember="1")
        self.assertEqual(answer.status_code, 303)
        self.assertTrue(self.opener.cookies.get("td_id"))
        device = self.env["auth_totp.device"].sudo().search([("user_id", "=", self.user.id)])
        self.assertEqual(len(device), 1, "listed with the user's trusted devices, revocable there")
        td_id = self.opener.cookies.get("td_id")

        # next login on this device: straight in, no code sent
        answer = self.login_password(self.user.login)
        self.opener.cookies.set("td_id", td_id, domain=HOST, path="/")
        page = self.url_open("/web/login/notify_otp", allow_redirects=False)
        self.assertEqual(page.status_code, 303)
        self.assertEqual(self.parse_http_location(page.headers["Location"]).path, "/odoo")
        self.assertEqual(self.session_uid(), self.user.id)
        self.assertEqual(len(self.challenges(self.user)), 1)

        # another device (no cookie) is asked; a revoked device is asked again
        self.login_password(self.user.login)
        page = self.url_open("/web/login/notify_otp", allow_redirects=False)
        self.assertEqual(self.page_state(page), "code")
        device._remove()
        self.login_password(self.user.login)
        self.opener.cookies.set("td_id", td_id, domain=HOST, path="/")
        page = self.url_open("/web/login/notify_otp", allow_redirects=False)
        self.assertEqual(page.status_code, 200)
        self.assertEqual(self.page_state(page), "code")

    def test_trusted_days_zero_ignores_the_cookie(self):
        self.company.write({"notify_otp_trusted_days": 30})
        page = self.open_code_page(self.user.login)
        self.post_page(page, code=self.deliver(), remember="1")
        td_id = self.opener.cookies.get("td_id")
        self.assertTrue(td_id)
        self.company.write({"notify_otp_trusted_days": 0, "notify_otp_resend_cooldown": 0})
        self.login_password(self.user.login)
        self.opener.cookies.set("td_id", td_id, domain=HOST, path="/")
        page = self.url_open("/web/login/notify_otp", allow_redirects=False)
        self.assertEqual(self.page_state(page), "code")
        self.assertNotIn("Remember this device", page.text)

    def test_no_mobile_blocks_the_login(self):
        for login, mobile in (("otp_no_mobile", False), ("otp_bad_mobile", "12")):
            with self.subTest(mobile=mobile):
                user = self.make_user(login, mobile=mobile)
                page = self.open_code_page(login)
                self.assertEqual(self.page_state(page), "no_mobile_block")
                self.assertInPage("Your account has no valid mobile number to receive the login code, so you "
                                  "cannot sign in.", page)
                self.assertIn("contact your administrator", page.text)
                self.assertIsNone(self.session_uid())
                self.assertFalse(self.challenges(user))

    def test_no_mobile_allowed_with_the_password(self):
        self.company.notify_otp_login_no_mobile = "allow"
        user = self.make_user("otp_no_mobile_allowed")
        page = self.open_code_page(user.login)
        self.assertEqual(self.page_state(page), "no_mobile_allow")
        self.assertInPage("You are signed in with your password only", page)
        self.assertIn('href="/odoo"', page.text)
        self.assertEqual(self.session_uid(), user.id)

    def test_number_of_a_country_not_allowed_is_refused(self):
        """A valid number of a country the company does not send codes to is not "no mobile": the password alone
        does not let the user in, whatever the no-mobile choice (the allow-list guards against SMS pumping)."""
        self.company.notify_otp_login_no_mobile = "allow"
        user = self.make_user("otp_mauritania", mobile="+222 27 63 56 42")
        page = self.open_code_page(user.login)
        self.assertEqual(self.page_state(page), "resend")
        self.assertInPage("Codes are not sent to numbers of Mauritania.", page)
        self.assertIsNone(self.session_uid())
        self.assertFalse(self.challenges(user))

    def test_portal_user_with_the_code(self):
        portal = self.make_user("otp_portal_login", groups="base.group_portal", mobile="6 90 00 00 16")
        page = self.open_code_page(portal.login)
        answer = self.post_page(page, code=self.deliver())
        self.assertEqual(answer.status_code, 303)
        self.assertEqual(self.parse_http_location(answer.headers["Location"]).path, "/my")
        self.assertEqual(self.session_uid(), portal.id)

    def test_no_rule_says_so(self):
        with self.assertRaises(ValidationError) as refusal:
            self.rule.active = False
        self.assertIn("no active rule sending login codes", str(refusal.exception))
        with self.assertRaises(ValidationError):
            self.rule.unlink()
        with self.assertRaises(ValidationError):
            self.env["res.company"].create({"name": "No rule", "notify_otp_login_policy": "all"})
        # a rule gone all the same (archived in SQL, as a data migration might): the page says so, nobody gets in
        self.env.cr.execute("UPDATE notify_rule SET active = FALSE WHERE id = %s", [self.rule.id])
        self.rule.invalidate_recordset()
        page = self.open_code_page(self.user.login)
        self.assertEqual(self.page_state(page), "resend")
        self.assertInPage("No rule sends one-time codes", page)
        self.assertIsNone(self.session_uid())

    def test_code_page_without_password_goes_to_login(self):
        self.new_session()
        answer = self.url_open("/web/login/notify_otp", allow_redirects=False)
        self.assertEqual(self.parse_http_location(answer.headers["Location"]).path, "/web/login")

    def test_user_blocked_after_many_wrong_codes(self):
        """The engine's brute-force guard per user, across new codes: the right code is refused too."""
        self.env["ir.config_parameter"].sudo().set_param("base.login_cooldown_after", 0)  # Odoo's own: off here
        self.company.notify_otp_resend_cooldown = 0
        page = self.open_code_page(self.user.login)
        for round_ in range(4):  # 3 + 3 + 3 + 1 = 10 wrong codes, the engine's limit per user and hour
            code = self.deliver()
            for _attempt in range(3 if round_ < 3 else 1):
                page = self.post_page(page, code=wrong_code(code))
            if round_ < 3:
                self.assertEqual(self.page_state(page), "locked")
                page = self.post_page(page, resend="1")
                self.assertEqual(self.page_state(page), "code")
        self.assertInPage("This code is not right. 2 attempt(s) left.", page)
        page = self.post_page(page, code=code)
        self.assertRegex(page.text, r"Too many wrong codes\. Try again in \d+ minutes\.")
        self.assertIsNone(self.session_uid())
        # and no new code is sent to this user meanwhile
        page = self.post_page(page, resend="1")
        self.assertRegex(page.text, r"Too many wrong codes\. Try again in \d+ minutes\.")
        self.assertEqual(len(self.challenges(self.user)), 4)

    def test_odoo_login_cooldown_counts_wrong_codes(self):
        self.env["ir.config_parameter"].sudo().set_param("base.login_cooldown_after", 2)
        page = self.open_code_page(self.user.login)
        code = self.deliver()
        page = self.post_page(page, code=wrong_code(code))
        page = self.post_page(page, code=wrong_code(code))
        page = self.post_page(page, code=code)
        self.assertInPage("Too many login failures, please wait a bit before trying again.", page)
        self.assertIsNone(self.session_uid())
        self.assertEqual(self.challenges(self.user).state, "pending", "the refused attempt was not checked")

    def test_mask_number(self):
        self.assertEqual(mask_number("+22227635642"), "+222 •• •• 56 42")
        self.assertEqual(mask_number("+237690000011"), "+237 • •• •• 00 11")


@tagged("post_install", "-at_install")
class TestOtpLoginChinqit(OtpLoginCommon):
    """A company whose login codes are Chinqit's own (action send_otp, by SMS): Chinqit draws and checks them."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.chinqit_sim = seed_chinqit(cls.simulator.chinqit)
        mauritania = cls.env.ref("base.mr")
        cls.nkc = cls.env["res.company"].create({
            "name": "Nouakchott Services", "country_id": mauritania.id})
        chinqit = cls.env["notify.provider.account"].create({
            "name": "Chinqit Nouakchott", "provider": "chinqit", "environment": "sandbox",
            "base_url": cls.simulator.base_url("chinqit"), "chinqit_api_key": CHINQIT_KEY,
            "default_country_id": mauritania.id, "timeout": 5, "company_id": cls.nkc.id})
        cls.env["notify.rule"].create({
            "name": "Code de connexion", "trigger": "on_login", "action": "send_otp", "channel": "sms",
            "provider_account_id": chinqit.id, "company_id": cls.nkc.id})
        cls.nkc.notify_otp_login_policy = "internal"
        cls.nkc_user = cls.make_user("otp_nouakchott", mobile="27 63 56 42", company_id=cls.nkc.id,
                                     company_ids=[(6, 0, [cls.nkc.id])])

    def setUp(self):
        super().setUp()
        self.chinqit_sim.reset()

    def test_login_with_the_provider_code(self):
        page = self.open_code_page(self.nkc_user.login)
        self.assertInPage("A code was sent by SMS to +222 •• •• 56 42.", page)
        self.env["notify.message"].sudo()._cron_dispatch()
        code = self.chinqit_sim.last_otp("+22227635642")
        self.assertRegex(code, r"^\d{6}$")
        page = self.post_page(page, code=wrong_code(code))
        self.assertInPage("This code is not right. 2 attempt(s) left.", page)
        answer = self.post_page(page, code=code)
        self.assertEqual(answer.status_code, 303)
        self.assertEqual(self.session_uid(), self.nkc_user.id)
        self.assertRecordValues(self.challenges(self.nkc_user), [{"state": "verified", "delegated": True}])


@tagged("post_install", "-at_install")
class TestOtpLoginTour(OtpLoginCommon):
    """password → code page → the code read from the simulator → logged in; and three wrong codes → locked."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.tour_user = cls.make_user("otp_tour_user", mobile="6 90 00 00 21")

    def setUp(self):
        super().setUp()
        self.install_code_hook()

    def install_code_hook(self):
        """A route for this test only (auth_totp's totphook): it runs the dispatcher, as the cron would, and
        answers the code the simulator received (or a certainly wrong one)."""
        wap_sim = self.wap_sim

        def notify_otp_test_code(controller, wrong=False):
            thread = threading.current_thread()
            testing = getattr(thread, "testing", False)
            thread.testing = True  # the dispatcher commits between steps only outside tests
            try:
                request.env["notify.message"].sudo()._cron_dispatch()
            finally:
                thread.testing = testing
            code = last_code(wap_sim)
            return wrong_code(code) if wrong else code

        notify_otp_test_code.routing_type = "json"  # not seen by the controllers' metaclass
        self.env.registry.clear_cache("routing")
        NotifyOtpLogin.notify_otp_test_code = http.route(CODE_HOOK, type="json", auth="public")(
            notify_otp_test_code)

        @self.addCleanup
        def _remove_hook():
            del NotifyOtpLogin.notify_otp_test_code
            self.env.registry.clear_cache("routing")

    def test_tour_login_with_the_code(self):
        self.start_tour("/web/login", "notify_otp_login_tour", login=None)
        self.assertEqual(self.challenges(self.tour_user).state, "verified")
        self.assertTrue(self.tour_user.login_date)

    def test_tour_wrong_code_three_times(self):
        self.start_tour("/web/login", "notify_otp_login_locked_tour", login=None)
        self.assertEqual(self.challenges(self.tour_user).state, "locked")
