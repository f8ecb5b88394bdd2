from odoo import fields, models


class IrActionsServer(models.Model):
    _inherit = "ir.actions.server"

    state = fields.Selection(
        selection_add=[("notify_rule", "Send notification (Notify rules)")], ondelete={"notify_rule": "cascade"}
    )

    def _run_action_notify_rule_multi(self, eval_context=None):
        """Server-action entry point (e.g. run by hand): the records are the context's active_ids."""
        records = self.env[self.model_id.model].browse(self.env.context.get("active_ids", []))
        self._notify_run(records, self.env.context.get("old_values"))
        return False

    def _notify_run(self, records, old_values):
        """Hand the batch to the notify rules bound to this action's automation (base.automation._process
        does the same inline for the shared automations, on every save)."""
        automation = self.base_automation_id
        if not automation or not records:
            return
        Rule = self.env["notify.rule"].sudo()
        if automation.notify_rule_id:
            matchers = tuple(rule._notify_matcher() for rule in automation.notify_rule_id.filtered("active"))
        else:
            matchers = Rule._notify_matchers(self.model_id.id)
        Rule._notify_on_event(matchers, records, old_values)
