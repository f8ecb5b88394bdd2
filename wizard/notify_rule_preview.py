import json

from odoo import api, fields, models

from ..models.notify_message_safeguard import Candidate
from ..models.notify_rule_safeguards import OTP_TRIGGERS


class NotifyRulePreview(models.TransientModel):
    """Show what a rule would send for one record, or exactly why it cannot be sent."""

    _name = "notify.rule.preview"
    _description = "Notification rule preview"

    rule_id = fields.Many2one("notify.rule", required=True, ondelete="cascade")
    model_name = fields.Char(related="rule_id.model_name")
    model_id = fields.Many2one(related="rule_id.model_id")
    record_ref = fields.Reference(string="Record", selection="_selection_record_ref")
    recipient_raw = fields.Char(string="Number on the record", compute="_compute_preview")
    recipient_e164 = fields.Char(string="Recipient (E.164)", compute="_compute_preview")
    recipient_provider = fields.Char(string="Recipient (provider format)", compute="_compute_preview")
    variables_text = fields.Text(string="Variables", compute="_compute_preview")
    delivery_text = fields.Char(string="Goes through", compute="_compute_preview")
    sms_text = fields.Text(string="SMS text", compute="_compute_preview")
    sms_summary = fields.Char(string="SMS length", compute="_compute_preview",
                              help="GSM-7: 160 characters in one SMS, 153 per part beyond. Any other character "
                              "(ê, ç, Arabic...) makes it UCS-2: 70, then 67 per part.")
    error = fields.Text(string="Cannot be sent because", compute="_compute_preview")
    safeguard_text = fields.Char(string="Safeguards", compute="_compute_preview",
                                 help="What the recipient safeguards would do if it were sent now.")
    ok = fields.Boolean(string="Can be sent", compute="_compute_preview")
    matches_filter = fields.Boolean(string="Matches the rule's filter", compute="_compute_preview")

    @api.model
    def _selection_record_ref(self):
        return [(model.model, model.name) for model in self.env["ir.model"].sudo().search([("transient", "=", False)])]

    @api.model
    def default_get(self, fields_list):
        values = super().default_get(fields_list)
        rule = self.env["notify.rule"].browse(values.get("rule_id") or self.env.context.get("default_rule_id"))
        if rule and "record_ref" in fields_list and not values.get("record_ref"):
            record = self.env[rule.model_name].search(rule._filter_domain_eval(), limit=1)
            if record:
                values["record_ref"] = f"{record._name},{record.id}"
        return values

    @api.depends("rule_id", "record_ref")
    def _compute_preview(self):
        for preview in self:
            values = dict(recipient_raw=False, recipient_e164=False, recipient_provider=False,
                          variables_text=False, error=False, ok=False, matches_filter=False, delivery_text=False,
                          sms_text=False, sms_summary=False, safeguard_text=False)
            record = preview.record_ref
            if not record:
                values["error"] = self.env._("Choose a record to preview.")
            elif record._name != preview.rule_id.model_name:
                values["error"] = self.env._("The record must be a %s.", preview.rule_id.model_id.name)
            else:
                # what the dispatcher would send (it renders as superuser), on a record this user may read
                record.check_access("read")
                record = record.sudo()
                rendered = preview.rule_id.sudo()._notify_render(record)
                values["matches_filter"] = bool(record.filtered_domain(preview.rule_id._filter_domain_eval()))
                values.update(
                    recipient_raw=rendered["recipient_raw"],
                    recipient_e164=rendered["recipient_e164"],
                    recipient_provider=rendered["recipient_provider"],
                    variables_text="\n".join(f"{k}: {v}" for k, v in rendered["variables"].items()),
                    sms_text=rendered["body"],
                    sms_summary=rendered["body"] and preview.rule_id._notify_sms_summary(self.env, rendered["body"]),
                    delivery_text=preview._delivery_text(rendered),
                    error=rendered["error"],
                    ok=not rendered["error"],
                    safeguard_text=not rendered["error"] and preview._safeguard_text(rendered),
                )
            preview.update(values)

    def _delivery_text(self, rendered):
        """'Chinqit Nouakchott (SMS)', and the routes skipped on the way."""
        delivery = rendered["delivery"]
        if not delivery:
            return False
        owner = delivery.owner.sudo()
        channel = dict(owner._fields["channel"]._description_selection(self.env)).get(owner.channel)
        text = f"{owner.provider_account_id.name} ({channel})"
        skipped = [f"{d.account.sudo().name}: {reason}" for d, reason in rendered["skipped"]]
        if skipped:
            text += " — " + self.env._("after %s", "; ".join(skipped))
        return text

    def _safeguard_text(self, rendered):
        """'Would be held until 07:00 Africa/Douala: quiet hours.', as the dispatcher would decide now."""
        delivery = rendered["delivery"]
        if not delivery:
            return False
        rule = self.rule_id.sudo()
        owner = delivery.owner.sudo()
        message = self.env["notify.message"].sudo()
        template_ref = owner.template_ref if owner.action == "send_template" else False
        self.env.cr.execute("SELECT md5(%s || '|' || coalesce(%s::jsonb::text, '') || '|' || %s)",
                            [template_ref or "", json.dumps(rendered["variables"]) if rendered["variables"] else None,
                             rendered["body"] or ""])
        kind = "otp" if rule.trigger in OTP_TRIGGERS else "rule"
        candidate = Candidate("preview", owner.provider_account_id.company_id, rule, rendered["partner"],
                              rendered["recipient_e164"], owner.channel, self.env.cr.fetchone()[0], kind)
        decision = message._notify_safeguard_decisions([candidate], fields.Datetime.now()).get("preview")
        return decision.preview if decision else self.env._("None would stop it now.")
