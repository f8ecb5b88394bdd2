"""Wazzup's webhooks over real HTTP to the Odoo test server: authentication, statuses of our messages, incoming
messages on the contacts' chatter, contacts Wazzup asks for, channel states; each applied once."""

import json

from odoo.tests import HttpCase, tagged

from ..models.notify_provider_account_wazzup import crm_key_hash
from ..models.notify_wazzup_webhook import EVENT_COLUMNS

CRM_KEY = "crm-key-of-this-odoo-0123456789abcdef"
ROUTE = "/notify_rules/wazzup/webhook"
NUMBER = "221772457199"


@tagged("post_install", "-at_install")
class TestWazzupWebhook(HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.account = cls.env["notify.provider.account"].create({
            "name": "Wazzup test", "provider": "wazzup", "environment": "sandbox",
            "base_url": "http://127.0.0.1:9/wazzup", "wazzup_api_key": "api-key",
            "wazzup_crm_key_hash": crm_key_hash(CRM_KEY),
        })
        cls.channel = cls.env["notify.wazzup.channel"].create({
            "provider_account_id": cls.account.id, "channel_id": "chan-1", "transport": "whatsapp",
            "plain_id": "221770000000", "state": "active"})
        cls.account.wazzup_channel_id = cls.channel
        cls.partner = cls.env["res.partner"].create({"name": "Awa Ndiaye", "mobile": "+221 77 245 71 99"})

    def post(self, body, key=CRM_KEY, scheme="Bearer", raw=None):
        headers = {"Content-Type": "application/json"}
        if key is not None:
            headers["Authorization"] = f"{scheme} {key}"
        response = self.url_open(ROUTE, data=raw if raw is not None else json.dumps(body).encode(), headers=headers)
        self.env.invalidate_all()
        return response.status_code, response.json()

    def events(self):
        return self.env["notify.inbound.event"].search([("source", "=", "wazzup")], order="id")

    def sent_message(self, ref="wz-msg-1"):
        return self.env["notify.message"].create({
            "provider_account_id": self.account.id, "recipient_e164": "+" + NUMBER, "body": "Bonjour",
            "channel": "whatsapp", "state": "sent", "provider_ref": ref, "sent_at": "2026-12-02 08:00:00"})

    def inbound(self, message_id="in-1", **values):
        return {"messages": [dict({"messageId": message_id, "channelId": "chan-1", "chatType": "whatsapp",
                                   "chatId": NUMBER, "dateTime": "2026-12-02T08:00:00.000Z", "type": "text",
                                   "status": "inbound", "text": "Bonjour, ma commande ?", "isEcho": False,
                                   "contact": {"name": "Awa"}}, **values)]}

    def test_authentication(self):
        for key, scheme in ((None, "Bearer"), ("wrong", "Bearer"), (CRM_KEY, "Basic"), ("", "Bearer")):
            status, _answer = self.post(self.inbound(), key=key, scheme=scheme)
            self.assertEqual(status, 401, (key, scheme))
        self.assertFalse(self.events())
        self.assertEqual(self.post({"test": True}), (200, {"ok": True}))
        self.assertEqual(self.post(None, raw=b"not json")[0], 400)
        self.assertEqual(self.post(None, raw=b"[1, 2]")[0], 400)
        self.assertFalse(self.events())

    def test_statuses_move_our_messages_once(self):
        message = self.sent_message()
        body = {"statuses": [{"messageId": "wz-msg-1", "timestamp": "2026-12-02T08:00:01Z", "status": "delivered"}]}
        self.assertEqual(self.post(body)[0], 200)
        self.assertEqual(self.post(body)[0], 200)  # delivered twice
        self.assertEqual(message.state, "delivered")
        self.assertEqual(len(self.events()), 1)
        read = {"statuses": [{"messageId": "wz-msg-1", "timestamp": "2026-12-02T08:00:09Z", "status": "read"}]}
        late = {"statuses": [{"messageId": "wz-msg-1", "timestamp": "2026-12-02T08:00:02Z", "status": "sent"}]}
        self.post(read)
        self.post(late)
        self.assertEqual(message.state, "read")  # the one state machine never goes back
        failed = self.sent_message("wz-msg-2")
        self.post({"statuses": [{"messageId": "wz-msg-2", "status": "error",
                                 "error": {"error": "BAD_CONTACT", "description": "No WhatsApp on this number"}}]})
        self.assertEqual(failed.state, "failed")
        self.assertIn("No WhatsApp on this number", failed.last_error)
        self.assertEqual(self.post({"statuses": [{"messageId": "unknown", "status": "read"}]})[0], 200)

    def test_incoming_message_on_the_contacts_chatter_once(self):
        self.assertEqual(self.post(self.inbound())[0], 200)
        self.assertEqual(self.post(self.inbound())[0], 200)  # Wazzup delivers it again
        self.env["notify.inbound.event"]._cron_wazzup_messages()
        notes = self.partner.message_ids.filtered(lambda m: "ma commande" in (m.body or ""))
        self.assertEqual(len(notes), 1)
        self.assertEqual(notes.author_id, self.partner)
        self.assertIn(NUMBER, notes.body)
        self.assertEqual(self.events().partner_id, self.partner)

    def test_echo_of_our_message_is_not_posted_again(self):
        self.sent_message("wz-echo")
        self.post(self.inbound("wz-echo", isEcho=True, authorName="Odoo"))
        self.env["notify.inbound.event"]._cron_wazzup_messages()
        self.assertEqual(self.events().result, "our message")
        self.assertFalse(self.partner.message_ids.filtered(lambda m: "ma commande" in (m.body or "")))

    def test_unknown_number_creates_a_contact_or_not(self):
        self.post(self.inbound("in-2", chatId="221771112233", contact={"name": "Fatou Sall"}, text="Salut",
                               contentUri="https://store.wazzup24.com/photo.jpg", type="image"))
        self.env["notify.inbound.event"]._cron_wazzup_messages()
        created = self.env["res.partner"].search([("name", "=", "Fatou Sall")])
        self.assertEqual(created.mobile, "+221771112233")
        self.assertEqual(created.company_id, self.account.company_id)
        self.assertIn("https://store.wazzup24.com/photo.jpg", created.message_ids[0].body)
        self.account.wazzup_create_partners = False
        self.post(self.inbound("in-3", chatId="221779998877"))
        self.env["notify.inbound.event"]._cron_wazzup_messages()
        self.assertEqual(self.events()[-1].result, "no contact")
        self.assertFalse(self.env["res.partner"].search([("mobile", "=", "+221779998877")]))

    def test_create_contact_answers_the_entity_once(self):
        body = {"createContact": {"responsibleUserId": "2", "name": "Moussa Diop", "source": "auto",
                                  "contactData": [{"chatType": "whatsapp", "chatId": "221775556677"}]}}
        status, answer = self.post(body)
        self.assertEqual(status, 200)
        partner = self.env["res.partner"].browse(int(answer["id"]))
        self.assertEqual((partner.name, partner.mobile), ("Moussa Diop", "+221775556677"))
        self.assertEqual(answer["contactData"], [{"chatType": "whatsapp", "chatId": "221775556677"}])
        self.assertTrue(answer["uri"].endswith(f"/odoo/res.partner/{partner.id}"))
        self.assertEqual(self.post(body)[1]["id"], answer["id"])  # asked again: the same contact
        known = {"createContact": {"responsibleUserId": "2", "name": "Awa",
                                   "contactData": [{"chatType": "whatsapp", "chatId": NUMBER}]}}
        self.assertEqual(self.post(known)[1]["id"], str(self.partner.id))  # an existing number is not duplicated
        self.assertEqual(self.post({"createContact": {"name": "x"}})[0], 400)

    def test_create_deal_without_crm(self):
        """Without crm (this addon does not depend on it) Wazzup is told so, and nothing is kept; with crm the lead
        is made (tests/crm/test_wazzup_crm.py)."""
        self.assertNotIn("crm.lead", self.env)
        body = {"createDeal": {"responsibleUserId": "1", "contacts": [str(self.partner.id)], "source": "byUser"}}
        status, answer = self.post(body)
        self.assertEqual((status, answer["error"]), (400, "dealsUnavailable"))
        self.assertFalse(self.events())

    def test_events_are_stored_as_the_orm_would(self):
        """Events are inserted in SQL (ON CONFLICT DO NOTHING: a racing repeat is a quiet duplicate, see
        test_wazzup_webhook_race): every stored field that is required, has a default or is computed is among
        EVENT_COLUMNS, or is one a Wazzup event leaves empty."""
        Event = self.env["notify.inbound.event"]
        needing = {name for name, field in Event._fields.items()
                   if field.store and field.column_type and name != "id"
                   and (field.required or field.default or field.related or field.compute)}
        self.assertEqual(needing - set(EVENT_COLUMNS), set(), "add these fields to EVENT_COLUMNS")
        self.post(self.inbound("in-columns"))
        event = self.events()
        self.assertRecordValues(event, [{"source": "wazzup", "action": "message", "external_id": "in-columns",
                                         "company_id": self.account.company_id.id,
                                         "provider_account_id": self.account.id, "processed_at": False}])
        self.assertEqual((event.payload["messageId"], event.payload["text"]), ("in-columns", "Bonjour, ma commande ?"))
        self.assertTrue(event.received_at and event.create_uid and event.create_date)
        self.assertEqual(event.display_name, "Wazzup message in-columns")

    def test_channel_updates(self):
        self.post({"channelsUpdates": [{"channelId": "chan-1", "state": "phoneUnavailable", "timestamp": 1}]})
        self.assertEqual((self.channel.state, self.channel.provider_state), ("phoneunavailable", "phoneUnavailable"))
        self.post({"channelsUpdates": [{"channelId": "chan-1", "state": "somethingNew"}]})
        self.assertEqual(self.channel.state, "other")
