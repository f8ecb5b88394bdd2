from odoo import api, fields, models
from odoo.exceptions import ValidationError


class ResCompany(models.Model):
    """Recipient safeguards, per company (the dispatcher reads them for each batch:
    models/notify_message_safeguard.py)."""

    _inherit = "res.company"

    notify_quiet_hours = fields.Boolean(
        string="Quiet hours", help="No message leaves during these hours, in the recipient's time zone; one-time "
        "codes and messages written by a person are never held.")
    notify_quiet_start = fields.Float(string="Quiet from", default=21.0)
    notify_quiet_end = fields.Float(string="Quiet until", default=7.0)
    notify_throttle_max = fields.Integer(
        string="Messages per recipient", default=0,
        help="At most this many messages to one number in the window below (0: no limit). One-time codes are not "
        "counted against it.")
    notify_throttle_hours = fields.Integer(string="Per window of (hours)", default=24)
    notify_dedup_minutes = fields.Integer(
        string="Same message again after (minutes)", default=60,
        help="A rule does not send the same content to the same number twice within this time (0: no check). "
        "The repeat is cancelled, with the reason.")
    notify_held_policy = fields.Selection(
        [("wait", "Wait, then send"), ("cancel", "Cancel")], string="Messages held by quiet hours or the limit",
        default="wait", required=True)

    @api.constrains("notify_quiet_start", "notify_quiet_end", "notify_throttle_max", "notify_throttle_hours",
                    "notify_dedup_minutes")
    def _check_notify_safeguards(self):
        for company in self:
            if not (0 <= company.notify_quiet_start < 24 and 0 <= company.notify_quiet_end < 24):
                raise ValidationError(self.env._("Quiet hours are times of day, between 00:00 and 23:59."))
            if company.notify_throttle_max < 0 or company.notify_throttle_hours < 1:
                raise ValidationError(self.env._(
                    "The per-recipient limit cannot be negative, and its window is at least one hour."))
            if company.notify_dedup_minutes < 0:
                raise ValidationError(self.env._("The repeat window cannot be negative."))
