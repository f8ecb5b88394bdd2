"""Secrets readable by system administrators only; groups; multi-company isolation."""

from odoo.exceptions import AccessError
from odoo.tests import new_test_user

from .common import NotifyCase


class TestSecurity(NotifyCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.notify_user = new_test_user(cls.env, "notify_user", groups="notify_rules.group_notify_user")
        cls.notify_manager = new_test_user(cls.env, "notify_manager", groups="notify_rules.group_notify_manager")
        cls.other_company = cls.env["res.company"].create({"name": "Other company"})
        cls.other_account = cls.create_wap_account(cls.env, name="Other WAP", company_id=cls.other_company.id)

    def test_secrets_hidden_from_non_system_users(self):
        for user in (self.notify_user, self.notify_manager):
            account = self.account.with_user(user)
            self.assertEqual(account.name, "WAP test")
            with self.assertRaises(AccessError, msg=user.login):
                account.read(["wap_api_secret"])
            with self.assertRaises(AccessError, msg=user.login):
                account.read(["wap_api_key"])
        self.assertTrue(self.account.read(["wap_api_secret"])[0]["wap_api_secret"])

    def test_credentials_shown_to_system_administrators_only(self):
        arch = self.env["notify.provider.account"].get_view(view_type="form")["arch"]
        self.assertIn('name="wap_api_secret"', arch)
        self.assertRegex(arch, r'<field name="wap_api_secret"[^>]*password="True"')
        arch = self.env["notify.provider.account"].with_user(self.notify_manager).get_view(view_type="form")["arch"]
        self.assertNotIn("wap_api", arch)

    def test_manager_still_sends_without_seeing_secrets(self):
        message = self.messages_of(self.make_partner())
        message.with_user(self.notify_manager).action_cancel()
        message.with_user(self.notify_manager).action_retry()
        self.env["notify.message"]._cron_dispatch()
        self.assertEqual(message.state, "sent")
        result = self.account.with_user(self.notify_manager).action_test_connection()
        self.assertEqual(result["params"]["type"], "success")

    def test_user_reads_but_cannot_configure(self):
        Rule = self.env["notify.rule"].with_user(self.notify_user)
        self.assertTrue(Rule.search([("id", "=", self.rule.id)]))
        with self.assertRaises(AccessError):
            self.rule.with_user(self.notify_user).write({"name": "x"})
        message = self.messages_of(self.make_partner())
        with self.assertRaises(AccessError):
            message.with_user(self.notify_user).action_cancel()

    def test_other_company_invisible(self):
        Account = self.env["notify.provider.account"].with_user(self.notify_manager)
        self.assertIn(self.account, Account.search([]))
        self.assertNotIn(self.other_account, Account.search([]))
        other_message = self.env["notify.message"].create(
            {"provider_account_id": self.other_account.id, "recipient_e164": "+237690000009", "template_ref": "t"}
        )
        Message = self.env["notify.message"].with_user(self.notify_manager)
        self.assertNotIn(other_message, Message.search([]))
