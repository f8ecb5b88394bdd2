"""Notify rules live in base_automation as a user's own automation would: core's behaviour is kept for every
other automation of the model, and for any server action a user adds to ours."""

import sys
from unittest.mock import patch

from .common import NotifyCase


class TestAutomationIntegration(NotifyCase):
    def shared_automation(self):
        return self.rule.automation_id

    def user_automation(self, trigger_field, code, **values):
        action = self.env["ir.actions.server"].create({
            "name": "User's own action", "model_id": self.env.ref("base.model_res_partner").id,
            "state": "code", "code": code, "usage": "base_automation",
        })
        return self.env["base.automation"].create(dict({
            "name": "User's own automation",
            "model_id": self.env.ref("base.model_res_partner").id,
            "trigger": "on_create_or_write",
            "trigger_field_ids": [(6, 0, self.env.ref(trigger_field).ids)],
            "action_server_ids": [(6, 0, action.ids)],
        }, **values))

    def test_users_automation_on_the_same_model_runs_beside_the_rules(self):
        self.user_automation("base.field_res_partner__mobile", "records.write({'function': 'user automation ran'})")
        partner = self.make_partner(name="Both")
        self.assertEqual(partner.function, "user automation ran")
        self.assertEqual(len(self.messages_of(partner)), 1)
        partner.function = False
        partner.mobile = "690000077"
        self.assertEqual(partner.function, "user automation ran", "the user's write trigger still works")

    def test_users_automation_on_a_computed_field_fires_on_recomputation(self):
        self.user_automation("base.field_res_partner__commercial_company_name",
                             "records.write({'function': 'company renamed'})")
        company = self.env["res.partner"].create({"name": "Old SARL", "is_company": True})
        employee = self.make_partner(name="Employee", parent_id=company.id)
        employee.function = False
        company.name = "New SARL"
        self.env.flush_all()
        self.assertEqual(employee.function, "company renamed")

    def test_a_server_action_added_to_the_shared_automation_runs(self):
        self.env["ir.actions.server"].create({
            "name": "Also stamp the partner", "model_id": self.env.ref("base.model_res_partner").id,
            "state": "code", "code": "records.write({'comment': 'stamped'})", "usage": "base_automation",
            "base_automation_id": self.shared_automation().id,
        })
        partner = self.make_partner(name="Stamped")
        self.assertEqual(str(partner.comment), "<p>stamped</p>")
        self.assertEqual(len(self.messages_of(partner)), 1)

    def test_core_hooks_are_kept_and_ours_is_left_out_of_recomputations(self):
        """base_automation's recomputation hook stays on the model; our automation, which watches only stored
        non-computed fields, is not handed the recomputed records (it could never fire there), while a user's
        automation on a computed field is."""
        email = self.env.ref("base.field_res_partner__email")
        self.env["notify.rule"].create({
            "name": "On email", "model_id": self.env.ref("base.model_res_partner").id, "trigger": "on_write",
            "trigger_field_ids": [(6, 0, email.ids)], "provider_account_id": self.account.id,
            "template_ref": "tpl", "recipient_path": "mobile", "filter_domain": "[('ref', '=', 'notify-test')]",
        })
        users = self.user_automation("base.field_res_partner__commercial_company_name", "pass")
        Partner = type(self.env["res.partner"])
        self.assertTrue(hasattr(Partner.__dict__.get("_compute_field_value"), "origin"), "core's patch is there")
        shared = self.env["base.automation"].search([("notify_shared", "=", True),
                                                     ("model_id.model", "=", "res.partner")])
        company = self.env["res.partner"].create({"name": "Old SARL", "is_company": True})
        employee = self.make_partner(name="Employee", parent_id=company.id)
        Automation = type(self.env["base.automation"])
        original = Automation._filter_pre
        handed = []

        def filter_pre(automation, records, feedback=False):
            hook = sys._getframe(2).f_code.co_name  # core's write or _compute_field_value (via a dict comprehension)
            handed.extend((automation.id, hook, record_id) for record_id in records.ids)
            return original(automation, records, feedback=feedback)

        with patch.object(Automation, "_filter_pre", filter_pre):
            company.name = "New SARL"  # recomputes the employee's commercial_company_name
            self.env.flush_all()
        self.assertIn((users.id, "_compute_field_value", employee.id), handed, "the recomputation hook ran")
        self.assertIn((shared.id, "write", company.id), handed, "our automation sees the writes")
        self.assertNotIn((shared.id, "_compute_field_value", employee.id), handed, "but not the recomputations")
        employee.email = "e@example.com"
        self.queue_intents()
        self.assertEqual(len(self.messages_of(employee)), 2, "and the rule on a stored field still fires")

    def test_core_last_run_write_keeps_the_caches(self):
        """base_automation writes last_run at each cron run: that must not clear every cache of the registry."""
        registry = self.env.registry
        registry.cache_invalidated.discard("default")
        self.shared_automation().last_run = "2026-12-01 10:00:00"
        self.assertNotIn("default", registry.cache_invalidated)
        self.shared_automation().trigger = "on_create_or_write"
        self.assertIn("default", registry.cache_invalidated, "a change of what core looks up clears them")

    def core_runs_of_the_notify_action(self, save):
        """How many times core's server-action preamble (its evaluation context) ran for a notify action while
        ``save()`` ran."""
        Action = type(self.env["ir.actions.server"])
        original = Action._get_eval_context
        runs = []

        def get_eval_context(actions, action=None):
            if action is not None and action.state == "notify_rule":
                runs.append(action.id)
            return original(actions, action=action)

        with patch.object(Action, "_get_eval_context", get_eval_context):
            save()
        return len(runs)

    def test_the_shared_automation_hands_records_to_the_rules_directly(self):
        """Core's _process runs the notify action; the action, without groups and run as superuser, skips core's
        preamble. The rules fire as before."""
        action = self.shared_automation().action_server_ids
        self.assertEqual(self.env["base.automation"]._notify_direct_paths()[1].get(action.id),
                         self.shared_automation().id)
        partners = []
        self.assertEqual(
            self.core_runs_of_the_notify_action(lambda: partners.append(self.make_partner(name="Direct"))), 0)
        self.assertEqual(len(self.messages_of(partners[0])), 1)

    def test_groups_take_cores_path_and_back(self):
        action = self.shared_automation().action_server_ids
        action.groups_id = self.env.ref("base.group_system")
        partners = []
        self.assertEqual(
            self.core_runs_of_the_notify_action(lambda: partners.append(self.make_partner(name="Groups"))), 1)
        self.assertEqual(len(self.messages_of(partners[0])), 1, "core's path still reaches the rules")
        action.groups_id = False
        self.assertEqual(self.core_runs_of_the_notify_action(lambda: self.make_partner(name="No groups")), 0)

    def test_running_the_action_by_hand_goes_through_core(self):
        """Not as superuser (a person's Run): core's run, with its checks."""
        partner = self.make_partner(name="By hand")
        action = self.shared_automation().action_server_ids.with_user(self.env.ref("base.user_admin"))
        context = {"active_model": "res.partner", "active_ids": partner.ids, "active_id": partner.id}
        self.assertEqual(self.core_runs_of_the_notify_action(lambda: action.with_context(**context).run()), 1)

    def test_the_direct_path_only_fires_on_watched_fields(self):
        email = self.env.ref("base.field_res_partner__email")
        self.env["notify.rule"].create({
            "name": "On email", "model_id": self.env.ref("base.model_res_partner").id, "trigger": "on_write",
            "trigger_field_ids": [(6, 0, email.ids)], "provider_account_id": self.account.id,
            "template_ref": "tpl", "recipient_path": "mobile", "filter_domain": "[('ref', '=', 'notify-test')]",
        })
        partner = self.make_partner(name="Watched")
        self.assertEqual(self.env["base.automation"]._notify_direct_paths()[0][self.shared_automation().id],
                         ("email",))
        partner.function = "Not watched"
        self.queue_intents()
        self.assertEqual(len(self.messages_of(partner)), 1, "only the creation's message")
        partner.email = "watched@example.com"
        self.queue_intents()
        self.assertEqual(len(self.messages_of(partner)), 2)

    def test_the_direct_path_saves_cores_reads(self):
        """What the direct path is for: in a new transaction (caches empty), saving a record reads less than through
        core's check of the watched fields and core's run."""

        def queries_to_create(name):
            self.env.invalidate_all()
            self.env.registry.clear_cache()  # then warmed again by a first save, as in a running server
            self.env["res.partner"].create({"name": f"{name} warm-up", "ref": "notify-test"})
            self.env.cr.flush()  # the pre-commit hook writes the intents
            self.env.invalidate_all()
            before = self.env.cr.sql_log_count
            self.env["res.partner"].create({"name": name, "ref": "notify-test", "mobile": "690000088"})
            self.env.cr.flush()  # the pre-commit hook writes the intents
            return self.env.cr.sql_log_count - before

        direct = queries_to_create("Direct")
        with patch.object(type(self.env["base.automation"]), "_notify_direct_paths", lambda automation: ({}, {})):
            through_core = queries_to_create("Through core")
        self.queue_intents()
        self.assertEqual(len(self.env["notify.message"].search([("rule_id", "=", self.rule.id)])), 4)
        self.assertLessEqual(direct + 3, through_core, f"direct {direct}, through core {through_core}")
