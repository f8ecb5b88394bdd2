from odoo import api, fields, models

# Changes to these fields of a server action attached to an automation change what
# base.automation._notify_direct_paths keeps.
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

    def run(self):
        """Our action, as base_automation's ``_process`` runs it (as superuser, once per record, the record in
        ``active_model`` / ``active_ids``), hands the record to the rules without core's preamble: core would read
        the action's groups, its row and its model and build an evaluation context, in every saving transaction,
        for checks that pass as superuser (an action without groups, a superuser's write access). Anything else,
        such as a person running an action by hand, goes through core's ``run``."""
        automation_id = (self.env["base.automation"]._notify_direct_paths()[1].get(self.id)
                         if len(self) == 1 and self.env.su else None)
        model_name = self.env.context.get("active_model")
        if automation_id is None or model_name not in self.env:
            return super().run()
        records = self.env[model_name].browse(self.env.context.get("active_ids") or [])
        self.env["base.automation"].browse(automation_id)._notify_fire(records, self.env.context.get("old_values"))
        return False

    def _run_action_notify_rule_multi(self, eval_context=None):
        """Run by base_automation's ``_process`` (once per record whose watched fields changed, as for any
        server action; ``run`` above takes the short way when it may), or by hand: the records go to the notify
        rules behind the action's automation.
        base_automation puts the records' values before the write in the context (``old_values``)."""
        if self.base_automation_id:
            records = (eval_context or {}).get("records")
            if records is None:
                records = self.env[self.model_id.model].browse(self.env.context.get("active_ids", []))
            self.base_automation_id._notify_fire(records, self.env.context.get("old_values"))
        return False
