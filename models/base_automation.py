from odoo import fields, models


class BaseAutomation(models.Model):
    _inherit = "base.automation"

    notify_shared = fields.Boolean(
        string="Managed by Notify Rules", readonly=True, copy=False, help="Managed by Notify rules: do not edit."
    )
    notify_rule_id = fields.Many2one(
        "notify.rule", string="Notification rule", readonly=True, copy=False, ondelete="cascade"
    )

    def _process(self, records, domain_post=None):
        """Run our server action once on the whole batch.

        Odoo's ``_process`` runs each action once per record, each time in a new environment, and marks
        the records done in a context that grows with every record of the transaction. Our action only
        records (rule, record) pairs for a pre-commit ``create`` in another model, so it cannot recurse
        into this automation and needs neither the per-record loop nor the ``__action_done`` bookkeeping.
        """
        if not self.notify_shared:
            return super()._process(records, domain_post=domain_post)
        records = records.filtered(self._check_trigger_fields)
        if not records:
            return
        old_values = self.env.context.get("old_values")
        for action in self.sudo().action_server_ids:
            if action.state == "notify_rule":
                # our runner needs no evaluation context: skip run()'s (costly on every save of the model)
                action._notify_run(records, old_values)
            else:
                context = {"active_model": records._name, "active_ids": records.ids, "domain_post": domain_post}
                action.with_context(**context).run()
