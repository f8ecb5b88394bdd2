"""The retention of final messages in the settings (the value lives on the company, see res_company_retention.py)."""

from odoo import fields, models


class ResConfigSettings(models.TransientModel):
    _inherit = "res.config.settings"

    notify_message_retention_days = fields.Integer(
        related="company_id.notify_message_retention_days", readonly=False)
