from odoo import api, fields, models
from odoo.exceptions import ValidationError


class ResConfigSettings(models.TransientModel):
    _inherit = "res.config.settings"

    notify_dispatch_interval = fields.Integer(
        string="Dispatch safety interval (minutes)",
        config_parameter="notify_rules.dispatch_interval",
        default=5,
        help="Messages are sent as soon as the change that queued them is saved; this interval only catches "
        "retries and messages left behind by a crash.",
    )
    notify_poll_interval = fields.Integer(
        string="Status polling interval (minutes)", config_parameter="notify_rules.poll_interval", default=10
    )
    notify_sms_account_id = fields.Many2one(
        related="company_id.notify_sms_account_id", readonly=False, groups="notify_rules.group_notify_manager",
        domain="[('provider', '=', 'chinqit'), ('company_id', '=', company_id)]",
    )
    # one-time codes (models/res_company_otp.py)
    notify_otp_length = fields.Integer(related="company_id.notify_otp_length", readonly=False)
    notify_otp_validity_minutes = fields.Integer(related="company_id.notify_otp_validity_minutes", readonly=False)
    notify_otp_max_attempts = fields.Integer(related="company_id.notify_otp_max_attempts", readonly=False)
    notify_otp_resend_cooldown = fields.Integer(related="company_id.notify_otp_resend_cooldown", readonly=False)
    notify_otp_phone_hourly = fields.Integer(related="company_id.notify_otp_phone_hourly", readonly=False)
    notify_otp_phone_daily = fields.Integer(related="company_id.notify_otp_phone_daily", readonly=False)
    notify_otp_ip_minute = fields.Integer(related="company_id.notify_otp_ip_minute", readonly=False)
    notify_otp_ip_hourly = fields.Integer(related="company_id.notify_otp_ip_hourly", readonly=False)
    notify_otp_ip_daily = fields.Integer(related="company_id.notify_otp_ip_daily", readonly=False)
    notify_otp_country_ids = fields.Many2many(related="company_id.notify_otp_country_ids", readonly=False)
    notify_otp_login_policy = fields.Selection(related="company_id.notify_otp_login_policy", readonly=False)
    notify_otp_login_no_mobile = fields.Selection(related="company_id.notify_otp_login_no_mobile", readonly=False)
    notify_otp_trusted_days = fields.Integer(related="company_id.notify_otp_trusted_days", readonly=False)

    @api.constrains("notify_dispatch_interval", "notify_poll_interval")
    def _check_notify_intervals(self):
        for settings in self:
            if settings.notify_dispatch_interval < 1 or settings.notify_poll_interval < 1:
                raise ValidationError(self.env._("The intervals are in minutes and must be at least 1."))

    def set_values(self):
        res = super().set_values()
        crons = {
            "notify_rules.ir_cron_notify_dispatch": self.notify_dispatch_interval,
            "notify_rules.ir_cron_notify_poll_status": self.notify_poll_interval,
        }
        for xmlid, minutes in crons.items():
            cron = self.env.ref(xmlid, raise_if_not_found=False)
            if cron and minutes and minutes > 0:
                cron.sudo().write({"interval_number": minutes, "interval_type": "minutes"})
        return res
