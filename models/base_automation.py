import datetime

from odoo import api, fields, models, tools

from odoo.addons.base_automation.models.base_automation import DATE_RANGE_FUNCTION, WRITE_TRIGGERS


class BaseAutomation(models.Model):
    _inherit = "base.automation"

    notify_shared = fields.Boolean(
        string="Managed by Notify Rules", readonly=True, copy=False, help="Managed by Notify rules: do not edit."
    )
    notify_rule_id = fields.Many2one(
        "notify.rule", string="Notification rule", readonly=True, copy=False, ondelete="cascade"
    )

    @api.model_create_multi
    def create(self, vals_list):
        self.env.registry.clear_cache()  # _notify_action_ids
        return super().create(vals_list)

    def write(self, vals):
        self.env.registry.clear_cache()
        return super().write(vals)

    def unlink(self):
        self.env.registry.clear_cache()
        return super().unlink()

    def _get_actions(self, records, triggers):
        """Same result as Odoo's, from a cache instead of a search on every create/write of the model.

        base_automation asks this on every create and write of a model that has automations (a dozen times
        per invoice posted); the cache is cleared whenever an automation is created, changed or deleted.
        """
        if "__action_done" not in self._context:
            self = self.with_context(__action_done={})
        return self.browse(self._notify_action_ids(records._name, tuple(triggers)))

    @api.model
    @tools.ormcache("model_name", "triggers")
    def _notify_action_ids(self, model_name, triggers):
        domain = [("model_name", "=", model_name), ("trigger", "in", list(triggers))]
        return tuple(self.with_context(active_test=True).sudo().search(domain).ids)

    def _get_eval_context(self, payload=None):
        """``notify_since`` for the filter of a time rule's automation: base_automation's cron loads every record
        matching the filter and checks the date window in Python, so the filter bounds the date from below
        (dates whose time came since the last run)."""
        context = super()._get_eval_context(payload=payload)
        if self.notify_rule_id and self.trigger == "on_time":
            last_run = self.last_run or datetime.datetime.fromtimestamp(0)
            since = last_run - DATE_RANGE_FUNCTION[self.trg_date_range_type](self.trg_date_range)
            context["notify_since"] = (fields.Date.to_string(since.date()) if self.trg_date_id.ttype == "date"
                                       else fields.Datetime.to_string(since))
        return context

    def _register_hook(self):
        """Drop base_automation's ``_compute_field_value`` patch where only our automations watch a model and
        they watch stored, non-computed fields (e.g. ``account.move.state``): recomputations cannot fire them,
        and that patch reads old values around every recomputation of the model (a dozen per invoice posted).
        """
        super()._register_hook()
        write_automations = self.with_context(active_test=True).search([("trigger", "in", WRITE_TRIGGERS)])
        for model_name, automations in write_automations.grouped("model_name").items():
            model_class = self.env.registry.get(model_name)
            if model_class is None or "_compute_field_value" not in model_class.__dict__:
                continue
            watched = automations.trigger_field_ids
            if all(automations.mapped("notify_shared")) and watched and not any(
                model_class._fields[field.name].compute for field in watched if field.name in model_class._fields
            ):
                delattr(model_class, "_compute_field_value")

    def _process(self, records, domain_post=None):
        """Run our server action once on the whole batch.

        Odoo's ``_process`` runs each action once per record, each time in a new environment, and marks
        the records done in a context that grows with every record of the transaction. Our action only
        records (rule, record) pairs for a pre-commit ``create`` in another model, so it cannot recurse
        into this automation and needs neither the per-record loop nor the ``__action_done`` bookkeeping.
        """
        if not self.notify_shared:
            return super()._process(records, domain_post=domain_post)
        # Our server action's runner, inline: no action row, evaluation context or watched-field reads on
        # every save; the cached matchers check the watched fields and the status change themselves.
        self._notify_fire(records, self.env.context.get("old_values"))

    def _notify_fire(self, records, old_values):
        """Hand a batch to the notify rules behind this automation (shared per model, or one time rule)."""
        self.ensure_one()
        if not records:
            return
        Rule = self.env["notify.rule"].sudo()
        if self.notify_rule_id:  # a time rule, run by base_automation's cron: not a hot path
            matchers = tuple(rule._notify_matcher() for rule in self.notify_rule_id.filtered("active"))
        else:
            matchers = Rule._notify_matchers(self.env["ir.model"]._get_id(records._name))
        Rule._notify_on_event(matchers, records, old_values)
