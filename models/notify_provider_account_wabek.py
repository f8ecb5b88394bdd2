from odoo import api, fields, models
from odoo.exceptions import ValidationError

from ..clients.phone import to_e164

# The document gives no request limit. Each code is a WhatsApp message sent from the customer's own WhatsApp
# instance, which WhatsApp may restrict when it sends in bursts: 30 requests a minute is a conservative default.
WABEK_DEFAULT_RATE = 30


class NotifyProviderAccount(models.Model):
    _inherit = "notify.provider.account"

    provider = fields.Selection(
        selection_add=[("wabek", "Wabek (WhatsApp OTP)")], ondelete={"wabek": "cascade"}
    )
    wabek_api_key = fields.Char(
        string="Wabek API key", groups="base.group_system", copy=False,
        help="The API key of your Wabek site (sent as the X-API-Key header).",
    )

    @api.constrains("provider", "base_url")
    def _check_wabek_base_url(self):
        """Wabek has no common address: each customer runs it on their own site, in every environment."""
        for account in self:
            if account.provider == "wabek" and not account.base_url:
                raise ValidationError(self.env._(
                    "A Wabek account needs the address of your Wabek site as its base URL (for example "
                    "https://your-site.netlify.app): Wabek has no common address."))

    def _notify_default_rate_limit(self):
        if self.provider == "wabek":
            return WABEK_DEFAULT_RATE
        return super()._notify_default_rate_limit()

    @api.model
    def _notify_credential_fields(self):
        return dict(super()._notify_credential_fields(), wabek=[("wabek_api_key", True)])

    def _notify_credentials(self):
        if self.provider == "wabek":
            return {"api_key": self.wabek_api_key or ""}
        return super()._notify_credentials()

    def _notify_provider_recipient(self, e164):
        """Wabek takes the number as E.164 with '+' (+905551234567), whatever its country."""
        if self.provider == "wabek":
            return to_e164(e164)
        return super()._notify_provider_recipient(e164)
