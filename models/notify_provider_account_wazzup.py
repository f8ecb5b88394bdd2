"""The Wazzup account: made by the WAuth connection (controllers/wazzup_connect.py), never by copying a key.

It keeps the apiKey Wazzup returned, the SHA-256 of the crmKey we generated (Wazzup sends the key back with every
webhook; we never show nor keep it in clear), the channel it sends through, and the channels of the Wazzup
account (notify.wazzup.channel).
"""

import hashlib
import hmac

from odoo import api, fields, models

from ..clients.phone import to_e164

WEBHOOK_ROUTE = "/notify_rules/wazzup/webhook"
# Wazzup's documented limit is 500 requests per 5 s; a tenth keeps room for the set-up uploads and other users.
WAZZUP_DEFAULT_RATE = 600


def crm_key_hash(crm_key):
    return hashlib.sha256((crm_key or "").encode()).hexdigest()


class NotifyProviderAccount(models.Model):
    _inherit = "notify.provider.account"

    provider = fields.Selection(selection_add=[("wazzup", "Wazzup (WhatsApp chat)")], ondelete={"wazzup": "cascade"})
    wazzup_api_key = fields.Char(
        string="Wazzup API key", groups="base.group_system", copy=False,
        help="Given by Wazzup when the account was connected (the Connect button of Wazzup's marketplace).")
    wazzup_crm_key_hash = fields.Char(
        groups="base.group_system", copy=False, index=True,
        help="SHA-256 of the key Wazzup sends with every webhook (the key itself is kept nowhere).")
    wazzup_channel_ids = fields.One2many("notify.wazzup.channel", "provider_account_id", string="Wazzup channels")
    wazzup_channel_id = fields.Many2one(
        "notify.wazzup.channel", string="Send through", domain="[('provider_account_id', '=', id)]",
        help="The channel (a WhatsApp number) messages of this account are sent from.")
    wazzup_create_partners = fields.Boolean(
        string="Create contacts for unknown numbers", default=True,
        help="A message from a number no contact has creates the contact; otherwise it is kept on the account.")
    wazzup_webhook_url = fields.Char(string="Webhook URL", compute="_compute_wazzup_webhook_url")

    def _compute_wazzup_webhook_url(self):
        base = self.env["ir.config_parameter"].sudo().get_param("web.base.url", "").rstrip("/")
        for account in self:
            account.wazzup_webhook_url = f"{base}{WEBHOOK_ROUTE}" if account.provider == "wazzup" else False

    def _notify_default_rate_limit(self):
        if self.provider == "wazzup":
            return WAZZUP_DEFAULT_RATE
        return super()._notify_default_rate_limit()

    @api.model
    def _notify_credential_fields(self):
        return dict(super()._notify_credential_fields(), wazzup=[("wazzup_api_key", True)])

    def _notify_credentials(self):
        if self.provider == "wazzup":
            channel = self.wazzup_channel_id
            return {"api_key": self.wazzup_api_key or "", "channel_id": channel.channel_id or "",
                    "transport": channel.transport or "whatsapp"}
        return super()._notify_credentials()

    def _notify_provider_recipient(self, e164):
        if self.provider == "wazzup":
            return to_e164(e164)[1:]  # WhatsApp's chatId: digits with the country code
        return super()._notify_provider_recipient(e164)

    @api.model
    def _wazzup_account_for_bearer(self, authorization):
        """The Wazzup account whose crmKey is the `Authorization: Bearer` of a webhook, or an empty recordset.

        The key is looked up by its SHA-256 (an index), and the stored hash is then compared in constant time."""
        scheme, _, token = (authorization or "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token or len(token) > 512:
            return self.browse()
        digest = crm_key_hash(token)
        account = self.sudo().search([("provider", "=", "wazzup"), ("wazzup_crm_key_hash", "=", digest)], limit=1)
        if account and hmac.compare_digest(account.wazzup_crm_key_hash or "", digest):
            return account
        return self.browse()

    def action_wazzup_sync_channels(self):
        self.ensure_one()
        self.check_access("write")
        self._wazzup_sync_channels()
        return True

    def _wazzup_sync_channels(self):
        """GET /v3/channels into notify.wazzup.channel; the first active WhatsApp channel sends, by default."""
        self.ensure_one()
        channels = self._notify_get_client().get_channels()
        return self.env["notify.wazzup.channel"].sudo()._wazzup_mirror(self, channels)
