import datetime
import sys

from odoo import api, fields, models, tools

from odoo.addons.base_automation.models.base_automation import DATE_RANGE_FUNCTION, WRITE_TRIGGERS

# Code objects of base_automation's ``_compute_field_value`` patch, read off the patched models after
# base_automation's own _register_hook (see _get_actions).
_COMPUTE_PATCH_CODES = set()
# Writes of these fields change what core's _get_actions returns (its search domain, active_test) or which of
# our automations a recomputation cannot fire (_notify_blind_ids).
LOOKUP_FIELDS = {"model_id", "model_name", "trigger", "active", "trigger_field_ids", "action_server_ids"}


class BaseAutomation(models.Model):
    """Notify rules ride on base_automation as a user's automation would: one shared automation per model,
    whose server action (state ``notify_rule``) hands the records to the rules engine. Core's triggers,
    bookkeeping (watched fields, last run, post-mortem) and any server action a user adds to it all apply;
    the extensions below call super and change nothing for other automations."""

    _inherit = "base.automation"

    notify_shared = fields.Boolean(
        string="Managed by Notify Rules", readonly=True, copy=False, help="Managed by Notify rules: do not edit."
    )
    notify_rule_id = fields.Many2one(
        "notify.rule", string="Notification rule", readonly=True, copy=False, ondelete="cascade"
    )

    @api.model_create_multi
    def create(self, vals_list):
        automations = super().create(vals_list)
        self.env.registry.clear_cache()  # _notify_lookup, _notify_blind_ids
        return automations

    def write(self, vals):
        res = super().write(vals)
        if LOOKUP_FIELDS & set(vals):  # not core's own last_run write at each cron run
            self.env.registry.clear_cache()  # _notify_lookup, _notify_blind_ids
        return res

    def unlink(self):
        res = super().unlink()
        self.env.registry.clear_cache()  # _notify_lookup, _notify_blind_ids
        return res

    def _get_actions(self, records, triggers):
        """Core's automations, memoized for the models this addon has rules on, less ours where they cannot fire.

        1. Memoized: base_automation asks this on every create, write and recomputation of a model with
           automations (about 10 times per invoice posted), and its search costs about 1.1 ms here (a related
           field in the domain): measured, 11 ms per invoice, +30% on posting. For models with a notify rule
           the answer of super() is kept per (model, triggers) until an automation is created, deleted or
           changes model, trigger or active. Other models get super() as it is.
        2. base_automation runs its ``_compute_field_value`` patch around every recomputation of a stored
           computed field, reading old values first (a dozen times per invoice posted). Our shared automation
           watches stored fields that are not computed (``account.move.state``), so a recomputation can never
           fire it: when core's compute patch asks, it is left out. Other automations are returned as core
           returns them."""
        lookup = None if self.env.context.get("notify_core_lookup") else self._notify_lookup(
            records._name, tuple(triggers))
        if lookup is None:
            automations = super()._get_actions(records, triggers)
        else:
            if "__action_done" not in self._context:  # as core does, for its _process bookkeeping
                self = self.with_context(__action_done={})
            automations = self.browse(lookup)
        if automations and sys._getframe(1).f_code in _COMPUTE_PATCH_CODES:
            blind = automations._notify_blind_to_recomputation(records)
            if blind:
                automations -= blind
        return automations

    @api.model
    @tools.ormcache("model_name", "triggers")
    def _notify_lookup(self, model_name, triggers):
        """Ids of core's answer for a model with a notify rule, None for any other model."""
        if not self.sudo().with_context(active_test=False).search_count(
                [("notify_shared", "=", True), ("model_name", "=", model_name)], limit=1):
            return None
        core = self.with_context(notify_core_lookup=True)._get_actions(self.env[model_name], list(triggers))
        return tuple(core.ids)

    @api.model
    @tools.ormcache()
    def _notify_direct_automations(self):
        """{automation id: names of its watched fields} for our shared automations whose only action is the
        notify one, with no groups: ``_process`` hands their records to the rules without going through
        ``ir.actions.server.run``. Cleared with the registry's cache whenever an automation or a server action
        attached to one changes (see ``write`` above and ir_actions_server.py)."""
        direct = {}
        for automation in self.sudo().search([("notify_shared", "=", True), ("notify_rule_id", "=", False)]):
            actions = automation.action_server_ids
            if len(actions) == 1 and actions.state == "notify_rule" and not actions.groups_id:
                direct[automation.id] = tuple(automation.trigger_field_ids.mapped("name"))
        return direct

    def _process(self, records, domain_post=None):
        """Core's ``_process`` for our shared automations, less what a transaction pays for nothing there.

        Core reads, in every transaction that saves a record of the model, the automation's watched fields, its
        server actions, the action's groups and model, then builds a server action's evaluation context for each
        record, to reach ``_run_action_notify_rule_multi``: 6 queries and about 3 ms per invoice posted, a quarter
        of what 20 notify rules add to posting one (bench/README.md). When the shared automation's only action is
        ours and has no groups, its records go straight to the rules. The bookkeeping is core's, step by step
        (Odoo 18.0 base_automation ``_process``): records already done in this save are skipped, the others marked
        done, only those whose watched fields changed go on, ``date_automation_last`` is set, and an error is
        tagged with the automation for the post-mortem. Core's access check in ``run`` passes here anyway (core
        runs the action as superuser). An automation with another action, or with groups, takes core's path."""
        watched = self._notify_direct_automations().get(self.id) if len(self) == 1 else None
        if watched is None:
            return super()._process(records, domain_post=domain_post)
        automation_done = self._context.get("__action_done", {})
        records_done = automation_done.get(self, records.browse())
        records -= records_done
        if not records:
            return None
        if self.env.context.get("__action_feedback"):
            automation_done[self] = records_done + records
        else:
            automation_done = dict(automation_done)
            automation_done[self] = records_done + records
            self = self.with_context(__action_done=automation_done)
            records = records.with_context(__action_done=automation_done)
        old_values = self._context.get("old_values")
        if watched and old_values is not None:
            records = records.filtered(lambda record: any(
                name in old_values.get(record.id, {}) and record[name] != old_values[record.id][name]
                for name in watched))
        automation_done[self] = records_done + records
        if records and "date_automation_last" in records._fields:
            records.date_automation_last = fields.Datetime.now()
        if records:
            try:
                self.sudo()._notify_fire(records.sudo(), old_values)
            except Exception as error:
                self._add_postmortem(error)
                raise
        return None

    def _notify_blind_to_recomputation(self, records):
        """Our shared automations that only watch stored, non-computed fields of `records`' model."""
        blind = self._notify_blind_ids(records._name)
        return self.filtered(lambda a: a.id in blind) if blind else self.browse()

    @api.model
    @tools.ormcache("model_name")
    def _notify_blind_ids(self, model_name):
        model_fields = self.env[model_name]._fields
        automations = self.sudo().with_context(active_test=False).search(
            [("notify_shared", "=", True), ("model_name", "=", model_name)])
        return frozenset(automation.id for automation in automations if automation.trigger_field_ids and not any(
            model_fields[f.name].compute for f in automation.trigger_field_ids if f.name in model_fields))

    def _register_hook(self):
        super()._register_hook()
        for automation in self.with_context(active_test=True).search([("trigger", "in", WRITE_TRIGGERS)]):
            model_class = self.env.registry.get(automation.model_name)
            patched = model_class and model_class.__dict__.get("_compute_field_value")
            if patched is not None and hasattr(patched, "origin"):
                _COMPUTE_PATCH_CODES.add(patched.__code__)

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
