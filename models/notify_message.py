import logging
import uuid

from markupsafe import Markup

from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError
from odoo.tools.sql import create_index

from ..clients.phone import format_international
from ..tools.field_path import value_to_text

_logger = logging.getLogger(__name__)

STATES = [
    ("queued", "Queued"),
    ("sending", "Sending"),
    ("sent", "Sent"),
    ("delivered", "Delivered"),
    ("read", "Read"),
    ("failed", "Failed"),
    ("unknown", "Outcome unknown"),
    ("cancelled", "Cancelled"),
]
# What a message says about a person, shown only to whoever may read the document it was sent about.
CONTENT_FIELDS = frozenset({"payload", "payload_text", "body", "recipient_e164", "recipient_provider", "res_name"})


class NotifyMessage(models.Model):
    """The outbox. Rules only create rows here; the dispatcher cron sends them.

    A message is claimed with ``FOR UPDATE SKIP LOCKED`` and committed as ``sending`` *before* the HTTP call,
    so a crash can never turn it back into ``queued`` (which would send it twice). A message left in
    ``sending`` is recovered by ``_recover_stuck_messages``: looked up at the provider where the provider can
    tell, otherwise marked "outcome unknown" for a person to decide.
    """

    _name = "notify.message"
    _description = "Outgoing notification"
    _order = "id desc"
    _rec_name = "display_label"

    # Everything is written by the rules engine and the dispatcher: the form is a read-only audit trail.
    display_label = fields.Char(compute="_compute_display_label")
    provider_account_id = fields.Many2one(
        "notify.provider.account", string="Provider account", required=True, ondelete="restrict",
        readonly=True,
    )
    provider = fields.Selection(related="provider_account_id.provider", store=True)
    company_id = fields.Many2one(related="provider_account_id.company_id", store=True)
    channel = fields.Selection(
        [("whatsapp", "WhatsApp"), ("sms", "SMS")], required=True, default="whatsapp", readonly=True
    )
    rule_id = fields.Many2one("notify.rule", ondelete="set null", index=True, readonly=True)
    recipient_e164 = fields.Char(string="Recipient", readonly=True)
    recipient_provider = fields.Char(string="Recipient (provider format)", readonly=True)
    template_ref = fields.Char(string="Template", readonly=True)
    payload = fields.Json(string="Variables", readonly=True)
    body = fields.Text(string="SMS text", readonly=True)
    route_id = fields.Many2one("notify.rule.route", ondelete="set null", readonly=True,
                               help="Empty: the rule's own delivery.")
    route_note = fields.Text(string="Routing", readonly=True,
                             help="Routes that could not carry the message before the one it went through.")
    fallback_of_id = fields.Many2one(
        "notify.message", string="Fallback of", ondelete="set null", readonly=True, index="btree_not_null",
        help="This message is the next route's attempt after that one failed for good.")
    payload_text = fields.Text(string="Variables (text)", compute="_compute_payload_text")
    res_model = fields.Char(string="Related model", readonly=True)
    res_id = fields.Many2oneReference(string="Related record ID", model_field="res_model", readonly=True)
    res_name = fields.Char(string="Document", readonly=True)
    state = fields.Selection(
        STATES, string="Status", required=True, default="queued", index=True, copy=False, readonly=True
    )
    provider_ref = fields.Char(string="Provider reference", index=True, copy=False, readonly=True)
    provider_status = fields.Char(string="Provider status", copy=False, readonly=True)
    attempts = fields.Integer(default=0, copy=False, readonly=True)
    next_attempt_at = fields.Datetime(string="Next attempt", default=fields.Datetime.now, copy=False,
                                      readonly=True)
    sending_since = fields.Datetime(string="Sending since", copy=False, readonly=True)
    last_attempt_at = fields.Datetime(string="Last attempt", copy=False, readonly=True)
    sent_at = fields.Datetime(string="Sent on", copy=False, readonly=True)
    last_polled_at = fields.Datetime(string="Last status check", copy=False, readonly=True)
    status_check_failures = fields.Integer(string="Failed status checks", default=0, copy=False, readonly=True)
    status_check_error = fields.Text(string="Last status check error", copy=False, readonly=True)
    last_error = fields.Text(string="Last error", copy=False, readonly=True)
    cost = fields.Monetary(copy=False, readonly=True, currency_field="currency_id")
    currency_id = fields.Many2one("res.currency", copy=False, readonly=True)
    currency = fields.Char(string="Provider currency code", copy=False, readonly=True)
    scheduled_at = fields.Datetime(string="Scheduled for", readonly=True, copy=False,
                                   help="When the provider says it will deliver the message (from its answer).")
    idempotency_key = fields.Char(required=True, copy=False, default=lambda self: uuid.uuid4().hex,
                                  readonly=True)
    to_render = fields.Boolean(
        readonly=True, copy=False, help="Recipient and variables are resolved by the dispatcher, just before sending."
    )
    content_restricted = fields.Boolean(
        compute="_compute_content_restricted",
        help="You may not read the document this message was sent about: its content is hidden.",
    )

    _sql_constraints = [
        ("idempotency_key_unique", "UNIQUE(idempotency_key)", "A message with this idempotency key already exists."),
    ]

    def _auto_init(self):
        """Few, composite indexes: every message is inserted inside a business transaction, and each index
        costs on that path. They serve the dispatcher's and the poller's claims, and the record's lookups (the rate
        window has its own table, notify.provider.request).

        Partial wherever the query allows, with a WHERE that a freshly inserted message (``queued``) does not
        match: the insert in the business transaction never pays for them. Measured with 1,000,000 messages
        (bench/bench_scale.py, bench/README.md "Scale"):

        - ``claim``: the dispatcher's claim, the render and urgent picks (a few thousand rows at most), in the
          claim's own order (``next_attempt_at NULLS FIRST, id``): the claim reads the first rows and stops,
          where the former (account, next_attempt_at) index made it sort every queued row (10.7 ms a claim with
          10,000 queued, growing with the queue; bench/bench_dispatch.py);
        - ``poll``: the poller's claim reads the sent/delivered messages of an account sent in the last days:
          a range on ``sent_at``. Without it, a bitmap of every sent/delivered message (65% of the table):
          0.9 s per claim. It replaces ``(provider_account_id, last_polled_at)``, which no query used and which
          made every poll stamp a non-HOT update.

        The retention purge has no index of its own: ids grow with the date, so PostgreSQL finds the oldest final
        messages by the primary key (10-30 ms a batch of 5,000); only the last batch of a company reads the table
        (0.35 s at 500,000 messages, once a run). A partial (company_id, create_date) index of the final messages
        (30 MB) was not chosen by the planner for either: it would only have cost on every final state reached.
        """
        res = super()._auto_init()
        cr = self.env.cr
        cr.execute("DROP INDEX IF EXISTS notify_message_due_idx")
        create_index(cr, "notify_message_claim_idx", self._table,
                     ["provider_account_id", "next_attempt_at NULLS FIRST", "id"], where="state = 'queued'")
        cr.execute("DROP INDEX IF EXISTS notify_message_polled_idx")
        create_index(cr, "notify_message_poll_idx", self._table, ["provider_account_id", "sent_at"],
                     where="state IN ('sent', 'delivered') AND provider_ref IS NOT NULL")
        create_index(cr, "notify_message_record_idx", self._table, ["res_model", "res_id"])
        return res

    def _compute_display_label(self):
        no_phone = self.env._("no phone number")
        pending = self.env._("recipient resolved when sending")
        hidden = self._notify_hidden_ids()
        for message in self:
            label = message.sudo().rule_id.name or message.template_ref or ""
            if message.id in hidden:
                message.display_label = label
                continue
            recipient = message.recipient_e164 or (pending if message.to_render else no_phone)
            message.display_label = f"{label} → {recipient}"

    def _compute_content_restricted(self):
        hidden = self._notify_hidden_ids()
        for message in self:
            message.content_restricted = message.id in hidden

    def _notify_hidden_ids(self):
        """Ids of the messages about documents the current user may not read (the rules engine renders as
        superuser: the recipient and the variables come from records the reader may not see)."""
        if self.env.su:
            return set()
        hidden = set()
        records = self.sudo().filtered("id")
        for model_name, messages in records.grouped("res_model").items():
            if not model_name:
                continue
            if model_name not in self.env:
                hidden.update(messages.ids)
                continue
            documents = self.env[model_name].browse(messages.mapped("res_id"))
            readable = set(documents._filtered_access("read").ids) if documents.has_access("read") else set()
            hidden.update(m.id for m in messages if m.res_id not in readable)
        return hidden

    def _read_format(self, fnames, load="_classic_read"):
        """Reads (form, list, RPC) show a message's content only where the reader may read its document."""
        result = super()._read_format(fnames, load=load)
        masked = CONTENT_FIELDS.intersection(fnames)
        if not masked or self.env.su:
            return result
        hidden = self.browse([values["id"] for values in result])._notify_hidden_ids()
        if hidden:
            notice = self.env._("Hidden: you may not read the document this message is about.")
            for values in result:
                if values["id"] in hidden:
                    for name in masked:
                        values[name] = notice if name in ("payload_text", "res_name", "body") else False
        return result

    def _compute_payload_text(self):
        for message in self:
            payload = dict(message.payload or {})
            # the database sorts JSON keys: show them in the rule's order
            order = message.rule_id.variable_ids.mapped("name")
            names = [n for n in order if n in payload] + sorted(n for n in payload if n not in order)
            message.payload_text = "\n".join(f"{name}: {payload[name]}" for name in names)

    # ---- buttons --------------------------------------------------------------------------------------
    def _notify_button_sudo(self):
        """Nobody writes messages directly (no write access on the model, RPC included): the rules engine, the
        dispatcher and these buttons do. A button acts as superuser, for a Notify Manager, on the messages
        that manager can read (their companies)."""
        if not self.env.su and not self.env.user.has_group("notify_rules.group_notify_manager"):
            raise AccessError(self.env._("Only Notify managers can resend, cancel or mark messages."))
        self.check_access("read")
        return self.sudo()

    def action_retry(self):
        """Send again. For "outcome unknown" this is the person's decision that the first try did not arrive."""
        retriable = self._notify_button_sudo().filtered(lambda m: m.state in ("failed", "unknown", "cancelled"))
        if not retriable:
            raise UserError(self.env._("Only failed, cancelled or outcome-unknown messages can be sent again."))
        retriable.filtered(lambda m: not m.provider_ref)._rerender()
        unsendable = retriable.filtered(lambda m: m.state == "failed" and not m.recipient_e164)
        if unsendable:
            raise UserError(
                self.env._("Still cannot be sent: %s", unsendable[0].last_error or self.env._("no phone number"))
            )
        if any(not m.recipient_e164 for m in retriable):
            raise UserError(
                self.env._("A message without a valid recipient cannot be sent: fix the record and its rule.")
            )
        # a resend goes through the recipient safeguards again: what stopped it before is forgotten
        retriable.write({"state": "queued", "attempts": 0, "next_attempt_at": fields.Datetime.now(),
                         "sending_since": False, "safeguard": False, "safeguard_note": False})
        self._trigger_dispatch()
        return True

    def _rerender(self):
        """Before a resend, take the record's current data (the person may just have fixed the phone)."""
        for message in self.filtered(lambda m: m.rule_id and m.res_model in self.env and m.res_id):
            record = self.env[message.res_model].sudo().browse(message.res_id).exists()
            if record:
                message.write(message.rule_id.with_env(message._user_env()).sudo()._prepare_message_vals(
                    record, after_route=message.fallback_of_id.route_id if message.fallback_of_id else None))

    def action_cancel(self):
        cancellable = self._notify_button_sudo().filtered(lambda m: m.state in ("queued", "failed", "unknown"))
        if not cancellable:
            raise UserError(self.env._("Only queued, failed or outcome-unknown messages can be cancelled."))
        cancellable.write({"state": "cancelled", "sending_since": False})
        return True

    def action_mark_sent(self):
        """A person checked that an "outcome unknown" message did arrive."""
        unknown = self._notify_button_sudo().filtered(lambda m: m.state == "unknown")
        unknown.write({"state": "sent", "sent_at": fields.Datetime.now(), "last_error": False})
        return True

    @api.model
    def _trigger_dispatch(self, at=None):
        self.env.ref("notify_rules.ir_cron_notify_dispatch").sudo()._trigger(at=at)

    def action_open_record(self):
        self.ensure_one()
        if not (self.res_model and self.res_id):
            return False
        return {
            "type": "ir.actions.act_window", "res_model": self.res_model, "res_id": self.res_id, "view_mode": "form",
        }

    # ---- chatter --------------------------------------------------------------------------------------
    def _user_env(self):
        """The language of the person whose action queued the message: its notes and errors speak it."""
        return self.with_context(lang=self.create_uid.lang or self.env.lang).env

    def _post_on_record(self, event, detail=None):
        """Log on the related record's chatter, with a link back to the message.

        ``event``: 'sent', 'failed', 'unknown', 'unsendable', or a state reached by polling.
        """
        self.ensure_one()
        if not (self.res_model and self.res_id) or self.res_model not in self.env:
            return
        env = self._user_env()
        record = env[self.res_model].sudo().browse(self.res_id).exists()
        if not record or not hasattr(record, "message_post"):
            return
        events = {
            "sent": env._("sent"),
            "failed": env._("failed"),
            "unknown": env._("outcome unknown, check before resending"),
            "unsendable": env._("cannot be sent"),
        }
        states = dict(self._fields["state"]._description_selection(env))
        heading = env._(
            "%(rule)s — %(channel)s to %(to)s: %(event)s",
            rule=self.rule_id.with_env(env).name or self.template_ref or env._("Message"),
            channel=value_to_text(self.with_env(env), "channel", self.channel),
            to=format_international(self.recipient_e164) or env._("no phone number"),
            event=events.get(event) or states.get(event, event),
        )
        body = Markup('<a href="#" data-oe-model="notify.message" data-oe-id="%s">%s</a>') % (self.id, heading)
        if not self.rule_id and self.body and event == "sent":  # a message written by hand (the chat composer)
            body += Markup("<br/>") + self.body
        if detail:
            body += Markup("<br/>") + detail
        try:
            with self.env.cr.savepoint():
                record.message_post(body=body, message_type="notification", subtype_xmlid="mail.mt_note")
        except Exception:  # noqa: BLE001 - a note that cannot be posted must not undo the message's state
            _logger.exception("Could not log notify.message %s on %s,%s", self.id, self.res_model, self.res_id)

