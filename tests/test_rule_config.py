"""Rule configuration: refused at save with a clear message, preview, and the shared automations."""

from datetime import timedelta

from odoo import fields
from odoo.exceptions import ValidationError
from odoo.tests import Form
from odoo.tools.safe_eval import safe_eval

from .common import NotifyCase


class TestRuleConfig(NotifyCase):
    def rule_vals(self, **values):
        return dict(
            {
                "name": "R",
                "model_id": self.env.ref("base.model_res_partner").id,
                "trigger": "on_create",
                "provider_account_id": self.account.id,
                "template_ref": "tpl",
                "recipient_path": "mobile",
            },
            **values,
        )

    def assert_refused(self, text, **values):
        with self.assertRaises(ValidationError) as caught:
            self.env["notify.rule"].create(self.rule_vals(**values))
        self.assertIn(text, str(caught.exception))

    def test_bad_configuration_refused(self):
        self.assert_refused("has no field 'mobil'", recipient_path="mobil")
        self.assert_refused("'country_id.code.x'", recipient_path="country_id.code.x")
        self.assert_refused("template reference is required", template_ref="  ")
        self.assert_refused("status field", trigger="on_state_set")
        self.assert_refused("date field", trigger="on_time")
        self.assert_refused("filter is not valid", filter_domain="[('nope', '=', 1)]")
        self.assert_refused("has no field 'nam'", variable_ids=[(0, 0, {"name": "x", "field_path": "nam"})])
        self.assert_refused("inline template", variable_ids=[(0, 0, {"name": "x", "source": "template"})])

    def test_rules_of_a_model_share_one_automation(self):
        Automation = self.env["base.automation"].with_context(active_test=False)
        shared = Automation.search([("notify_shared", "=", True), ("model_id.model", "=", "res.partner")])
        self.assertEqual(len(shared), 1)
        self.assertEqual(shared.trigger, "on_create")
        self.assertEqual(shared.action_server_ids.state, "notify_rule")
        email = self.env.ref("base.field_res_partner__email")
        second = self.env["notify.rule"].create(
            self.rule_vals(trigger="on_write", trigger_field_ids=[(6, 0, email.ids)])
        )
        shared = Automation.search([("notify_shared", "=", True), ("model_id.model", "=", "res.partner")])
        self.assertEqual(len(shared), 1, "one automation per model, whatever the number of rules")
        self.assertEqual(shared.trigger, "on_create_or_write")
        self.assertEqual(shared.trigger_field_ids.mapped("name"), ["email"])
        self.assertEqual(second.automation_id, shared)
        (second | self.rule).write({"active": False})
        self.assertFalse(Automation.search([("notify_shared", "=", True), ("model_id.model", "=", "res.partner")]))

    def test_on_write_rule_fires_on_watched_field_only(self):
        self.env["notify.rule"].create(
            self.rule_vals(trigger="on_write", template_ref="tpl-w",
                           trigger_field_ids=[(6, 0, self.env.ref("base.field_res_partner__email").ids)])
        )
        partner = self.make_partner(ref="other")
        partner.city = "Douala"
        self.queue_intents()
        self.assertFalse(self.messages_of(partner))
        partner.email = "a@example.com"
        self.queue_intents()
        self.assertEqual(self.messages_of(partner).template_ref, "tpl-w")

    def test_time_rule_gets_its_own_automation(self):
        rule = self.env["notify.rule"].create(
            self.rule_vals(trigger="on_time", date_field_id=self.env.ref("base.field_res_partner__write_date").id,
                           time_offset=1, time_unit="day")
        )
        self.assertEqual(rule.automation_id.trigger, "on_time")
        self.assertEqual(rule.automation_id.notify_rule_id, rule)
        self.assertEqual(rule.automation_id.trg_date_range, 1)

    def test_time_rule_enqueues_when_the_date_is_reached(self):
        rule = self.env["notify.rule"].create(
            self.rule_vals(trigger="on_time", date_field_id=self.env.ref("base.field_res_partner__write_date").id,
                           time_offset=0, time_unit="minutes", template_ref="tpl-time",
                           filter_domain="[('ref', '=', 'time')]")
        )
        partner = self.make_partner(ref="time")
        self.make_partner(name="Not me", ref="other")
        self.env["base.automation"]._check()
        self.queue_intents()
        messages = self.env["notify.message"].search([("rule_id", "=", rule.id)])
        self.assertEqual((messages.res_id, messages.template_ref), (partner.id, "tpl-time"))

    def test_time_rule_loads_only_records_whose_time_may_have_come(self):
        """base_automation's cron loads every record its filter matches: ours bounds the date from below."""
        rule = self.env["notify.rule"].create(
            self.rule_vals(trigger="on_time", date_field_id=self.env.ref("base.field_res_partner__write_date").id,
                           time_offset=1, time_unit="day", template_ref="tpl-day-after",
                           filter_domain="[('ref', '=', 'day-after')]")
        )
        automation = rule.automation_id
        now = fields.Datetime.now()
        long_ago = self.make_partner(name="Long ago", ref="day-after")
        due = self.make_partner(name="Due", ref="day-after")
        fresh = self.make_partner(name="Fresh", ref="day-after")
        self.make_partner(name="Not me", ref="other")
        for partner, changed in ((long_ago, now - timedelta(days=400)), (due, now - timedelta(days=1, minutes=30))):
            self.env.cr.execute("UPDATE res_partner SET write_date = %s WHERE id = %s", [changed, partner.id])
        self.env["res.partner"].invalidate_model(["write_date"])
        automation.last_run = now - timedelta(hours=1)

        def loaded():
            domain = safe_eval(automation.filter_domain, automation._get_eval_context())
            return self.env["res.partner"].search(domain)

        self.assertEqual(loaded(), due | fresh, "neither the long-ago change nor the filtered-out partner")
        self.env["base.automation"]._check()
        self.queue_intents()
        messages = self.env["notify.message"].search([("rule_id", "=", rule.id)])
        self.assertEqual(messages.res_id, due.id, "a day after its last change, which came since the last run")
        rule.filter_domain = "[('ref', '=', 'day-after'), ('name', '=', 'Due')]"
        self.assertIn("'Due'", rule.automation_id.filter_domain, "the automation follows the rule's filter")

    def test_preview_shows_what_would_be_sent(self):
        partner = self.make_partner(mobile="690 00 00 03")
        preview = self.env["notify.rule.preview"].create(
            {"rule_id": self.rule.id, "record_ref": f"res.partner,{partner.id}"}
        )
        self.assertTrue(preview.ok)
        self.assertEqual(preview.recipient_e164, "+237690000003")
        self.assertEqual(preview.recipient_provider, "CM 690000003")
        self.assertEqual(preview.variables_text, "customer_name: Aïcha Ngono")

    def test_preview_explains_why_not(self):
        no_phone = self.make_partner(mobile=False)
        preview = self.env["notify.rule.preview"].create(
            {"rule_id": self.rule.id, "record_ref": f"res.partner,{no_phone.id}"}
        )
        self.assertFalse(preview.ok)
        self.assertIn("No phone number", preview.error)
        bad = self.make_partner(name="Bad", mobile="+237 12")
        preview.record_ref = f"res.partner,{bad.id}"
        self.assertIn("not a valid phone number", preview.error)
        self.rule.variable_ids.write({"field_path": "email"})
        preview.record_ref = f"res.partner,{bad.id}"
        preview.invalidate_recordset()
        self.assertIn("Variable customer_name is empty", preview.error)
        preview.record_ref = f"res.users,{self.env.user.id}"
        self.assertIn("must be a Contact", preview.error)

    def test_preview_says_when_the_filter_excludes_the_record(self):
        outside = self.make_partner(ref="other")
        preview = self.env["notify.rule.preview"].create(
            {"rule_id": self.rule.id, "record_ref": f"res.partner,{outside.id}"}
        )
        self.assertTrue(preview.ok)
        self.assertFalse(preview.matches_filter)
        inside = self.make_partner()
        preview.record_ref = f"res.partner,{inside.id}"
        self.assertTrue(preview.matches_filter)

    def test_new_wap_account_gets_the_documented_rate_limit(self):
        with Form(self.env["notify.provider.account"]) as form:
            form.name = "New"
            form.provider = "wap"
            form.environment = "production"
            form.wap_api_key = "k"
            form.wap_api_secret = "c2VjcmV0"
            self.assertEqual(form.rate_limit_per_minute, 100)

    def test_recomputed_watched_field_fires(self):
        """A rule watching a computed field keeps base_automation's recomputation hook (and fires)."""
        watched = self.env.ref("base.field_res_partner__commercial_company_name")
        rule = self.env["notify.rule"].create(
            self.rule_vals(trigger="on_write", template_ref="tpl-company", trigger_field_ids=[(6, 0, watched.ids)],
                           filter_domain="[('ref', '=', 'employee')]")
        )
        self.assertTrue("_compute_field_value" in type(self.env["res.partner"]).__dict__)
        company = self.env["res.partner"].create({"name": "Old SARL", "is_company": True})
        employee = self.make_partner(name="Employee", ref="employee", parent_id=company.id)
        before = self.env["notify.message"].search([("rule_id", "=", rule.id)])
        company.name = "New SARL"
        self.queue_intents()
        new = self.env["notify.message"].search([("rule_id", "=", rule.id)]) - before
        self.assertEqual(new.res_id, employee.id, "renaming the company recomputes the watched field")

    def test_server_action_runs_the_rules_by_hand(self):
        partner = self.env["res.partner"].create({"name": "By hand", "mobile": "690000005", "ref": "notify-test"})
        self.queue_intents()
        self.env["notify.message"].search([("res_id", "=", partner.id), ("res_model", "=", "res.partner")]).unlink()
        action = self.rule.automation_id.action_server_ids
        self.assertEqual(action.state, "notify_rule")
        action.with_context(active_model="res.partner", active_ids=partner.ids).run()
        self.queue_intents()
        self.assertEqual(self.messages_of(partner).rule_id, self.rule)

    def test_fields_of_another_model_refused(self):
        """Fields chosen before the model was changed would break every save of the new model."""
        move_state = self.env.ref("account.field_account_move__state")
        posted = move_state.selection_ids.filtered(lambda s: s.value == "posted")
        self.assert_refused("does not belong to Contact", trigger="on_state_set", state_field_id=move_state.id,
                            state_value_id=posted.id)
        self.assert_refused("does not belong to Contact", trigger="on_time",
                            date_field_id=self.env.ref("account.field_account_move__invoice_date").id)
        self.assert_refused("does not belong to Contact", trigger="on_write",
                            trigger_field_ids=[(6, 0, move_state.ids)])
        partner_type = self.env.ref("base.field_res_partner__type")
        self.assert_refused("does not belong to Contact", trigger="on_state_set", state_field_id=partner_type.id,
                            state_value_id=posted.id)
        # changing the model re-checks the variables too
        self.rule.variable_ids.field_path = "email"
        with self.assertRaisesRegex(ValidationError, "Variable customer_name: 'email': Journal Item has no field"):
            self.rule.write({"model_id": self.env.ref("account.model_account_move_line").id,
                             "recipient_path": "partner_id.mobile", "recipient_fallback_path": False,
                             "filter_domain": "[]"})

    def test_changing_the_model_in_the_form_clears_its_fields(self):
        with Form(self.env["notify.rule"]) as form:
            form.name = "Form"
            form.model_id = self.env.ref("account.model_account_move")
            form.trigger = "on_state_set"
            form.state_field_id = self.env.ref("account.field_account_move__state")
            self.assertEqual(form.recipient_path, "partner_id.mobile")
            form.model_id = self.env.ref("base.model_res_partner")
            self.assertFalse(form.state_field_id)
            self.assertEqual((form.recipient_path, form.recipient_fallback_path), ("mobile", "phone"))
            form.trigger = "on_create"
            form.provider_account_id = self.account
            form.template_ref = "tpl"

    def test_default_recipient_is_a_field_of_the_model(self):
        """A model with a phone but no mobile (bank) gets `phone`, not a `mobile` path it does not have."""
        vals = self.rule_vals(model_id=self.env.ref("base.model_res_bank").id)
        del vals["recipient_path"]
        rule = self.env["notify.rule"].create(vals)
        self.assertEqual((rule.recipient_path, rule.recipient_fallback_path), ("phone", False))

    def test_account_of_another_company_refused(self):
        other = self.env["res.company"].create({"name": "Other company"})
        with self.assertRaisesRegex(ValidationError, "belongs to"):
            self.env["notify.rule"].create(self.rule_vals(company_id=other.id))
        with self.assertRaisesRegex(ValidationError, "cannot move to another company"):
            self.account.company_id = other

    def test_rule_acts_on_its_company_records_only(self):
        other = self.env["res.company"].create({"name": "Other company"})
        theirs = self.make_partner(name="Theirs", company_id=other.id)
        ours = self.make_partner(name="Ours", company_id=self.env.company.id)
        shared = self.make_partner(name="Shared", company_id=False)
        self.assertFalse(self.messages_of(theirs))
        self.assertEqual(len(self.messages_of(ours)), 1)
        self.assertEqual(len(self.messages_of(shared)), 1, "records of no company are every company's")

    def test_rule_filter_is_not_limited_by_the_saving_users_rights(self):
        """As base_automation: the filter is evaluated as the rule's author, not as whoever saves the record."""
        self.rule.filter_domain = "[('ref', '=', 'notify-test'), ('credit', '>=', 0)]"  # accounting-only field
        clerk = self.env["res.users"].create({
            "name": "Clerk", "login": "clerk", "groups_id": [(6, 0, self.env.ref("base.group_partner_manager").ids
                                                             + self.env.ref("base.group_user").ids)]})
        partner = self.env["res.partner"].with_user(clerk).create(
            {"name": "By clerk", "mobile": "690000006", "ref": "notify-test"})
        self.queue_intents()
        self.assertEqual(len(self.messages_of(partner)), 1)

    def test_rules_follow_a_change_of_account(self):
        """The save path caches each rule's account details: changing the rule's account refreshes them."""
        self.make_partner(name="Warm-up")  # fills the cache
        other = self.create_wap_account(self.env, name="Second")
        self.rule.provider_account_id = other
        self.assertEqual(self.messages_of(self.make_partner(name="After")).provider_account_id, other)

    def test_channel_must_be_one_the_provider_carries(self):
        with self.assertRaisesRegex(ValidationError, "WAP \\(WhatsApp, Cameroon\\) does not carry SMS messages"):
            self.env["notify.rule"].create(self.rule_vals(channel="sms"))

    def test_rule_counters_and_last_run(self):
        self.assertEqual((self.rule.notify_message_count, self.rule.last_run), (0, False))
        self.make_partner(name="A", mobile="690000061")
        self.make_partner(name="B", mobile="690000062")
        self.make_partner(name="No phone", mobile=False)
        self.env["notify.message"]._cron_dispatch()
        self.rule.invalidate_recordset()
        self.assertEqual((self.rule.notify_message_count, self.rule.sent_count, self.rule.failed_count), (3, 2, 1))
        self.assertTrue(self.rule.last_run)
        self.assertEqual(self.rule.action_view_messages()["domain"], [("rule_id", "=", self.rule.id)])
