from odoo import api, fields, models


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
    error = fields.Text(string="Cannot be sent because", compute="_compute_preview")
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
                          variables_text=False, error=False, ok=False, matches_filter=False)
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
                    error=rendered["error"],
                    ok=not rendered["error"],
                )
            preview.update(values)
