"""The company's one-time code settings (Settings > Notify Rules > One-time codes)."""

from odoo import api, fields, models
from odoo.exceptions import ValidationError

from ..tools.otp import MAX_LENGTH, MIN_LENGTH


class ResCompany(models.Model):
    _inherit = "res.company"

    notify_otp_length = fields.Integer(string="Code length", default=6)
    notify_otp_validity_minutes = fields.Integer(string="Code valid for (minutes)", default=10)
    notify_otp_max_attempts = fields.Integer(string="Attempts per code", default=3)
    notify_otp_resend_cooldown = fields.Integer(
        string="Resend after (seconds)", default=60, help="A new code for the same number and purpose is refused "
        "before this delay.")
    notify_otp_phone_hourly = fields.Integer(string="Codes per number per hour", default=5)
    notify_otp_phone_daily = fields.Integer(string="Codes per number per day", default=10)
    notify_otp_ip_minute = fields.Integer(string="Codes per connection (IP) per minute", default=10)
    notify_otp_ip_hourly = fields.Integer(string="Codes per connection (IP) per hour", default=30)
    notify_otp_ip_daily = fields.Integer(string="Codes per connection (IP) per day", default=100)
    notify_otp_country_ids = fields.Many2many(
        "res.country", "res_company_notify_otp_country_rel", "company_id", "country_id",
        string="Countries codes go to",
        help="Codes are sent only to numbers of these countries (a guard against SMS pumping fraud). Empty: the "
        "company's country.")
    notify_otp_login_policy = fields.Selection(
        [("off", "Off"), ("selected", "Users who turned it on"), ("internal", "All internal users"),
         ("all", "All users (portal included)")],
        string="Code at login", default="off", required=True,
        help="Ask for a code sent to the user's mobile after the password. A user with an authenticator app "
        "(two-factor authentication) keeps it.")
    notify_otp_login_no_mobile = fields.Selection(
        [("block", "Refuse the login"), ("allow", "Let them in with the password, and warn them")],
        string="User without a valid mobile", default="block", required=True)
    notify_otp_trusted_days = fields.Integer(
        string="Trust a device for (days)", default=0,
        help="0: a code at every login. Otherwise a user may tick \"Remember this device\".")

    _sql_constraints = [
        ("notify_otp_length_range", f"CHECK(notify_otp_length BETWEEN {MIN_LENGTH} AND {MAX_LENGTH})",
         f"A code has {MIN_LENGTH} to {MAX_LENGTH} digits."),
    ]

    @api.constrains("notify_otp_length", "notify_otp_validity_minutes", "notify_otp_max_attempts",
                    "notify_otp_resend_cooldown", "notify_otp_phone_hourly", "notify_otp_phone_daily",
                    "notify_otp_ip_minute", "notify_otp_ip_hourly", "notify_otp_ip_daily", "notify_otp_trusted_days")
    def _check_notify_otp_settings(self):
        for company in self:
            if not MIN_LENGTH <= company.notify_otp_length <= MAX_LENGTH:
                raise ValidationError(self.env._("A code has %(min)s to %(max)s digits.", min=MIN_LENGTH,
                                                 max=MAX_LENGTH))
            if not 1 <= company.notify_otp_validity_minutes <= 60:
                raise ValidationError(self.env._("A code is valid for 1 to 60 minutes."))
            if not 1 <= company.notify_otp_max_attempts <= 10:
                raise ValidationError(self.env._("A code allows 1 to 10 attempts."))
            numbers = company.read(["notify_otp_resend_cooldown", "notify_otp_phone_hourly",
                                    "notify_otp_phone_daily", "notify_otp_ip_minute", "notify_otp_ip_hourly",
                                    "notify_otp_ip_daily", "notify_otp_trusted_days"])[0]
            numbers = [value for key, value in numbers.items() if key != "id"]
            if any(n < 0 for n in numbers):
                raise ValidationError(self.env._("The limits of one-time codes cannot be negative (0: no limit)."))

    @api.constrains("notify_otp_login_policy")
    def _check_notify_otp_login_rule(self):
        """Asking for a code nobody can send would lock every user the policy covers out, administrators too."""
        for company in self.filtered(lambda c: c.notify_otp_login_policy != "off"):
            if not self.env["notify.rule"].sudo().search_count(
                    [("trigger", "=", "on_login"), ("company_id", "=", company.id), ("active", "=", True)], limit=1):
                raise ValidationError(self.env._(
                    "%s has no active rule sending login codes: create one (Notifications > Rules, trigger \"At "
                    "login (second factor)\") before asking users for a code at login.", company.name))

