"""Sending through Wazzup, over real HTTP to the simulator, and its statuses coming back by webhook to the test
server: rules with a text, crmMessageId as the idempotency key, a lost answer, refusals, one-time codes."""

import re

from odoo.tests import HttpCase, tagged

from ..models.notify_provider_account_wazzup import crm_key_hash
from .common import NotifySimulatorMixin

CRM_KEY = "crm-key-of-this-odoo-send-tests-0123456789"
NUMBER = "+221772457199"


@tagged("post_install", "-at_install")
class TestWazzupSend(NotifySimulatorMixin, HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.start_simulator()
        cls.wazzup_sim = cls.simulator.wazzup
        cls.api_key = cls.wazzup_sim.add_account(crm_key=CRM_KEY, name="Odoo test")
        cls.channel_id = cls.wazzup_sim.add_channel(cls.api_key, plain_id="221770000000")
        cls.wazzup_sim.save_baseline()  # reset() keeps this account and its channel
        cls.account = cls.env["notify.provider.account"].create({
            "name": "Wazzup send", "provider": "wazzup", "environment": "sandbox",
            "base_url": cls.simulator.base_url("wazzup"), "wazzup_api_key": cls.api_key,
            "wazzup_crm_key_hash": crm_key_hash(CRM_KEY), "timeout": 5,
        })
        cls.account._wazzup_sync_channels()

    def setUp(self):
        super().setUp()
        self.wazzup_sim.reset()
        # the real registration: Wazzup test-POSTs {"test": true} to this server with our key before saving
        self.account._notify_get_client().set_webhooks(self.base_url() + "/notify_rules/wazzup/webhook")

    def text_rule(self, text="Bonjour {{ object.name }}, merci !", **values):
        return self.env["notify.rule"].create(dict({
            "name": "Welcome on WhatsApp",
            "model_id": self.env.ref("base.model_res_partner").id,
            "trigger": "on_create",
            "filter_domain": "[('ref', '=', 'wazzup-test')]",
            "action": "send_text",
            "provider_account_id": self.account.id,
            "channel": "whatsapp",
            "sms_body": text,
            "recipient_path": "mobile",
        }, **values))

    def make_partner(self, name="Awa Ndiaye", mobile=NUMBER):
        partner = self.env["res.partner"].create({"name": name, "mobile": mobile, "ref": "wazzup-test"})
        self.env.cr.flush()
        return partner

    def messages_of(self, partner):
        return self.env["notify.message"].search([("res_model", "=", "res.partner"), ("res_id", "=", partner.id)])

    def dispatch(self):
        self.env["notify.message"]._cron_dispatch()
        self.env.invalidate_all()

    def test_channel_read_and_chosen(self):
        channel = self.account.wazzup_channel_id
        self.assertEqual((channel.channel_id, channel.state, channel.plain_id), (self.channel_id, "active",
                                                                                 "221770000000"))
        self.assertEqual(self.account.action_test_connection()["params"]["type"], "success")

    def test_rule_sends_text_then_statuses_come_back(self):
        self.text_rule()
        partner = self.make_partner()
        self.dispatch()
        message = self.messages_of(partner)
        (sent,) = self.wazzup_sim.sent_messages(self.api_key)
        self.assertEqual((sent["channelId"], sent["chatType"], sent["chatId"], sent["text"], sent["crmMessageId"]),
                         (self.channel_id, "whatsapp", "221772457199", "Bonjour Awa Ndiaye, merci !",
                          message.idempotency_key))
        self.assertEqual((message.state, message.provider_ref), ("sent", sent["messageId"]))
        self.assertEqual(self.wazzup_sim.deliver_status(self.api_key, sent["messageId"], "delivered")[0], 200)
        self.env.invalidate_all()
        self.assertEqual(message.state, "delivered")
        notes = partner.message_ids.filtered(lambda m: "Delivered" in (m.body or ""))
        self.assertFalse(notes)  # the note comes after the answer, from the cron
        self.env["notify.inbound.event"]._cron_wazzup_messages()
        self.assertEqual(len(partner.message_ids.filtered(lambda m: "Delivered" in (m.body or ""))), 1)
        self.wazzup_sim.deliver_status(self.api_key, sent["messageId"], "read")
        self.env.invalidate_all()
        self.assertEqual(message.state, "read")
        self.assertIn("Welcome on WhatsApp", partner.message_ids[0].body)

    def test_lost_answer_is_sent_again_safely(self):
        """A 500 after Wazzup took the message: the dispatcher sends again with the same crmMessageId, Wazzup answers
        repeatedCrmMessageId, and the message is Sent — once on the customer's phone, no person asked."""
        self.text_rule()
        self.wazzup_sim.fail_next("processed_500")
        partner = self.make_partner()
        self.dispatch()
        message = self.messages_of(partner)
        self.assertEqual(message.state, "queued")
        message.next_attempt_at = "2000-01-01"
        self.dispatch()
        self.assertEqual(message.state, "sent")
        self.assertEqual(message.provider_status, "repeatedCrmMessageId")
        self.assertEqual(len(self.wazzup_sim.sent_messages(self.api_key)), 1)

    def test_statuses_after_repeated_crm_message_id_are_not_guessed(self):
        """Wazzup's refusal carries no messageId, and its statuses name the message by messageId only (no
        crmMessageId in §4.2, nor in the messages of §4.1): the message says plainly that its statuses cannot be
        followed, and a status of the message Wazzup has is not pinned on it."""
        self.text_rule()
        self.wazzup_sim.fail_next("processed_500")
        partner = self.make_partner()
        self.dispatch()
        message = self.messages_of(partner)
        self.assertFalse(message.route_note)
        message.next_attempt_at = "2000-01-01"
        self.dispatch()
        self.assertEqual(message.state, "sent")
        self.assertFalse(message.provider_ref)
        self.assertIn("does not give its message id again", message.route_note)
        self.assertIn("cannot be followed here", message.route_note)
        note = partner.message_ids.filtered(lambda m: "Welcome on WhatsApp" in (m.body or ""))[:1]
        self.assertIn("cannot be followed here", note.body)  # the record's chatter says it too
        (sent,) = self.wazzup_sim.sent_messages(self.api_key)
        self.assertEqual(self.wazzup_sim.deliver_status(self.api_key, sent["messageId"], "delivered")[0], 200)
        self.env.invalidate_all()
        self.assertEqual(message.state, "sent")
        event = self.env["notify.inbound.event"].search([("source", "=", "wazzup"), ("action", "=", "status")])
        self.assertEqual(event.result, "unknown message")

    def test_a_message_sent_at_once_has_no_such_note(self):
        self.text_rule()
        partner = self.make_partner()
        self.dispatch()
        message = self.messages_of(partner)
        self.assertEqual(message.state, "sent")
        self.assertTrue(message.provider_ref)
        self.assertFalse(message.route_note)

    def test_refusals_and_limits(self):
        self.text_rule(text="x" * 10001)
        partner = self.make_partner()
        self.dispatch()
        message = self.messages_of(partner)
        self.assertEqual(message.state, "failed")
        self.assertIn("10001", message.last_error)
        self.assertFalse(self.wazzup_sim.sent_messages(self.api_key))

    def test_inactive_channel_is_refused_by_wazzup(self):
        self.text_rule()
        self.wazzup_sim.set_channel_state(self.api_key, self.channel_id, "phoneUnavailable", notify=False)
        partner = self.make_partner()
        self.dispatch()
        message = self.messages_of(partner)
        self.assertEqual(message.state, "failed")
        self.assertIn("Wazzup", message.last_error)

    def test_wrong_key_pauses_the_account(self):
        self.text_rule()
        self.account.wazzup_api_key = "0" * 32
        partner = self.make_partner()
        self.dispatch()
        self.assertTrue(self.account.paused)
        self.assertEqual(self.messages_of(partner).state, "queued")

    def test_rule_configuration(self):
        with self.assertRaisesRegex(Exception, "Wazzup account"):
            self.text_rule(provider_account_id=self.create_wap_account(self.env).id)
        with self.assertRaisesRegex(Exception, "write the text"):
            self.text_rule(text=" ")

    def test_one_time_code_through_wazzup(self):
        company = self.env.company
        company.write({"country_id": self.env.ref("base.sn").id,
                       "notify_otp_country_ids": [(6, 0, [self.env.ref("base.sn").id])]})
        self.env["notify.rule"].create({
            "name": "Codes by Wazzup", "trigger": "on_otp_request", "action": "send_text",
            "provider_account_id": self.account.id, "channel": "whatsapp",
            "sms_body": "Votre code : {{ object.code }}",
        })
        challenge = self.env["notify.otp"]._notify_request("verification", NUMBER)
        self.dispatch()
        (sent,) = self.wazzup_sim.sent_messages(self.api_key)
        code = re.search(r"[0-9]{6}", sent["text"]).group()
        self.assertTrue(challenge._notify_verify(code).valid)
        with self.assertRaisesRegex(Exception, "object.code"):
            self.env["notify.rule"].create({
                "name": "No code", "trigger": "on_otp_request", "action": "send_text",
                "provider_account_id": self.account.id, "channel": "whatsapp", "sms_body": "Bonjour"})
