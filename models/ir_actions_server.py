from odoo import fields, models


class IrActionsServer(models.Model):
    _inherit = "ir.actions.server"

    state = fields.Selection(
        selection_add=[("notify_rule", "Send notification (Notify rules)")], ondelete={"notify_rule": "cascade"}
    )

    def _run_action_notify_rule_multi(self, eval_context=None):
        """Hand the batch to the notify rules bound to this action's automation."""
        automation = self.base_automation_id
        if not automation:
            return False
        records = self.env[self.model_id.model].browse(self.env.context.get("active_ids", []))
        Rule = self.env["notify.rule"].sudo()
        if automation.notify_rule_id:
            rules = automation.notify_rule_id.filtered("active")
        else:
            rules = Rule.search([("model_id", "=", self.model_id.id), ("trigger", "!=", "on_time")])
        Rule._notify_on_event(rules, records, self.env.context.get("old_values"))
        return False
