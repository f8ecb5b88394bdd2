"""How long a company keeps its final outgoing messages (Settings > Notifications > Retention)."""

from odoo import api, fields, models
from odoo.exceptions import ValidationError


class ResCompany(models.Model):
    _inherit = "res.company"

    notify_message_retention_days = fields.Integer(
        string="Keep final messages for (days)", default=365,
        help="Sent, delivered, read, failed and cancelled messages older than this are deleted by a daily job "
        "(0: kept forever). Queued, sending and outcome-unknown messages are never deleted: they still need "
        "the dispatcher or a person.")

    @api.constrains("notify_message_retention_days")
    def _check_notify_message_retention_days(self):
        for company in self:
            if company.notify_message_retention_days < 0:
                raise ValidationError(self.env._(
                    "The number of days final messages are kept cannot be negative (0 keeps them forever)."))
