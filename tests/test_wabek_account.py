"""A Wabek account in Odoo: its API key seen by Settings administrators only, its base URL required, the test
connection button, and the client it builds (real HTTP to the simulator)."""

from odoo.exceptions import AccessError, ValidationError
from odoo.tests import TransactionCase, new_test_user, tagged

from ..clients import base
from ..clients.phone import InvalidPhoneError
from ..clients.wabek import WabekClient
from ..tools.provider_errors import ERROR_TEXTS, provider_error_text
from .common import NotifySimulatorMixin
from .simulator.wabek import DEMO_API_KEY, seed_demo

NUMBER = "+905551234567"


@tagged("post_install", "-at_install")
class TestWabekAccount(NotifySimulatorMixin, TransactionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.start_simulator()
        cls.wabek_sim = seed_demo(cls.simulator.wabek)
        cls.account = cls.env["notify.provider.account"].create({
            "name": "Wabek site",
            "provider": "wabek",
            "environment": "sandbox",
            "base_url": cls.simulator.base_url("wabek"),
            "wabek_api_key": DEMO_API_KEY,
            "timeout": 5,
        })
        cls.manager = new_test_user(cls.env, "wabek_manager", groups="notify_rules.group_notify_manager")
        cls.notify_user = new_test_user(cls.env, "wabek_user", groups="notify_rules.group_notify_user")

    def setUp(self):
        super().setUp()
        self.wabek_sim.reset()

    def outbound(self, purpose="login"):
        return base.OutboundMessage(recipient_e164=NUMBER, template_ref="", variables={}, scheduled_at=None,
                                    idempotency_key="nr-wabek-1", channel="whatsapp", kind="otp",
                                    otp_purpose=purpose)

    # --- the account --------------------------------------------------------------------------------------------

    def test_provider_and_defaults(self):
        selection = dict(self.env["notify.provider.account"]._fields["provider"].selection)
        self.assertEqual(selection["wabek"], "Wabek (WhatsApp OTP)")
        self.assertEqual(self.account.rate_limit_per_minute, 30)
        self.assertEqual(self.account.ambiguous_send_policy, "hold", "the document does not ask for retries")
        self.assertEqual(self.account._notify_credentials(), {"api_key": DEMO_API_KEY})
        self.assertEqual(self.account._notify_credential_fields()["wabek"], [("wabek_api_key", True)])

    def test_api_key_seen_by_settings_administrators_only(self):
        self.assertEqual(self.env["notify.provider.account"]._fields["wabek_api_key"].groups, "base.group_system")
        for user in (self.notify_user, self.manager):
            account = self.account.with_user(user)
            self.assertEqual(account.name, "Wabek site")
            with self.assertRaises(AccessError, msg=user.login):
                account.read(["wabek_api_key"])
        with self.assertRaises(AccessError):
            self.account.with_user(self.manager).write({"wabek_api_key": "stolen"})
        self.assertEqual(self.account.read(["wabek_api_key"])[0]["wabek_api_key"], DEMO_API_KEY)
        self.assertFalse(self.account.copy().wabek_api_key, "a copy carries no key")

    def test_credentials_page_of_the_form(self):
        arch = self.env["notify.provider.account"].get_view(view_type="form")["arch"]
        self.assertIn('name="credentials_wabek"', arch)
        self.assertRegex(arch, r'<field name="wabek_api_key"[^>]*password="True"')
        arch = self.env["notify.provider.account"].with_user(self.manager).get_view(view_type="form")["arch"]
        self.assertNotIn("wabek_api_key", arch)

    def test_base_url_required_in_every_environment(self):
        values = {"name": "No site", "provider": "wabek", "wabek_api_key": DEMO_API_KEY}
        for environment in ("production", "test", "sandbox"):
            with self.subTest(environment=environment), self.assertRaises(ValidationError):
                self.env["notify.provider.account"].create(dict(values, environment=environment))
        with self.assertRaisesRegex(ValidationError, "Wabek has no common address"):
            self.env["notify.provider.account"].create(dict(values, environment="production"))
        with self.assertRaisesRegex(ValidationError, "Wabek has no common address"):
            self.account.write({"environment": "production", "base_url": False})
        account = self.env["notify.provider.account"].create(
            dict(values, environment="production", base_url="https://your-site.netlify.app"))
        self.assertEqual(account.base_url, "https://your-site.netlify.app")

    def test_recipient_as_wabek_takes_it(self):
        self.assertEqual(self.account._notify_provider_recipient(NUMBER), NUMBER)
        self.assertEqual(self.account._notify_provider_recipient("+237690000001"), "+237690000001")
        with self.assertRaises(InvalidPhoneError):
            self.account._notify_provider_recipient("+9055")

    # --- test connection ----------------------------------------------------------------------------------------

    def test_connection_ok_sends_nothing(self):
        result = self.account.action_test_connection()
        self.assertEqual(result["params"]["type"], "success", result["params"]["message"])
        self.assertEqual(result["params"]["message"],
                         f"Connection OK: Wabek accepted the credentials ({self.simulator.base_url('wabek')}).")
        (request,) = self.wabek_sim.requests
        self.assertEqual((request["path"], request["json"]["otp"]), ("/api/v1/otp-verify", "000000"))
        self.assertEqual(self.wabek_sim.sent_count(), 0)

    def test_connection_refused_key(self):
        self.account.wabek_api_key = "not-a-key"
        result = self.account.action_test_connection()
        self.assertEqual((result["params"]["type"], result["params"]["message"]),
                         ("danger", "Wabek refused the API key: check the API key of the provider account."))

    def test_connection_wrong_site(self):
        url = self.simulator.base_url("wabek") + "/v2"
        self.account.base_url = url
        result = self.account.action_test_connection()
        self.assertEqual((result["params"]["type"], result["params"]["message"]),
                         ("danger", f"{url} does not answer like Wabek (HTTP 404 from something else): check the "
                                    "base URL."))

    def test_connection_resumes_a_paused_account(self):
        self.account._notify_pause("Wabek refused the API key.")
        self.assertTrue(self.account.paused)
        result = self.account.action_test_connection()
        self.assertEqual(result["params"]["type"], "success")
        self.assertIn("Sending resumed.", result["params"]["message"])
        self.assertFalse(self.account.paused)

    # --- the client built from the account ----------------------------------------------------------------------

    def test_client_from_the_account(self):
        client = self.account._notify_get_client()
        self.assertIsInstance(client, WabekClient)
        self.assertEqual((client.base_url, client.api_key, client.environment, client.timeout),
                         (self.simulator.base_url("wabek"), DEMO_API_KEY, "sandbox", 5.0))
        self.assertIs(self.account._notify_get_client(), client, "shared while the configuration is unchanged")
        sent = client.send_otp_message(self.outbound())
        self.assertEqual(self.wabek_sim.requests[0]["json"], {"phone": NUMBER, "purpose": "login"})
        self.assertTrue(client.check_otp(sent.provider_ref, NUMBER, self.wabek_sim.last_otp(NUMBER)).verified)

    def test_client_follows_the_account(self):
        first = self.account._notify_get_client()
        self.account.wabek_api_key = "rotated-key"
        client = self.account._notify_get_client()
        self.assertIsNot(client, first)
        self.assertEqual(client.api_key, "rotated-key")
        with self.assertRaises(base.AccountError):
            client.send_otp_message(self.outbound())
        self.wabek_sim.add_account("rotated-key")
        self.assertTrue(client.send_otp_message(self.outbound()).provider_ref)
        production = self.account.copy({"environment": "production", "base_url": "https://your-site.netlify.app/",
                                        "wabek_api_key": DEMO_API_KEY})
        self.assertEqual(production._notify_get_client().base_url, "https://your-site.netlify.app")

    # --- the sentences of Wabek's errors ------------------------------------------------------------------------

    def test_error_sentences(self):
        client = self.account._notify_get_client()
        message = base.OutboundMessage(recipient_e164=NUMBER, template_ref="", variables={}, scheduled_at=None,
                                       idempotency_key="nr-wabek-2", body="Bonjour")
        cases = [
            (client.send, (message,), "otp_only",
             "Wabek only sends the one-time codes it generates itself: it cannot send this message. Choose another "
             "provider account for this rule."),
            (client.send_otp_message, (self.outbound(purpose="p" * 65),), "bad_otp_purpose",
             "The purpose of a Wabek code must be a text of 1 to 64 characters."),
            (client.check_otp, ("", NUMBER, "123456"), "missing_otp_reference",
             "There is no Wabek reference to check this code against: ask for a new code."),
            (client.check_otp, ("x-1", NUMBER, "12345"), "bad_otp_format", "A verification code is exactly 6 digits."),
            (client.send_otp_message, (base.OutboundMessage(recipient_e164="+9055", template_ref="", variables={},
                                                            scheduled_at=None, idempotency_key="k"),),
             "bad_recipient", "The number '+9055' is not a valid international phone number."),
        ]
        for call, args, code, expected in cases:
            with self.subTest(code=code):
                with self.assertRaises(base.PermanentError) as caught:
                    call(*args)
                self.assertEqual(caught.exception.code, code)
                self.assertIn(code, ERROR_TEXTS)
                self.assertEqual(provider_error_text(self.env, caught.exception), expected)
        self.assertEqual(self.wabek_sim.requests, [])
        self.wabek_sim.function_timeouts_after_delivery = 1
        with self.assertRaises(base.OutcomeUnknownError) as caught:
            client.send_otp_message(self.outbound())
        self.assertTrue(provider_error_text(self.env, caught.exception).startswith(
            "Wabek had a problem on its side (HTTP 502) after receiving the message. The message may or may not "
            "have been accepted"))
