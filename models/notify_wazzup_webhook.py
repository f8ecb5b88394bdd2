"""What Wazzup's webhooks say, applied: one model method for the controller (controllers/wazzup_webhook.py).

Every item is recorded once as a notify.inbound.event (source 'wazzup'; the row is the idempotency key: a
delivery Wazzup repeats is applied once). What must be answered at once is done in the request: the statuses of
our messages (the same ``_apply_status`` as the status poller: one state machine), channel states, and the
contact/deal Wazzup asks us to create (its answer is that entity). Incoming messages are posted on the chatter by
a cron, after the answer (Wazzup expects the 200 within 30 s).
"""

import hashlib
import logging

from markupsafe import Markup, escape
from psycopg2.errors import SerializationFailure
from psycopg2.extras import Json

from odoo import api, fields, models
from odoo.tools import SQL

from ..clients.phone import InvalidPhoneError, to_e164
from ..clients.wazzup import status_result
from ..tools.cron_wakeup import trigger_cron_soon
from ..tools.storable import storable_json, storable_text

_logger = logging.getLogger(__name__)

KEY_MAX = 255
# the stored columns of an event as `_wazzup_event` inserts it; the others are NULL, as the ORM's create leaves them
# for a Wazzup event (a test keeps this list in line with the model's fields)
EVENT_COLUMNS = ("source", "action", "external_id", "payload", "company_id", "provider_account_id", "received_at",
                 "create_uid", "create_date", "write_uid", "write_date")


def _items(value):
    """The objects of a list of a webhook body; anything else (a number, a string, an object) holds none."""
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


class NotifyInboundEvent(models.Model):
    _inherit = "notify.inbound.event"

    source = fields.Selection(selection_add=[("wazzup", "Wazzup")], ondelete={"wazzup": "cascade"})
    provider_account_id = fields.Many2one("notify.provider.account", readonly=True, ondelete="cascade",
                                          index="btree_not_null")
    processed_at = fields.Datetime(readonly=True, help="When the event was carried to its record; empty: to do.")
    result = fields.Char(readonly=True, help="What the event did (posted on a contact, matched our message...).")

    # ---- the controller's one method --------------------------------------------------------------------
    @api.model
    def _wazzup_receive(self, account, body):
        """Apply one verified webhook body; return (HTTP status, JSON answer)."""
        company = account.company_id
        if body.get("test") is True:
            return 200, {"ok": True}
        answer = {"ok": True}
        if isinstance(body.get("createContact"), dict):
            return self._wazzup_create_contact(account, body["createContact"])
        if isinstance(body.get("createDeal"), dict):
            return self._wazzup_create_deal(account, body["createDeal"])
        queued = 0
        for item in _items(body.get("statuses")):
            queued += bool(self._wazzup_status(account, company, item))
        for item in _items(body.get("messages")):
            queued += self._wazzup_queue_message(account, company, item)
        for item in _items(body.get("channelsUpdates")):
            self.env["notify.wazzup.channel"].sudo()._wazzup_channel_update(account, item)
        if isinstance(body.get("templateStatus"), dict):
            item = body["templateStatus"]
            key = f"{item.get('templateGuid')}:{item.get('status')}"[:KEY_MAX]
            self._wazzup_event(account, "templateStatus", key, item)
        if queued:  # new messages to post, notes of statuses
            trigger_cron_soon(self.env, "notify_rules.ir_cron_notify_wazzup_messages")
        return 200, answer

    def _wazzup_event(self, account, action, key, payload, *, replay_unseen=False):
        """Store one item of a webhook as its event, or recognise it as stored already: (event, duplicate).

        One INSERT ... ON CONFLICT DO NOTHING on the events' unique key, so that a delivery Wazzup repeats while the
        first one is being applied waits for it and is then a quiet duplicate, where the ORM's create met the
        unique constraint and the cursor logged an ERROR. Under Odoo's REPEATABLE READ, when the other delivery
        committed a row this transaction's snapshot cannot see, PostgreSQL answers a serialization failure
        instead: the same duplicate, already applied by the other delivery. Statuses and messages take it as
        such (the event is then empty: there is nothing left to do); createContact / createDeal must answer the
        entity the other delivery made, which this snapshot cannot see, so they ask Odoo to replay the request
        (`replay_unseen`), whose new snapshot finds it."""
        now = fields.Datetime.now()
        values = {
            "source": "wazzup", "action": action, "external_id": storable_text(key, KEY_MAX),
            "payload": Json(storable_json(payload)) if payload else None, "company_id": account.company_id.id,
            "provider_account_id": account.id, "received_at": now,
            "create_uid": self.env.uid, "create_date": now, "write_uid": self.env.uid, "write_date": now,
        }
        insert = SQL(
            "INSERT INTO notify_inbound_event (%s) VALUES (%s) "
            "ON CONFLICT (company_id, source, action, external_id) DO NOTHING RETURNING id",
            SQL(", ").join(SQL.identifier(column) for column in EVENT_COLUMNS),
            SQL(", ").join(SQL("%s", values[column]) for column in EVENT_COLUMNS),
        )
        try:
            with self.env.cr.savepoint(flush=False):
                self.env.cr.execute(insert, log_exceptions=False)
                row = self.env.cr.fetchone()
        except SerializationFailure:
            if replay_unseen:
                raise
            return self.browse(), True
        if row:
            return self.browse(row[0]), False
        self.env.cr.execute(SQL(
            "SELECT id FROM notify_inbound_event WHERE company_id = %s AND source = 'wazzup' AND action = %s "
            "AND external_id = %s", account.company_id.id, action, values["external_id"]))
        return self.browse(self.env.cr.fetchone()[0]), True

    # ---- statuses of our messages ------------------------------------------------------------------------
    def _wazzup_status(self, account, company, item):
        message_id = storable_text(item.get("messageId") or "", 200)
        status = status_result(storable_json(item))
        if not message_id or status is None:
            return
        event, duplicate = self._wazzup_event(account, "status", f"{message_id}:{status.provider_status}", item)
        if duplicate:
            return
        message = self.env["notify.message"].sudo().search(
            [("provider_account_id", "=", account.id), ("provider_ref", "=", message_id)], limit=1)
        if not message:
            event.write({"processed_at": fields.Datetime.now(), "result": "unknown message"})
            return
        with self.env.cr.savepoint():
            changed = message.with_context(notify_note_later=True)._apply_status(status)
        # the chatter note of the new state comes from the cron, after the answer (processed_at empty until then)
        event.write({"processed_at": False if changed else fields.Datetime.now(),
                     "result": f"notify.message {message.id}"})
        return changed

    # ---- incoming messages -------------------------------------------------------------------------------
    def _wazzup_queue_message(self, account, company, item):
        message_id = storable_text(item.get("messageId") or "", 200)
        if not message_id:
            return 0
        suffix = ":deleted" if item.get("isDeleted") else ""
        if item.get("isEdited") and not suffix:  # each edit is news of its own: keyed by its new text
            suffix = ":edited:" + hashlib.sha1(storable_text(item.get("text") or "").encode()).hexdigest()[:16]
        event, duplicate = self._wazzup_event(account, "message", message_id + suffix, item)
        if duplicate:
            return 0
        ours = self.env["notify.message"].sudo().search_count(
            [("provider_account_id", "=", account.id), ("provider_ref", "=", message_id)], limit=1)
        if ours:  # our own send, echoed: already on the record
            event.write({"processed_at": fields.Datetime.now(), "result": "our message"})
            return 0
        return 1

    @api.model
    def _cron_wazzup_messages(self, limit=200):
        """Post the incoming messages on the chatter of the contact of their number (created when unknown, per the
        account's setting)."""
        events = self.sudo().search([("source", "=", "wazzup"), ("action", "in", ("message", "status")),
                                     ("processed_at", "=", False)], order="id", limit=limit)
        for event in events:
            try:
                with self.env.cr.savepoint():
                    if event.action == "status":
                        event._wazzup_note_status()
                        event.processed_at = fields.Datetime.now()
                        continue
                    event.write({"processed_at": fields.Datetime.now(), "result": event._wazzup_post_message()})
            except Exception:  # noqa: BLE001 - one message's problem must not stop the others
                _logger.exception("Could not post the Wazzup message of notify.inbound.event %s", event.id)
        if len(events) == limit:
            trigger_cron_soon(self.env, "notify_rules.ir_cron_notify_wazzup_messages")

    def _wazzup_note_status(self):
        """The chatter note of a status a webhook applied (the message's record says it was delivered, read...)."""
        self.ensure_one()
        message_id = int((self.result or "").split()[-1]) if (self.result or "").startswith("notify.message ") else 0
        message = self.env["notify.message"].sudo().browse(message_id).exists()
        status = status_result(self.payload or {})
        if message and status:
            message._post_on_record(status.status, detail=message.last_error if status.status == "failed" else None)

    def _wazzup_post_message(self):
        self.ensure_one()
        item = self.payload or {}
        account = self.provider_account_id
        partner = self._wazzup_partner(account, item)
        if not partner:
            return "no contact"
        self.partner_id = partner
        text = item.get("text") or ""
        body = Markup("<p>%s</p>") % escape(text) if text else Markup("")
        if item.get("contentUri"):
            body += Markup('<p><a href="%s" target="_blank" rel="noopener">%s</a></p>') % (
                item["contentUri"], self.env._("Attachment (%s)", item.get("type") or "file"))
        if item.get("isDeleted"):
            body = Markup("<p><em>%s</em></p>") % self.env._("(message deleted in WhatsApp)") + body
        elif item.get("isEdited"):
            body = Markup("<p><em>%s</em></p>") % self.env._("(message edited)") + body
        channel = item.get("chatType") or "whatsapp"
        heading = self.env._("%(channel)s from %(number)s", channel=channel.capitalize(),
                             number=item.get("chatId") or "")
        if item.get("isEcho"):
            heading = self.env._("%(channel)s sent by %(author)s from the phone", channel=channel.capitalize(),
                                 author=item.get("authorName") or self.env._("a colleague"))
        message = partner.message_post(
            body=Markup("<p><strong>%s</strong></p>") % heading + body,
            author_id=False if item.get("isEcho") else partner.id,
            message_type="comment", subtype_xmlid="mail.mt_note")
        return f"mail.message {message.id} on res.partner {partner.id}"

    def _wazzup_partner(self, account, item):
        """The contact of the message's number (of the account's company, or shared); created when unknown if the
        account says so."""
        chat_id = "".join(ch for ch in str(item.get("chatId") or "") if ch.isdigit())
        contact = item.get("contact") if isinstance(item.get("contact"), dict) else {}
        return self._wazzup_find_partner(account, chat_id) or (
            self._wazzup_new_partner(account, chat_id, contact.get("name")) if account.wazzup_create_partners
            else self.env["res.partner"])

    def _wazzup_find_partner(self, account, chat_id):
        try:
            e164 = to_e164("+" + chat_id)
        except InvalidPhoneError:
            return self.env["res.partner"]
        partners = self.env["res.partner"].sudo()
        domain = [("company_id", "in", [account.company_id.id, False])]
        return partners.search(domain + [("phone_sanitized", "=", e164)], limit=1) or partners.search(
            domain + [("phone_mobile_search", "=", e164)], limit=1)

    def _wazzup_new_partner(self, account, chat_id, name):
        return self.env["res.partner"].sudo().create({
            "name": storable_text(name or ("+" + chat_id), 200), "mobile": "+" + chat_id,
            "company_id": account.company_id.id})

    # ---- contacts and deals Wazzup asks for ---------------------------------------------------------------
    def _wazzup_create_contact(self, account, item):
        data = [d for d in _items(item.get("contactData")) if d.get("chatId")]
        if not data:
            return 400, {"error": "VALIDATION_ERROR", "description": "contactData with a chatId is required"}
        chat_id = storable_text(data[0]["chatId"], 64)
        event, duplicate = self._wazzup_event(account, "createContact", chat_id, item, replay_unseen=True)
        partner = event.partner_id
        if not partner:
            digits = "".join(ch for ch in chat_id if ch.isdigit())
            partner = self._wazzup_find_partner(account, digits) or self._wazzup_new_partner(
                account, digits, item.get("name"))
            event.write({"partner_id": partner.id, "processed_at": fields.Datetime.now(),
                         "result": f"res.partner {partner.id}"})
        return 200, {
            "id": str(partner.id),
            "responsibleUserId": str(item.get("responsibleUserId") or ""),
            "name": partner.name,
            "contactData": [{"chatType": d.get("chatType") or "whatsapp", "chatId": str(d["chatId"])} for d in data],
            "uri": self._wazzup_uri(partner),
        }

    def _wazzup_create_deal(self, account, item):
        if "crm.lead" not in self.env:
            return 400, {"error": "dealsUnavailable", "description": "CRM is not installed in this Odoo."}
        contacts = [str(c) for c in item.get("contacts") if str(c).isdigit()] if isinstance(
            item.get("contacts"), list) else []
        key = f"{item.get('responsibleUserId')}:{','.join(contacts)}:{item.get('source')}"[:KEY_MAX]
        event, duplicate = self._wazzup_event(account, "createDeal", key, item, replay_unseen=True)
        leads = self.env["crm.lead"].sudo()
        lead = leads.browse(int(event.result.split()[-1])).exists() if duplicate and event.result else leads
        if not lead:
            partner = self.env["res.partner"].sudo().browse([int(c) for c in contacts[:1]]).exists()
            lead = leads.create({"name": self.env._("WhatsApp: %s", partner.name or self.env._("new client")),
                                 "partner_id": partner.id, "company_id": account.company_id.id, "type": "lead"})
            event.write({"partner_id": partner.id, "processed_at": fields.Datetime.now(),
                         "result": f"crm.lead {lead.id}"})
        return 200, {"id": str(lead.id), "responsibleUserId": str(item.get("responsibleUserId") or ""),
                     "name": lead.name, "uri": self._wazzup_uri(lead), "contacts": contacts, "closed": False}

    def _wazzup_uri(self, record):
        base = self.env["ir.config_parameter"].sudo().get_param("web.base.url", "").rstrip("/")
        return f"{base}/odoo/{record._name}/{record.id}"[:200]
