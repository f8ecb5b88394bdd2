from odoo import api, fields, models
from odoo.exceptions import ValidationError

OTP_TRIGGERS = ("on_login", "on_otp_request")


class NotifyRule(models.Model):
    """What a rule is for decides which recipient safeguards bend for it (models/notify_message_safeguard.py)."""

    _inherit = "notify.rule"

    purpose = fields.Selection(
        [("transactional", "Transactional"), ("marketing", "Marketing")], required=True, default="transactional",
        tracking=True,
        help="Transactional: about something the recipient did or owns (invoice, order, code). Marketing: offers, "
        "news. Marketing WhatsApp needs the contact's consent and never goes to numbers that opted out.")
    require_whatsapp_consent = fields.Boolean(
        string="Only to contacts who agreed to WhatsApp", compute="_compute_require_whatsapp_consent", store=True,
        readonly=False, precompute=True,
        help="WhatsApp messages of this rule go only to numbers whose contact gave consent (contact form, "
        "Messaging consent); the others are cancelled with the reason (or go through the next route).")
    optout_exempt = fields.Boolean(
        string="Also to numbers that opted out", compute="_compute_optout_exempt", store=True, readonly=False,
        precompute=True,
        help="Only for transactional messages a person cannot do without (their own login code). Numbers in the "
        "blacklist (Odoo's phone blacklist, STOP replies, opt-out links) get nothing otherwise.")

    @api.depends("purpose")
    def _compute_require_whatsapp_consent(self):
        for rule in self:
            rule.require_whatsapp_consent = rule.purpose == "marketing"

    @api.depends("trigger", "purpose")
    def _compute_optout_exempt(self):
        for rule in self:
            rule.optout_exempt = rule.purpose == "transactional" and rule.trigger in OTP_TRIGGERS

    @api.constrains("purpose", "optout_exempt")
    def _check_optout_exempt(self):
        for rule in self:
            if rule.purpose == "marketing" and rule.optout_exempt:
                raise ValidationError(self.env._(
                    "Rule %s: a marketing rule cannot write to numbers that opted out.", rule.name))
