from odoo import api, fields, models
from odoo.exceptions import ValidationError

from ..clients.signing import wap_signature


class NotifyProviderAccount(models.Model):
    _inherit = "notify.provider.account"

    provider = fields.Selection(selection_add=[("wap", "WAP (WhatsApp, Cameroon)")], ondelete={"wap": "cascade"})
    wap_api_key = fields.Char(string="WAP API key", groups="base.group_system", copy=False)
    wap_api_secret = fields.Char(
        string="WAP API secret", groups="base.group_system", copy=False, help="The base64 secret of your contract."
    )

    def _notify_default_rate_limit(self):
        if self.provider == "wap":
            return 100  # documented: 100 requests per minute
        return super()._notify_default_rate_limit()

    @api.model
    def _notify_credential_fields(self):
        return dict(super()._notify_credential_fields(), wap=[("wap_api_key", False), ("wap_api_secret", True)])

    def _notify_credentials(self):
        if self.provider == "wap":
            return {"api_key": self.wap_api_key or "", "api_secret": self.wap_api_secret or ""}
        return super()._notify_credentials()

    @api.constrains("provider", "wap_api_secret")
    def _check_wap_secret(self):
        for account in self.sudo().filtered(lambda a: a.provider == "wap" and a.wap_api_secret):
            try:
                wap_signature("probe", account.wap_api_secret, 0)
            except ValueError as error:
                raise ValidationError(self.env._(
                    "The WAP API secret is not valid base64: copy it exactly as given in your contract."
                )) from error
