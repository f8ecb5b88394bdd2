from odoo import fields, models
from odoo.tools.sql import create_index


class NotifyProviderRequest(models.Model):
    """One request made (or reserved) to a provider: the rate window counts these, so a message retried twice
    within a minute counts twice, and sends and status checks share the provider's limit. Rows older than two
    minutes are deleted by the claims; written in SQL under the account lock."""

    _name = "notify.provider.request"
    _description = "Request to a provider (rate window)"
    _log_access = False

    provider_account_id = fields.Many2one("notify.provider.account", required=True, ondelete="cascade")
    requested_at = fields.Datetime(required=True)

    def _auto_init(self):
        res = super()._auto_init()
        create_index(self.env.cr, "notify_provider_request_window_idx", self._table,
                     ["provider_account_id", "requested_at"])
        return res
