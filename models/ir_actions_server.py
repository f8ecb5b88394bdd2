from odoo import fields, models


class IrActionsServer(models.Model):
    _inherit = "ir.actions.server"

    state = fields.Selection(
        selection_add=[("notify_rule", "Send notification (Notify rules)")], ondelete={"notify_rule": "cascade"}
    )

    def _run_action_notify_rule_multi(self, eval_context=None):
        """Run by base_automation's ``_process`` (once per record whose watched fields changed, as for any
        server action) or by hand: the records go to the notify rules behind the action's automation.
        base_automation puts the records' values before the write in the context (``old_values``)."""
        if self.base_automation_id:
            records = (eval_context or {}).get("records")
            if records is None:
                records = self.env[self.model_id.model].browse(self.env.context.get("active_ids", []))
            self.base_automation_id._notify_fire(records, self.env.context.get("old_values"))
        return False
