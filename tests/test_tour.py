"""End-to-end UI checks in headless Chromium: create a rule through the web client, then preview it (a WhatsApp
template rule, and an SMS rule).

The tour (static/tests/tours/notify_rule_tour.js) opens Notifications > Rules as admin, creates an
"On creation" rule on Contact with the account created here, saves it, opens "Preview", selects the
contact created here and checks the dialog shows '+237690000002' and 'CM 690000002'.
"""

from odoo import http
from odoo.tests import HttpCase, tagged

ACCOUNT_NAME = "Tour WAP account"
PARTNER_NAME = "Tour Preview Contact"
RULE_NAME = "Tour: welcome contact"


@tagged("post_install", "-at_install")
class TestNotifyRuleTour(HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # Parse every manifest once here: the browser's first parallel requests would otherwise parse them
        # in several server threads at once, which trips CPython 3.11.7's "AST constructor recursion depth
        # mismatch" bug (gh-106905) and fails the page load at random.
        http.root.statics  # noqa: B018 - a lazy property, computed for its side effect
        cameroon = cls.env.ref("base.cm")
        cls.account = cls.env["notify.provider.account"].create(
            {
                "name": ACCOUNT_NAME,
                "provider": "wap",
                "environment": "sandbox",
                "base_url": "http://127.0.0.1:9/wap",  # discard port: nothing is sent by this test
                "wap_api_key": "k",
                "wap_api_secret": "c2VjcmV0",
                "company_id": cls.env.company.id,
                "default_country_id": cameroon.id,
            }
        )
        cls.partner = cls.env["res.partner"].create(
            {"name": PARTNER_NAME, "mobile": "6 90 00 00 02", "country_id": cameroon.id}
        )

    def test_create_rule_and_preview(self):
        self.assertFalse(self.env["notify.rule"].search([("name", "=", RULE_NAME)]))
        self.start_tour("/odoo", "notify_rules_rule_preview_tour", login="admin")

        rule = self.env["notify.rule"].search([("name", "=", RULE_NAME)])
        self.assertEqual(len(rule), 1, "the tour must have created exactly one rule")
        self.assertRecordValues(
            rule,
            [
                {
                    "model_name": "res.partner",
                    "trigger": "on_create",
                    "provider_account_id": self.account.id,
                    "channel": "whatsapp",
                    "template_ref": "tpl-partner-welcome",
                    "recipient_path": "mobile",
                    "recipient_fallback_path": "phone",
                    "company_id": self.env.company.id,
                    "active": True,
                }
            ],
        )
        self.assertEqual(
            [(v.name, v.source, v.field_path, v.required) for v in rule.variable_ids],
            [("customer_name", "field", "name", True)],
        )

        # The rule rides on the shared "on save" automation of its model, created when it was saved.
        automation = rule.automation_id
        self.assertTrue(automation, "saving the rule must create the shared base.automation of res.partner")
        self.assertRecordValues(
            automation,
            [
                {
                    "model_name": "res.partner",
                    "trigger": "on_create",
                    "notify_shared": True,
                    "notify_rule_id": False,
                    "active": True,
                }
            ],
        )
        self.assertEqual(automation.action_server_ids.mapped("state"), ["notify_rule"])

        # What the dialog showed is what the rule renders (the tour checked the same values on screen).
        rendered = rule._notify_render(self.partner)
        self.assertEqual(
            (rendered["recipient_e164"], rendered["recipient_provider"], rendered["variables"], rendered["error"]),
            ("+237690000002", "CM 690000002", {"customer_name": PARTNER_NAME}, False),
        )


@tagged("post_install", "-at_install")
class TestNotifySmsRuleTour(HttpCase):
    """static/tests/tours/notify_sms_rule_tour.js: an SMS rule made in the form, previewed on a Mauritanian
    contact (text, length and parts, Chinqit's number format)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        http.root.statics  # noqa: B018 - see TestNotifyRuleTour
        mauritania = cls.env.ref("base.mr")
        cls.account = cls.env["notify.provider.account"].create({
            "name": "Tour Chinqit account",
            "provider": "chinqit",
            "environment": "sandbox",
            "base_url": "http://127.0.0.1:9/chinqit",  # discard port: nothing is sent by this test
            "chinqit_api_key": "k",
            "company_id": cls.env.company.id,
            "default_country_id": mauritania.id,
        })
        cls.partner = cls.env["res.partner"].create(
            {"name": "Tour Mariem", "mobile": "27 63 56 42", "country_id": mauritania.id})

    def test_create_sms_rule_and_preview(self):
        self.start_tour("/odoo", "notify_rules_sms_rule_tour", login="admin")
        rule = self.env["notify.rule"].search([("name", "=", "Tour: SMS welcome")])
        self.assertRecordValues(rule, [{
            "action": "send_sms", "channel": "sms", "provider_account_id": self.account.id,
            "sms_body": "Bonjour {{ object.name }}, votre reçu est prêt.", "template_ref": False,
        }])
        rendered = rule._notify_render(self.partner)
        self.assertEqual((rendered["body"], rendered["recipient_provider"], rendered["error"]),
                         ("Bonjour Tour Mariem, votre reçu est prêt.", "+22227635642", False))
