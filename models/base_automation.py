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
    def _notify_direct_paths(self):
        """({shared automation id: names of its watched fields}, {notify action id: its shared automation id}):
        what core's ``_process`` reads again in every transaction that saves a record of the model, for our
        shared automations, kept until an automation, or a server action attached to one, changes (``write``
        above, ir_actions_server.py). Only notify actions without groups are listed (see ir.actions.server.run)."""
        watched, automation_of_action = {}, {}
        for automation in self.sudo().search([("notify_shared", "=", True), ("notify_rule_id", "=", False)]):
            watched[automation.id] = tuple(automation.trigger_field_ids.mapped("name"))
            for action in automation.action_server_ids:
                if action.state == "notify_rule" and not action.groups_id:
                    automation_of_action[action.id] = automation.id
        return watched, automation_of_action

    def _check_trigger_fields(self, record):
        """Core's check, for our shared automations from the names kept by ``_notify_direct_paths``: core reads
        the watched fields and their names in every saving transaction (2 queries)."""
        watched = self._notify_direct_paths()[0].get(self.id) if len(self) == 1 else None
        if watched is None:
            return super()._check_trigger_fields(record)
        old_values = self._context.get("old_values")
        if not watched or old_values is None:  # as core: no watched field, or a creation
            return True
        old = old_values.get(record.id, {})
        return any(name in old and record[name] != old[name] for name in watched)

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
