from odoo import api, fields, models


class NotifyRuleRoute(models.Model):
    """One more way a rule delivers its message: an account, a template or an SMS text, and the recipient
    countries it serves. The rule's own delivery comes first; routes are tried after it, in their order."""

    _name = "notify.rule.route"
    _description = "Notification rule route"
    _order = "sequence, id"

    rule_id = fields.Many2one("notify.rule", required=True, ondelete="cascade", index=True)
    sequence = fields.Integer(default=10)
    company_id = fields.Many2one(related="rule_id.company_id", store=True)
    country_ids = fields.Many2many(
        "res.country", string="Countries served", help="Recipients of these countries (empty: every country)."
    )
    action = fields.Selection(
        [("send_template", "Send a template message"), ("send_sms", "Send an SMS")], required=True,
        default="send_sms",
    )
    provider_account_id = fields.Many2one(
        "notify.provider.account", string="Provider account", required=True, ondelete="restrict",
        domain="[('company_id', '=', company_id)]",
    )
    channel = fields.Selection([("whatsapp", "WhatsApp"), ("sms", "SMS")], required=True, default="sms")
    template_ref = fields.Char(string="Template reference", help="For template messages; variables are the rule's.")
    sms_body = fields.Text(string="SMS text", translate=True, help="Inline template, rendered on the record.")

    @api.depends("provider_account_id", "country_ids")
    def _compute_display_name(self):
        for route in self:
            countries = ", ".join(route.country_ids.mapped("code")) or self.env._("every country")
            route.display_name = f"{route.provider_account_id.name or ''} ({countries})"

    @api.onchange("action")
    def _onchange_action(self):
        if self.action == "send_sms":
            self.channel = "sms"

    @api.constrains("action", "provider_account_id", "channel", "template_ref", "sms_body", "rule_id")
    def _check_route(self):
        for route in self:
            route.rule_id._check_delivery(route, self.env[route.rule_id.model_id.model])
