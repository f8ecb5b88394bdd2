from odoo import fields, models


class ResConfigSettings(models.TransientModel):
    _inherit = "res.config.settings"

    notify_quiet_hours = fields.Boolean(related="company_id.notify_quiet_hours", readonly=False)
    notify_quiet_start = fields.Float(related="company_id.notify_quiet_start", readonly=False)
    notify_quiet_end = fields.Float(related="company_id.notify_quiet_end", readonly=False)
    notify_throttle_max = fields.Integer(related="company_id.notify_throttle_max", readonly=False)
    notify_throttle_hours = fields.Integer(related="company_id.notify_throttle_hours", readonly=False)
    notify_dedup_minutes = fields.Integer(related="company_id.notify_dedup_minutes", readonly=False)
    notify_held_policy = fields.Selection(related="company_id.notify_held_policy", readonly=False)
