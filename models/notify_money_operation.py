"""A mobile money operation (Intech): a collection, a payout, an airtime top-up or a bill payment.

The request leaves through the outbox like any provider call (one notify.message per operation, whose idempotency
key is the operation's externalTransactionId: the unique key makes a second request impossible), so it inherits
the dispatcher's guarantees: committed as "sending" before the HTTP call, rate limit, pause on bad keys, bounded
runs, and never re-sent blindly after a crash. The outcome comes from Intech's signed IPN (controllers/intech_ipn.py).

One state machine, ``_money_apply_news``, whichever way the news arrives (the answer to the request, an IPN, a
person who checked Intech's dashboard):

    draft -> pending -> done | failed        (cancelled: before the request left; unknown: the answer was lost)

A final state reached on Intech's word (an IPN, or a person) never moves again: a repeated IPN changes nothing, a
late "pending" is ignored, a contradicting one is kept and flagged for review. A failure or an unknown outcome we
concluded ourselves (an unreadable answer, a time-out) gives way to what a signed IPN says, since money may have
moved after all.
"""

import logging
import threading
import uuid

import phonenumbers
from markupsafe import Markup

from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError, ValidationError

from ..clients.intech import OperationRequest, intech_phone
from ..clients.phone import InvalidPhoneError, format_international, to_e164
from ..tools.cron_wakeup import trigger_cron_soon
from ..tools.provider_errors import phone_error_text

_logger = logging.getLogger(__name__)

STATES = [
    ("draft", "Draft"),
    ("pending", "Pending"),
    ("done", "Done"),
    ("failed", "Failed"),
    ("cancelled", "Cancelled"),
    ("unknown", "Outcome unknown"),
]
FINAL_STATES = ("done", "failed", "cancelled")
# how a state was reached: 'provider' (an IPN, a success in the answer), 'person' (marked by hand), 'local' (our
# reading: a refusal or an unreadable answer, a lost answer)
AUTHORITATIVE = ("provider", "person")


class NotifyMoneyOperation(models.Model):
    _name = "notify.money.operation"
    _inherit = ["mail.thread"]
    _description = "Mobile money operation"
    _order = "id desc"
    _rec_name = "external_id"

    external_id = fields.Char(
        string="Reference", required=True, readonly=True, copy=False, index=True,
        default=lambda self: uuid.uuid4().hex,
        help="Our externalTransactionId: Intech's IPN names the operation by it.")
    provider_account_id = fields.Many2one(
        "notify.provider.account", string="Intech account", required=True, ondelete="restrict", tracking=True,
        domain="[('provider', '=', 'intech'), ('company_id', '=', company_id)]")
    company_id = fields.Many2one("res.company", required=True, default=lambda self: self.env.company, index=True)
    service_id = fields.Many2one(
        "notify.intech.service", required=True, ondelete="restrict", tracking=True,
        domain="[('provider_account_id', '=', provider_account_id)]")
    kind = fields.Selection(related="service_id.kind", store=True)
    phone = fields.Char(required=True, tracking=True, help="The wallet's number, as typed.")
    recipient_e164 = fields.Char(string="Number", compute="_compute_recipient", store=True)
    amount = fields.Integer(required=True, tracking=True,
                            help="In the service's currency, without decimals (XOF in Senegal and Côte d'Ivoire).")
    currency_id = fields.Many2one("res.currency", default=lambda self: self.env.ref("base.XOF", False),
                                  required=True)
    partner_id = fields.Many2one("res.partner", string="Contact", index="btree_not_null")
    extra = fields.Json(string="Additional fields", copy=False,
                        help="Fields some services need beyond the documented ones, sent after them.")
    state = fields.Selection(STATES, default="draft", required=True, readonly=True, copy=False, index=True,
                             tracking=True)
    state_source = fields.Selection(
        [("local", "Our reading"), ("provider", "Intech"), ("person", "A person")], readonly=True, copy=False,
        string="Decided by")
    state_reason = fields.Text(string="Reason", readonly=True, copy=False)
    provider_ref = fields.Char(string="Intech transaction", readonly=True, copy=False, index="btree_not_null")
    provider_status = fields.Char(string="Intech status", readonly=True, copy=False)
    answer_raw = fields.Json(string="Intech's answer", readonly=True, copy=False)
    message_id = fields.Many2one("notify.message", string="Request", readonly=True, copy=False,
                                 ondelete="set null")
    callback_ids = fields.One2many("notify.money.callback", "operation_id", string="Callbacks", readonly=True)
    needs_review = fields.Boolean(readonly=True, copy=False, tracking=True,
                                  help="Intech said something that contradicts the final state: check it.")
    requested_at = fields.Datetime(readonly=True, copy=False)
    done_at = fields.Datetime(string="Settled on", readonly=True, copy=False)
    post_process_due = fields.Boolean(readonly=True, copy=False, index=True,
                                      help="The outcome still has to be carried to the business record.")
    res_model = fields.Char(string="Related model", readonly=True)
    res_id = fields.Many2oneReference(string="Related record ID", model_field="res_model", readonly=True)
    res_name = fields.Char(string="Document", readonly=True)
    rule_id = fields.Many2one("notify.rule", readonly=True, ondelete="set null")

    _sql_constraints = [
        ("external_id_unique", "UNIQUE(external_id)", "An operation with this reference already exists."),
    ]

    @api.depends("phone", "service_id", "provider_account_id")
    def _compute_recipient(self):
        for operation in self:
            try:
                operation.recipient_e164 = operation._money_e164()
            except (InvalidPhoneError, phonenumbers.NumberParseException):
                operation.recipient_e164 = False

    def _money_country(self):
        return self.service_id.country_id.code or None

    def _money_e164(self):
        """The number in E.164, read in the service's country (else the account's) when written locally."""
        country = self._money_country() or self.provider_account_id.default_country_id.code or None
        return to_e164(self.phone or "", country)

    @api.constrains("phone", "service_id", "provider_account_id", "amount", "company_id")
    def _check_operation(self):
        for operation in self:
            if operation.provider_account_id.provider != "intech":
                raise ValidationError(self.env._("A mobile money operation goes through an Intech account."))
            if operation.provider_account_id.company_id != operation.company_id:
                raise ValidationError(self.env._("The Intech account belongs to another company."))
            if operation.service_id.provider_account_id != operation.provider_account_id:
                raise ValidationError(self.env._("The service is not in this account's catalogue."))
            if operation.amount <= 0:
                raise ValidationError(self.env._("The amount must be a whole number above 0."))
            operation._money_check_phone()

    def _money_check_phone(self):
        try:
            intech_phone(self._money_e164(), self._money_country(), self.provider_account_id.intech_phone_format)
        except InvalidPhoneError as error:
            if error.code == "wrong_country":
                raise ValidationError(self.env._(
                    "The number %(number)s cannot be served by %(service)s: it is not a number of %(country)s.",
                    number=self.phone, service=self.service_id.display_name,
                    country=self.service_id.country_id.name or self.env._("Senegal or Côte d'Ivoire"))) from None
            raise ValidationError(phone_error_text(self.env, error, self.service_id.country_id.name or "")) from None
        except phonenumbers.NumberParseException:
            raise ValidationError(self.env._("The number %s is not a valid phone number.", self.phone)) from None

    @api.depends("external_id", "service_id", "amount")
    def _compute_display_name(self):
        for operation in self:
            operation.display_name = self.env._(
                "%(service)s, %(amount)s %(currency)s (%(ref)s)", service=operation.service_id.name or "",
                amount=operation.amount, currency=operation.currency_id.name or "",
                ref=(operation.external_id or "")[:8])

    def write(self, vals):
        locked = set(vals) & {"service_id", "phone", "amount", "provider_account_id", "extra", "company_id"}
        if locked and any(op.state != "draft" for op in self):
            raise UserError(self.env._("Only a draft operation can be changed: this one was already requested."))
        return super().write(vals)

    @api.ondelete(at_uninstall=False)
    def _unlink_only_drafts(self):
        if any(op.state not in ("draft", "cancelled") for op in self):
            raise UserError(self.env._("An operation that was requested is kept for the audit: it cannot be "
                                       "deleted."))

    # ---- request ----------------------------------------------------------------------------------------
    @api.model
    def _money_action_new(self, record):
        """The form of a new operation for `record` (an invoice: a collection of what is due; a contact: a payout
        or an airtime top-up), from the "Mobile money" action of its form."""
        record.ensure_one()
        partner = record if record._name == "res.partner" else record.partner_id
        context = {
            "default_company_id": record.company_id.id or self.env.company.id,
            "default_partner_id": partner.id,
            "default_phone": partner.mobile or partner.phone or False,
            "default_res_model": record._name,
            "default_res_id": record.id,
            "default_res_name": record.display_name,
        }
        if record._name == "account.move":
            context["default_amount"] = int(record.amount_residual) if record.currency_id.name == "XOF" else 0
        account = self.env["notify.provider.account"].search(
            [("provider", "=", "intech"), ("company_id", "=", context["default_company_id"])], limit=1)
        context["default_provider_account_id"] = account.id
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Mobile money"),
            "res_model": self._name,
            "view_mode": "form",
            "target": "current",
            "context": context,
        }

    def action_request(self):
        """Queue the request (the dispatcher sends it): a business transaction never waits on Intech."""
        for operation in self:
            if operation.state != "draft":
                raise UserError(self.env._("The operation %s was already requested.", operation.display_name))
            operation._money_check_phone()
            record = operation._money_record()
            if record is not None:
                operation._money_link_record(record)
            operation._money_queue()
        self.env["notify.message"]._trigger_dispatch()
        return True

    def _money_queue(self, message=None):
        """Bind the operation to its request in the outbox (created here, or the rule's intent being rendered)."""
        self.ensure_one()
        vals = self._money_message_vals()
        if message is None:
            message = self.env["notify.message"].sudo().create(dict(
                vals, idempotency_key=self.external_id, res_model=self.res_model or self._name,
                res_id=self.res_id or self.id, res_name=self.res_name or self.display_name))
        self.write({"state": "pending", "message_id": message.id, "requested_at": fields.Datetime.now(),
                    "state_reason": False})
        return vals

    def _money_link_record(self, record):
        """Hook, when a rule creates the operation for `record`: a collection on an invoice gets its payment
        transaction (models/notify_money_operation_payment.py), so that the IPN pays and reconciles it."""
        return None

    def _money_message_vals(self):
        return {
            "provider_account_id": self.provider_account_id.id,
            "recipient_e164": self.recipient_e164,
            "recipient_provider": format_international(self.recipient_e164),
            "template_ref": self.service_id.code,
            "payload": {"amount": self.amount, "service": self.service_id.code},
            "money_operation_id": self.id,
            "to_render": False,
        }

    def _money_request(self, url_ipn):
        """(OperationRequest, country) for the client: what the dispatcher sends."""
        self.ensure_one()
        request = OperationRequest(phone_e164=self.recipient_e164 or self.phone, amount=self.amount,
                                   code_service=self.service_id.code, external_id=self.external_id,
                                   url_ipn=url_ipn, extra=dict(self.extra or {}))
        return request, self._money_country()

    # ---- the one state machine ------------------------------------------------------------------------
    def _money_lock(self):
        """Serialise news about one operation (two IPNs at once, an IPN during the answer)."""
        self.env.flush_all()
        self.env.cr.execute("SELECT id FROM notify_money_operation WHERE id IN %s FOR NO KEY UPDATE",
                            [tuple(self.ids)])
        self.invalidate_recordset()

    def _money_apply_news(self, state, source, *, reason=None, provider_ref=None, provider_status=None,
                          locked=False):
        """Move the operation to `state` ('pending', 'done', 'failed', 'unknown', 'cancelled') on news from
        `source` ('local', 'provider', 'person'). Returns what happened: 'applied', 'duplicate', 'ignored' (older
        news) or 'conflict' (contradicts a final state decided by Intech or a person: flagged for review)."""
        self.ensure_one()
        if self._money_is_repeat(state, provider_ref, provider_status):
            return "duplicate"  # news given again: nothing to write (read without a lock: final states never move)
        if not locked:  # `locked`: the caller holds the operation's row lock already, and read it after
            self._money_lock()
        vals = {}
        if provider_ref and not self.provider_ref:
            vals["provider_ref"] = provider_ref
        if provider_status:
            vals["provider_status"] = provider_status
        current, settled = self.state, self.state_source in AUTHORITATIVE
        if state == current:
            outcome = "duplicate"
        elif state == "pending" or (source == "local" and current in FINAL_STATES + ("unknown",)):
            # older news, or our own reading after something is known: never a step back
            outcome = "ignored" if current != "draft" else "applied"
        elif current in FINAL_STATES and settled:
            outcome = "conflict"
        elif current == "cancelled":
            outcome = "conflict"  # cancelled before it left: nothing can have happened
        else:
            outcome = "applied"
        if outcome == "applied":
            vals.update(state=state, state_source=source, state_reason=reason or False)
            if state in ("done", "failed"):
                vals.update(done_at=fields.Datetime.now(), post_process_due=True)
        elif outcome == "conflict":
            vals["needs_review"] = True
        if vals:
            # Intech's word is noted on the operation by the cron (_money_post_process), off the IPN's request: the
            # tracking of the state would cost the IPN a third of its time (bench/bench_ipn.py)
            self.sudo().with_context(tracking_disable=source == "provider").write(vals)
        if outcome == "conflict":
            self.sudo().message_post(body=self.env._(
                "Intech reported %(news)s, but the operation is already %(state)s: kept as it is, to review.",
                news=state, state=dict(self._fields["state"]._description_selection(self.env))[current]))
        if outcome == "applied" and state in ("done", "failed"):
            self._money_on_settled()
            self._money_trigger_post_process()
        return outcome

    def _money_on_settled(self):
        """Hook, in the same transaction as the outcome: what must follow at once (a payment transaction's state,
        for the customer's status page). Heavy work goes to _money_post_process, in a cron."""

    def _money_is_repeat(self, state, provider_ref, provider_status):
        """The operation already says exactly this, decided by Intech or a person: a final state never moves, so
        reading it without a lock is safe."""
        return (state == self.state and self.state in FINAL_STATES and self.state_source in AUTHORITATIVE
                and (not provider_ref or self.provider_ref == provider_ref)
                and (not provider_status or self.provider_status == provider_status))

    def _money_after_send(self, message, result_state, reason=None, provider_ref=None, provider_status=None,
                          answer=None):
        """The outbox's news about the request: accepted (pending, or done when Intech says so at once), refused,
        or lost."""
        self.ensure_one()
        if answer is not None:
            self.sudo().answer_raw = answer
        from ..clients.intech import normalise_status  # noqa: PLC0415 - small helper of the client

        if result_state == "sent":
            news = normalise_status(provider_status) or "pending"
            source = "provider" if news in ("done", "failed") else "local"
            return self._money_apply_news(news, source, reason=reason, provider_ref=provider_ref,
                                          provider_status=provider_status)
        return self._money_apply_news(result_state, "local", reason=reason)

    @api.model
    def _money_trigger_post_process(self):
        trigger_cron_soon(self.env, "notify_rules.ir_cron_notify_money_post_process")

    # ---- after the outcome: the business record -------------------------------------------------------
    @api.model
    def _cron_post_process(self, limit=200):
        """Carry settled operations to their records (payment, reconciliation, notes), off the IPN's request."""
        operations = self.sudo().search([("post_process_due", "=", True)], limit=limit, order="id")
        commit = not getattr(threading.current_thread(), "testing", False)
        for operation in operations:
            try:
                with self.env.cr.savepoint():
                    operation._money_post_process()
                    operation.post_process_due = False
            except Exception:  # noqa: BLE001 - one record's problem must not stop the others
                _logger.exception("Could not carry the outcome of notify.money.operation %s", operation.id)
            if commit:
                # one at a time: an IPN repeated meanwhile for this operation does not wait for the whole run
                self.env.cr.commit()  # pylint: disable=invalid-commit
        if len(operations) == limit:
            self._money_trigger_post_process()

    def _money_post_process(self):
        """After the outcome, in a cron: a note on the document (a payment transaction is settled at once, by
        _money_on_settled; Odoo's payment post-processing then pays and reconciles)."""
        self.ensure_one()
        states = dict(self._fields["state"]._description_selection(self.env))
        outcome = states[self.state]
        if self.state_source == "provider":
            note = self.env._("%(state)s, as Intech reported (%(status)s).", state=outcome,
                              status=self.provider_status or "")
            if self.state_reason:
                note = Markup("%s<br/>%s") % (note, self.state_reason)
            self.message_post(body=note, message_type="notification", subtype_xmlid="mail.mt_note")
        record = self._money_record()
        if record is not None and hasattr(record, "message_post"):
            body = Markup('<a href="#" data-oe-model="%s" data-oe-id="%s">%s</a>: %s') % (
                self._name, self.id, self.display_name, outcome)
            if self.state_reason:
                body += Markup("<br/>") + self.state_reason
            record.message_post(body=body, message_type="notification", subtype_xmlid="mail.mt_note")

    def _money_record(self):
        if not (self.res_model and self.res_id) or self.res_model not in self.env or self.res_model == self._name:
            return None
        return self.env[self.res_model].sudo().browse(self.res_id).exists() or None

    # ---- buttons ----------------------------------------------------------------------------------------
    def _money_check_manager(self):
        if not self.env.su and not self.env.user.has_group("notify_rules.group_notify_manager"):
            raise AccessError(self.env._("Only Notify managers can decide the outcome of a money operation."))

    def action_cancel(self):
        """Only before the request left: a queued request is cancelled with it (locked, so the dispatcher cannot
        be sending it at this moment)."""
        self._money_check_manager()
        for operation in self:
            if operation.state == "draft":
                operation._money_apply_news("cancelled", "person")
                continue
            message = operation.message_id
            if operation.state != "pending" or not message:
                raise UserError(self.env._("Only a draft operation, or one whose request has not left yet, can be "
                                           "cancelled."))
            self.env.flush_all()
            self.env.cr.execute("SELECT state FROM notify_message WHERE id = %s FOR UPDATE", [message.id])
            if self.env.cr.fetchone()[0] != "queued":
                raise UserError(self.env._("The request already left: wait for Intech's answer."))
            message.sudo().write({"state": "cancelled", "sending_since": False})
            operation._money_apply_news("cancelled", "person", reason=self.env._("Cancelled before it was sent."))
        return True

    def action_mark_done(self):
        return self._money_mark("done", self.env._("Marked done by %s after checking with Intech.",
                                                   self.env.user.name))

    def action_mark_failed(self):
        return self._money_mark("failed", self.env._("Marked failed by %s after checking with Intech.",
                                                     self.env.user.name))

    def _money_mark(self, state, reason):
        """A person checked Intech's dashboard for an operation whose outcome we could not know."""
        self._money_check_manager()
        for operation in self:
            left = operation.state == "pending" and operation.message_id.state == "sent"
            if operation.state != "unknown" and not left:
                raise UserError(self.env._("Only an operation waiting for Intech's outcome can be marked by hand."))
            operation._money_apply_news(state, "person", reason=reason)
        return True

    def action_open_record(self):
        self.ensure_one()
        record = self._money_record()
        if record is None:
            return False
        return {"type": "ir.actions.act_window", "res_model": record._name, "res_id": record.id, "view_mode": "form"}
