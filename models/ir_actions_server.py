from odoo import api, fields, models

# Changes to these fields of a server action attached to an automation decide whether base.automation's
# _process may hand records to the notify rules directly (base.automation._notify_direct_automations).
DIRECT_PATH_FIELDS = {"base_automation_id", "state", "groups_id", "model_id"}


class IrActionsServer(models.Model):
    _inherit = "ir.actions.server"

    state = fields.Selection(
        selection_add=[("notify_rule", "Send notification (Notify rules)")], ondelete={"notify_rule": "cascade"}
    )

    @api.model_create_multi
    def create(self, vals_list):
        actions = super().create(vals_list)
        if any(vals.get("base_automation_id") for vals in vals_list):
            self.env.registry.clear_cache()
        return actions

    def write(self, vals):
        attached = DIRECT_PATH_FIELDS & set(vals) and any(self.sudo().mapped("base_automation_id"))
        res = super().write(vals)
        if attached or vals.get("base_automation_id"):
            self.env.registry.clear_cache()
        return res

    def unlink(self):
        attached = any(self.sudo().mapped("base_automation_id"))
        res = super().unlink()
        if attached:
            self.env.registry.clear_cache()
        return res

    def _run_action_notify_rule_multi(self, eval_context=None):
        """Run by base_automation's ``_process`` (once per record whose watched fields changed, as for any
        server action) when a person gave the automation another action or groups (else ``_process`` hands the
        records to the rules itself, base_automation.py), or by hand: the records go to the notify rules behind
        the action's automation.
        base_automation puts the records' values before the write in the context (``old_values``)."""
        if self.base_automation_id:
            records = (eval_context or {}).get("records")
            if records is None:
                records = self.env[self.model_id.model].browse(self.env.context.get("active_ids", []))
            self.base_automation_id._notify_fire(records, self.env.context.get("old_values"))
        return False
