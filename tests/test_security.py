"""Secrets readable by system administrators only; groups; multi-company isolation."""

from odoo.exceptions import AccessError, ValidationError
from odoo.tests import Form, new_test_user

from .common import NotifyCase


class TestSecurity(NotifyCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.notify_user = new_test_user(cls.env, "notify_user", groups="notify_rules.group_notify_user")
        cls.notify_manager = new_test_user(cls.env, "notify_manager", groups="notify_rules.group_notify_manager")
        cls.invoicing_manager = new_test_user(
            cls.env, "invoicing_notify_manager",
            groups="notify_rules.group_notify_manager,account.group_account_invoice")
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

    def test_manager_without_admin_rights_sets_up_and_previews_a_rule(self):
        """Model and field pickers read ir.model*: a Notify Manager who is not an administrator can use them.
        (The rule's author must be able to read the model's records: an invoicing user here.)"""
        Rule = self.env["notify.rule"].with_user(self.invoicing_manager)
        self.assertTrue(self.env["ir.model"].with_user(self.invoicing_manager).name_search("Journal Entry"))
        with Form(Rule) as form:
            form.name = "Posted invoices"
            form.model_id = self.env.ref("account.model_account_move")
            form.trigger = "on_state_set"
            form.state_field_id = self.env.ref("account.field_account_move__state")
            form.state_value_id = self.env.ref("account.field_account_move__state").selection_ids.filtered(
                lambda s: s.value == "posted")
            form.provider_account_id = self.account
            form.template_ref = "tpl"
            with form.variable_ids.new() as line:
                line.name = "customer_name"
                line.field_path = "partner_id.name"
        rule = form.record
        with self.assertRaisesRegex(ValidationError, "not allowed to read Journal Entry"):
            rule.with_user(self.notify_manager).copy()
        self.assertEqual(rule.read(["model_id", "state_field_id"])[0]["model_id"][0],
                         self.env.ref("account.model_account_move").id)
        self.assertEqual(rule.with_user(self.notify_user).read(["trigger_field_ids", "model_id"])[0]["model_id"][0],
                         self.env.ref("account.model_account_move").id)
        partner = self.make_partner()
        preview = self.env["notify.rule.preview"].with_user(self.invoicing_manager).create(
            {"rule_id": self.rule.id, "record_ref": f"res.partner,{partner.id}"})
        self.assertEqual(preview.recipient_e164, "+237690000001")

    def test_rule_cannot_reach_what_its_author_cannot_read(self):
        """Messages are rendered as superuser: field paths and template code are checked against the author."""
        Variable = self.env["notify.rule.variable"].with_user(self.notify_manager)
        with self.assertRaisesRegex(ValidationError, "not allowed to read the field 'credit'"):
            Variable.create({"rule_id": self.rule.id, "name": "credit", "field_path": "credit"})
        with self.assertRaisesRegex(ValidationError, "templates with code"):
            Variable.create({"rule_id": self.rule.id, "name": "secret", "source": "template",
                             "template": "{{ object.env['res.users'].search([])[0].login }}"})
        plain = Variable.create({"rule_id": self.rule.id, "name": "plain", "source": "template",
                                 "template": "{{ object.name }} ({{ object.ref }})", "required": False})
        with self.assertRaisesRegex(ValidationError, "no field 'nope'"):
            Variable.create({"rule_id": self.rule.id, "name": "typo", "source": "template",
                             "template": "{{ object.nope }}"})
        self.assertEqual(plain.sudo()._render(self.make_partner(name="Awa")), "Awa (notify-test)")
        # an administrator (template editor) may write code
        self.env["notify.rule.variable"].create({"rule_id": self.rule.id, "name": "code", "source": "template",
                                                 "template": "{{ object.name.upper() }}"})
