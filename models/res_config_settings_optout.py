"""Settings > Notifications > Opt-out: the company's opt-out words (models/res_company_optout.py)."""

from odoo import fields, models


class ResConfigSettings(models.TransientModel):
    _inherit = "res.config.settings"

    notify_optout_keywords = fields.Char(related="company_id.notify_optout_keywords", readonly=False)
