from odoo import fields, models


class IrActionsServer(models.Model):
    _inherit = "ir.actions.server"

    state = fields.Selection(
        selection_add=[("notify_rule", "Send notification (Notify rules)")], ondelete={"notify_rule": "cascade"}
    )

    def _run_action_notify_rule_multi(self, eval_context=None):
        """Server-action entry point (e.g. run by hand): the records are the context's active_ids.
        base.automation._process calls the same ``_notify_fire`` directly on every save."""
        if self.base_automation_id:
            records = self.env[self.model_id.model].browse(self.env.context.get("active_ids", []))
            self.base_automation_id._notify_fire(records, self.env.context.get("old_values"))
        return False
