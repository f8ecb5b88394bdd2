"""The chat composer: "WhatsApp (Wazzup)" in the Action menu of a contact (and of a CRM lead when crm is installed).

Send only queues ONE outbox message (notify.message, channel WhatsApp, the record as its document) and wakes the
dispatcher: the click never waits on Wazzup, and the outbox brings what every message has: retries, the rate
limit, `crmMessageId` = the message's idempotency key (a resend after a lost answer is never sent twice), the
chatter note once it is sent. What can be checked before queuing is checked here, with a sentence the user can act
on: the account, its channel, the number, the text and its length.
"""

from odoo import api, fields, models
from odoo.exceptions import UserError

from ..clients.phone import InvalidPhoneError, to_e164
from ..clients.wazzup import DEFAULT_TEXT_LIMIT, TEXT_LIMITS
from ..tools.provider_errors import phone_error_text

# The records the composer is opened from (ir.actions.server bound to them); crm.lead only when crm is installed.
COMPOSER_MODELS = ("res.partner", "crm.lead")
WHATSAPP_TRANSPORTS = ("whatsapp", "wapi")
LEAD_ACTION_XMLID = "notify_rules.action_notify_wazzup_composer_from_lead"


class NotifyWazzupComposer(models.TransientModel):
    _name = "notify.wazzup.composer"
    _description = "WhatsApp message through Wazzup"

    res_model = fields.Char(string="Document model", required=True, readonly=True)
    res_id = fields.Integer(string="Document", required=True, readonly=True)
    res_name = fields.Char(string="To", readonly=True)
    company_id = fields.Many2one("res.company", readonly=True)
    country_id = fields.Many2one("res.country", readonly=True,
                                 help="Reads a number written without its country code.")
    provider_account_id = fields.Many2one(
        "notify.provider.account", string="Wazzup account",
        domain="[('provider', '=', 'wazzup'), ('company_id', '=', company_id)]")
    channel_id = fields.Many2one(related="provider_account_id.wazzup_channel_id", string="Sent from")
    phone = fields.Char(string="Number", help="The contact's mobile, else its phone; change it for this message.")
    recipient_e164 = fields.Char(string="WhatsApp number", compute="_compute_recipient")
    number_error = fields.Char(compute="_compute_recipient")
    body = fields.Text(string="Message")
    text_length = fields.Integer(compute="_compute_text_length")
    text_limit = fields.Integer(compute="_compute_text_length")
    too_long = fields.Boolean(compute="_compute_text_length")

    # ---- opening ------------------------------------------------------------------------------------------
    @api.model
    def _wazzup_action_open(self, record):
        """The composer's window for `record` (the Action menu's server action)."""
        record.ensure_one()
        self._wazzup_check_record(record)
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("WhatsApp (Wazzup)"),
            "res_model": self._name,
            "view_mode": "form",
            "views": [(False, "form")],
            "target": "new",
            "context": {"default_res_model": record._name, "default_res_id": record.id},
        }

    @api.model
    def default_get(self, fields_list):
        values = super().default_get(fields_list)
        model, res_id = values.get("res_model"), values.get("res_id")
        if not (model and res_id):
            return values
        record = self._wazzup_record(model, res_id)
        partner = self._wazzup_partner(record)
        company = record.company_id or self.env.company
        accounts = self._wazzup_accounts(company)
        country = (record.country_id if "country_id" in record._fields else record.browse()) or partner.country_id
        values.update(
            res_name=record.display_name,
            company_id=company.id,
            provider_account_id=accounts.id if len(accounts) == 1 else False,
            phone=self._wazzup_number(record, partner),
            country_id=(country or accounts[:1].default_country_id or company.country_id).id,
        )
        return values

    # ---- the record ---------------------------------------------------------------------------------------
    @api.model
    def _wazzup_record(self, model, res_id):
        if model not in COMPOSER_MODELS or model not in self.env:
            raise UserError(self.env._("A WhatsApp message through Wazzup is written from a contact or a lead."))
        record = self.env[model].browse(res_id).exists()
        if not record:
            raise UserError(self.env._("This document no longer exists."))
        return self._wazzup_check_record(record)

    @api.model
    def _wazzup_partner_of(self, record):
        """The contact written to: the partner itself, or the lead's partner."""
        if record._name == "res.partner":
            return record
        return record.partner_id if "partner_id" in record._fields else self.env["res.partner"]

    @api.model
    def _wazzup_check_record(self, record):
        """Writing to someone on the record's behalf is for those who may change the record (as in Odoo's
        chatter composer); the message goes on its chatter."""
        record.check_access("write")
        return record

    @staticmethod
    def _wazzup_partner(record):
        return record if record._name == "res.partner" else record.partner_id

    @staticmethod
    def _wazzup_number(record, partner):
        """The partner's mobile, else phone; for a lead, its partner's, else the lead's own."""
        for holder in (partner, record):
            for name in ("mobile", "phone"):
                if name in holder._fields and holder[name]:
                    return holder[name]
        return False

    @api.model
    def _wazzup_accounts(self, company):
        return self.env["notify.provider.account"].search(
            [("provider", "=", "wazzup"), ("company_id", "=", company.id)])

    # ---- computed -----------------------------------------------------------------------------------------
    @api.depends("phone", "country_id")
    def _compute_recipient(self):
        for composer in self:
            try:
                composer.recipient_e164 = composer._wazzup_e164()
                composer.number_error = False
            except UserError as error:
                composer.recipient_e164 = False
                composer.number_error = error.args[0]

    @api.depends("body", "provider_account_id")
    def _compute_text_length(self):
        for composer in self:
            composer.text_length = len((composer.body or "").strip())
            composer.text_limit = composer._wazzup_text_limit()
            composer.too_long = composer.text_length > composer.text_limit

    def _wazzup_text_limit(self):
        """Wazzup's limit for the channel's transport (WhatsApp: 10 000 characters), as the client checks it."""
        transport = self.provider_account_id.wazzup_channel_id.transport or "whatsapp"
        return TEXT_LIMITS.get(transport, DEFAULT_TEXT_LIMIT)

    def _wazzup_e164(self):
        if not (self.phone or "").strip():
            raise UserError(self.env._("No phone number: type the number to write to."))
        try:
            return to_e164(self.phone, self.country_id.code)
        except InvalidPhoneError as error:
            raise UserError(phone_error_text(self.env, error, self.country_id.name or "")) from None

    # ---- sending ------------------------------------------------------------------------------------------
    def action_send(self):
        """Queue the message and wake the dispatcher; the chatter says when it is sent."""
        self.ensure_one()
        record = self._wazzup_record(self.res_model, self.res_id)
        account = self._wazzup_check_account(record)
        e164 = self._wazzup_e164()
        text = self._wazzup_check_text()
        # Nobody writes the outbox directly (users only read it): the composer does, once it has checked all this.
        message = self.env["notify.message"].sudo().create({
            "provider_account_id": account.id,
            "channel": "whatsapp",
            "recipient_e164": e164,
            "recipient_provider": account.sudo()._notify_provider_recipient(e164),
            "body": text,
            "res_model": record._name,
            "res_id": record.id,
            "res_name": record.display_name,
            "partner_id": self._wazzup_partner_of(record).id,
        })
        self.env["notify.message"]._trigger_dispatch()
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "type": "success",
                "message": self.env._("Message to %s queued: it leaves in a moment, and the chatter says when.",
                                      message.recipient_e164),
                "next": {"type": "ir.actions.act_window_close"},
            },
        }

    def _wazzup_check_account(self, record):
        account = self.provider_account_id
        if not account:
            company = record.company_id or self.env.company
            if not self._wazzup_accounts(company):
                raise UserError(self.env._(
                    "%s has no Wazzup account: connect one from Wazzup's marketplace first.", company.name))
            raise UserError(self.env._("Choose the Wazzup account to send through."))
        account.check_access("read")  # an account of a company this user does not work in is refused here
        if account.provider != "wazzup" or not account.active:
            raise UserError(self.env._("%s is not an active Wazzup account.", account.display_name))
        channel = account.wazzup_channel_id
        if not channel or channel.state != "active" or channel.transport not in WHATSAPP_TRANSPORTS:
            raise UserError(self.env._(
                "The Wazzup account %(account)s has no active WhatsApp channel to send through (%(channel)s): "
                "read its channels again, or reconnect the number in Wazzup.",
                account=account.display_name,
                channel=channel.display_name if channel else self.env._("none chosen")))
        return account

    def _wazzup_check_text(self):
        text = (self.body or "").strip()
        if not text:
            raise UserError(self.env._("Write the message."))
        limit = self._wazzup_text_limit()
        if len(text) > limit:
            raise UserError(self.env._(
                "The message is %(length)s characters long: WhatsApp through Wazzup takes at most %(limit)s.",
                length=len(text), limit=limit))
        return text

    # ---- the lead's binding -------------------------------------------------------------------------------
    @api.model
    def _wazzup_bind_crm_lead(self):
        """Create or update "WhatsApp (Wazzup)" in the Action menu of CRM leads, when crm is installed.

        notify_rules does not depend on crm, so the binding cannot be a record of its data files: this method,
        called by a <function> of wizard/notify_wazzup_composer_views.xml at each install or update of
        notify_rules, writes it under its own XML id (so the module's update keeps it and its uninstall removes
        it; uninstalling crm removes it with the model). Limit: crm installed AFTER notify_rules gets the binding
        at the next update of notify_rules (`-u notify_rules`, or Apps › Notify Rules › Upgrade)."""
        if "crm.lead" not in self.env:
            return False
        model_id = self.env["ir.model"]._get_id("crm.lead")
        values = {
            "name": "WhatsApp (Wazzup)",
            "model_id": model_id,
            "binding_model_id": model_id,
            "binding_view_types": "form",
            "groups_id": [(6, 0, [self.env.ref("notify_rules.group_notify_user").id])],
            "state": "code",
            "code": 'action = env["notify.wazzup.composer"]._wazzup_action_open(record)',
        }
        return self.env["ir.actions.server"].sudo()._load_records(
            [{"xml_id": LEAD_ACTION_XMLID, "values": values, "noupdate": False}])
