"""The outbox cannot be forged, and shows a message's content only to who may read its document."""

from odoo.exceptions import AccessError
from odoo.tests import new_test_user

from .common import NotifyCase


class TestOutboxAccess(NotifyCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.manager = new_test_user(cls.env, "outbox_manager", groups="notify_rules.group_notify_manager")
        cls.user = new_test_user(cls.env, "outbox_user", groups="notify_rules.group_notify_user")

    def test_no_one_creates_or_edits_messages_by_rpc(self):
        partner = self.make_partner()
        message = self.messages_of(partner)
        forged = {"provider_account_id": self.account.id, "res_model": "res.users", "res_id": 2,
                  "recipient_e164": "+237690000001", "template_ref": "x", "to_render": True}
        for user in (self.manager, self.user):
            Message = self.env["notify.message"].with_user(user)
            with self.subTest(user=user.login):
                with self.assertRaises(AccessError):
                    Message.create(forged)
                with self.assertRaises(AccessError):
                    message.with_user(user).write({"res_model": "res.users", "res_id": 2, "state": "queued"})
                with self.assertRaises(AccessError):
                    message.with_user(user).unlink()

    def test_the_documented_buttons_still_work_for_managers(self):
        message = self.messages_of(self.make_partner())
        message.with_user(self.manager).action_cancel()
        self.assertEqual(message.state, "cancelled")
        message.with_user(self.manager).action_retry()
        self.dispatch()
        self.assertEqual(message.state, "sent")
        with self.assertRaisesRegex(AccessError, "Only Notify managers"):
            message.with_user(self.user).action_retry()

    def test_content_hidden_where_the_document_is_not_readable(self):
        partner = self.make_partner(name="Secret Client", mobile="690000061")
        message = self.messages_of(partner)
        self.dispatch()
        visible = message.with_user(self.user).read(["recipient_e164", "payload_text", "res_name", "state"])[0]
        self.assertEqual(visible["recipient_e164"], "+237690000061")
        self.assertIn("Secret Client", visible["payload_text"])
        # the same message about a document the reader cannot see (another company's contact)
        other_company = self.env["res.company"].create({"name": "Hidden Co"})
        partner.company_id = other_company
        message.invalidate_recordset()
        hidden = message.with_user(self.user).read(["recipient_e164", "payload", "payload_text", "res_name",
                                                     "state", "display_name", "content_restricted"])[0]
        self.assertFalse(hidden["recipient_e164"])
        self.assertFalse(hidden["payload"])
        self.assertNotIn("Secret Client", hidden["payload_text"])
        self.assertNotIn("Secret Client", hidden["res_name"])
        self.assertNotIn("690000061", hidden["display_name"])
        self.assertTrue(hidden["content_restricted"])
        self.assertEqual(hidden["state"], "sent", "the delivery facts stay visible")
        web = message.with_user(self.user).web_read({"recipient_e164": {}, "payload_text": {}})[0]
        self.assertFalse(web["recipient_e164"])
        # an administrator sees everything
        self.assertEqual(message.read(["recipient_e164"])[0]["recipient_e164"], "+237690000061")

    def test_rule_variables_follow_their_rule_company(self):
        other_company = self.env["res.company"].create({"name": "Var Co"})
        other_account = self.create_wap_account(self.env, name="Var WAP", company_id=other_company.id)
        other_rule = self.rule.copy({"name": "Other co rule", "company_id": other_company.id,
                                     "provider_account_id": other_account.id})
        Variable = self.env["notify.rule.variable"].with_user(self.manager)
        self.assertIn(self.rule.variable_ids, Variable.search([]))
        self.assertFalse(Variable.search([("id", "in", other_rule.variable_ids.ids)]))
