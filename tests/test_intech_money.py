"""Intech mobile money, on the Odoo side: catalogue, operations through the outbox and the dispatcher, faults, money
rules. Real HTTP to the Intech simulator, which verifies every signature exactly as the document says."""

import json
from datetime import timedelta

from odoo import fields
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tests import TransactionCase, new_test_user, tagged

from .money_common import AIRTIME_CI, AIRTIME_SN, COLLECT_SN, PAYOUT_SN, SN_MOBILE, IntechMixin
from .simulator.intech import DOCUMENT_SERVICES


@tagged("post_install", "-at_install")
class TestIntechCatalogue(IntechMixin, TransactionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_intech()

    def test_catalogue_read_with_kind_and_country(self):
        services = self.env["notify.intech.service"].search([("provider_account_id", "=", self.intech.id)])
        self.assertEqual(len(services), len(DOCUMENT_SERVICES))
        self.assertEqual(self.intech.intech_service_count, len(DOCUMENT_SERVICES))
        by_code = {s.code: s for s in services}
        self.assertEqual((by_code[COLLECT_SN].kind, by_code[COLLECT_SN].operation_type), ("collect", "CREDIT"))
        self.assertEqual((by_code[PAYOUT_SN].kind, by_code[PAYOUT_SN].operation_type), ("payout", "DEBIT"))
        self.assertEqual(by_code[AIRTIME_CI].kind, "airtime")
        self.assertEqual(by_code[AIRTIME_CI].country_id, self.env.ref("base.ci"))
        self.assertEqual(by_code[COLLECT_SN].country_id, self.env.ref("base.sn"))
        self.assertFalse(by_code["BANK_CARD_API_CASH_OUT"].country_id)  # no country in its code
        self.assertEqual(by_code["SENELEC_SN_BILL_PAY"].kind, "bill")
        self.assertEqual(by_code[COLLECT_SN].name, "CashOut Wave Money")
        self.assertEqual(by_code[COLLECT_SN].icon_url, "https://intech-apiv2.s3.amazonaws.com/icons/wave.png")
        self.assertEqual(by_code[COLLECT_SN]._intech_counterpart("payout"), by_code[PAYOUT_SN])

    def test_services_that_disappear_are_archived_never_deleted(self):
        gone = self.service(AIRTIME_SN)
        self.intech_sim.services = [s for s in self.intech_sim.services if s["codeService"] != AIRTIME_SN]
        self.intech_sim.services[0]["name"] = "CashIn Free Money (renamed)"
        self.env["notify.provider.account"]._cron_intech_sync_services()
        self.assertTrue(gone.exists())
        self.assertFalse(gone.active)
        self.assertEqual(self.service("FREE_SN_WALLET_CASH_IN").name, "CashIn Free Money (renamed)")
        # it comes back: active again, same record
        self.intech_sim.reset()
        self.intech._intech_sync_services()
        self.assertTrue(gone.active)
        self.assertEqual(self.service(AIRTIME_SN), gone)

    def test_catalogue_button_reads_in_the_background(self):
        cron = self.env.ref("notify_rules.ir_cron_notify_intech_catalogue")
        triggers = self.env["ir.cron.trigger"].search_count([("cron_id", "=", cron.id)])
        self.intech_sim.reset()
        result = self.intech.action_intech_sync_services()
        self.assertEqual(result["params"]["type"], "info")
        self.assertFalse(self.intech_sim.requests)  # the click does not wait on Intech
        self.assertEqual(self.env["ir.cron.trigger"].search_count([("cron_id", "=", cron.id)]), triggers + 1)
        self.intech_sim.services = self.intech_sim.services[:3]
        self.env["notify.provider.account"]._cron_intech_sync_services()
        self.intech.invalidate_recordset()
        self.assertEqual(self.intech.intech_service_count, 3)
        self.assertIn("3 services", self.intech.message_ids[0].body)
        self.intech.intech_secret_key = "wrong"
        self.env["notify.provider.account"]._cron_intech_sync_services()
        self.assertIn("could not be read", self.intech.message_ids[0].body)

    def test_bad_secret_key_says_so_and_changes_nothing(self):
        self.intech.intech_secret_key = "wrong"
        with self.assertRaisesRegex(UserError, "refused the secret key"):
            self.intech._intech_sync_services()
        self.assertEqual(self.intech.intech_service_count, len(DOCUMENT_SERVICES))
        result = self.intech.action_test_connection()
        self.assertEqual(result["params"]["type"], "danger")
        self.intech.intech_secret_key = "demo-intech-secret-key"
        result = self.intech.action_test_connection()
        self.assertEqual(result["params"]["type"], "success")
        self.assertIn(str(len(DOCUMENT_SERVICES)), result["params"]["message"])

    def test_timeout_at_least_60_seconds_and_ipn_url(self):
        self.assertGreaterEqual(self.intech.timeout, 60)
        with self.assertRaisesRegex(ValidationError, "at least 60 seconds"):
            self.intech.timeout = 10
        self.assertEqual(self.intech.intech_ipn_url,
                         f"http://127.0.0.1:8069/notify_rules/intech/ipn/{self.intech.id}")
        with self.assertRaises(ValidationError):
            self.intech.intech_ipn_base_url = "not a url"

    def test_secrets_and_destination_for_settings_administrators_only(self):
        manager = new_test_user(self.env, "intech-mgr", groups="base.group_user,notify_rules.group_notify_manager")
        account = self.intech.with_user(manager)
        self.assertEqual(account.name, "Intech test")
        for secret in ("intech_api_key", "intech_hmac_secret", "intech_secret_key"):
            with self.assertRaises(AccessError):
                account.read([secret])
        with self.assertRaises(AccessError):
            account.write({"intech_ipn_base_url": "https://attacker.example"})
        user = new_test_user(self.env, "intech-user", groups="base.group_user,notify_rules.group_notify_user")
        with self.assertRaises(AccessError):
            self.env["notify.money.operation"].with_user(user).search([])


@tagged("post_install", "-at_install")
class TestIntechOperations(IntechMixin, TransactionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_intech()

    def test_signed_operation_sent_once_with_exact_bytes(self):
        extra = {"beneficiaire": "Aïcha Ndiaye – Thiès", "taux": 0.1, "details": {"montant": 1e21, "n": 100.0},
                 "2": "index key first"}
        operation = self.make_operation(amount=1500, extra=extra)
        self.assertEqual(operation.state, "pending")
        self.assertEqual(operation.message_id.state, "queued")
        self.assertEqual(operation.message_id.idempotency_key, operation.external_id)
        self.assertFalse(self.operation_requests())  # the business transaction never waits on Intech
        self.dispatch_money()
        self.assertEqual(self.intech_sim.accepted_count(operation.external_id), 1)
        accepted = self.intech_sim.operations_for(operation.external_id)[0]
        self.assertEqual(accepted["phone"], "772457199")
        self.assertEqual(accepted["amount"], 1500)
        self.assertEqual(accepted["codeService"], PAYOUT_SN)
        self.assertEqual(accepted["urlIpn"], self.intech.intech_ipn_url)
        self.assertEqual(accepted["extra"]["beneficiaire"], "Aïcha Ndiaye – Thiès")
        # the bytes on the wire are JSON.stringify's: index-like key first, no spaces, no escaping, JS numbers
        raw = accepted["raw_body"]
        self.assertTrue(raw.startswith('{"2":"index key first","apiKey":'), raw)
        self.assertIn('"beneficiaire":"Aïcha Ndiaye – Thiès","taux":0.1,"details":{"montant":1e+21,"n":100}', raw)
        self.assertEqual(operation.state, "pending")
        self.assertEqual(operation.provider_ref, accepted["transactionId"])
        self.assertEqual(operation.provider_status, "PENDING")
        self.assertEqual(operation.answer_raw["data"]["transactionId"], accepted["transactionId"])
        self.assertEqual(operation.message_id.state, "sent")
        # nothing sends it again
        self.dispatch_money()
        self.assertEqual(self.intech_sim.accepted_count(operation.external_id), 1)
        with self.assertRaisesRegex(UserError, "already requested"):
            operation.action_request()
        with self.assertRaisesRegex(UserError, "never sent again"):
            operation.message_id.action_retry()

    def test_international_phone_format(self):
        self.intech.intech_phone_format = "international"
        operation = self.make_operation(phone="+221 77 245 71 99")
        self.dispatch_money()
        self.assertEqual(self.intech_sim.operations_for(operation.external_id)[0]["phone"], "221772457199")

    def test_cote_divoire_number_for_a_ci_service(self):
        operation = self.make_operation(code=AIRTIME_CI, phone="07 07 07 07 07", amount=500)
        self.assertEqual(operation.recipient_e164, "+2250707070707")
        self.dispatch_money()
        self.assertEqual(self.intech_sim.operations_for(operation.external_id)[0]["phone"], "0707070707")

    def test_bad_inputs_refused_before_any_request(self):
        with self.assertRaisesRegex(ValidationError, "cannot be served by"):
            self.make_operation(code=PAYOUT_SN, phone="+225 07 07 07 07 07")
        with self.assertRaisesRegex(ValidationError, "not a valid phone number"):
            self.make_operation(phone="12")
        with self.assertRaises(ValidationError):
            self.make_operation(amount=0)
        wap = self.create_wap_account(self.env)
        with self.assertRaisesRegex(ValidationError, "Intech account"):
            self.make_operation(provider_account_id=wap.id)
        other = self.intech.copy({"name": "Other Intech", "intech_api_key": "x", "intech_hmac_secret": "y"})
        with self.assertRaisesRegex(ValidationError, "catalogue"):
            self.make_operation(provider_account_id=other.id)
        self.assertFalse(self.operation_requests())
        self.assertFalse(self.env["notify.money.operation"].search([("state", "!=", "draft")]))

    def test_requested_operation_cannot_be_edited_nor_deleted(self):
        operation = self.make_operation()
        with self.assertRaisesRegex(UserError, "Only a draft"):
            operation.amount = 2000
        with self.assertRaisesRegex(UserError, "kept for the audit"):
            operation.unlink()

    def test_refusal_fails_with_intechs_words(self):
        self.intech_sim.refuse_next()
        operation = self.make_operation()
        self.dispatch_money()
        self.assertEqual(operation.state, "failed")
        self.assertEqual(operation.state_source, "local")
        self.assertIn("Solde insuffisant", operation.state_reason)
        self.assertEqual(operation.answer_raw["code"], "INSUFFICIENT_BALANCE")
        self.assertEqual(operation.message_id.state, "failed")

    def test_wrong_hmac_secret_is_refused_by_intech(self):
        self.intech.intech_hmac_secret = "not-the-secret"
        operation = self.make_operation()
        self.dispatch_money()
        self.assertEqual(operation.state, "failed")
        self.assertIn("INVALID_SIGNATURE", json.dumps(operation.answer_raw))
        self.assertFalse(self.intech_sim.accepted)

    def test_server_error_after_receipt_is_unknown_and_never_resent(self):
        self.intech.ambiguous_send_policy = "retry"  # even an account that accepts duplicate messages
        for fault in ("500", "504"):
            self.intech_sim.reset()
            self.intech_sim.fail_next(fault)
            operation = self.make_operation()
            self.dispatch_money()
            self.assertEqual(operation.state, "unknown", fault)
            self.assertIn("will not be requested again", operation.state_reason)
            operation.message_id.next_attempt_at = "2000-01-01"
            self.dispatch_money()
            self.assertEqual(len(self.operation_requests()), 1, fault)

    def test_unprocessed_statuses_are_retried(self):
        self.intech_sim.fail_next("503")
        operation = self.make_operation()
        self.dispatch_money()
        self.assertEqual(operation.state, "pending")
        self.assertEqual(operation.message_id.state, "queued")
        self.assertFalse(self.intech_sim.accepted)
        operation.message_id.next_attempt_at = "2000-01-01"
        self.dispatch_money()
        self.assertEqual(self.intech_sim.accepted_count(operation.external_id), 1)
        self.assertEqual(operation.message_id.state, "sent")

    def test_unreadable_answer_is_a_failure_showing_the_body(self):
        self.intech_sim.fail_next("malformed")
        operation = self.make_operation()
        self.dispatch_money()
        self.assertEqual(operation.state, "failed")
        self.assertIn("dashboard", operation.state_reason)
        self.assertIn("upstream proxy says hello", operation.answer_raw["body"])

    def test_crash_mid_send_is_unknown_for_a_person(self):
        operation = self.make_operation()
        long_ago = fields.Datetime.now() - timedelta(hours=1)
        operation.message_id.write({"state": "sending", "sending_since": long_ago})
        self.dispatch_money()
        self.assertEqual(operation.state, "unknown")
        self.assertFalse(self.operation_requests())
        operation.action_mark_failed()
        self.assertEqual((operation.state, operation.state_source), ("failed", "person"))

    def test_bad_keys_pause_the_account_and_keep_the_operation(self):
        self.intech.intech_api_key = ""
        operation = self.make_operation()
        self.dispatch_money()
        self.assertTrue(self.intech.paused)
        self.assertEqual(operation.state, "pending")
        self.assertEqual(operation.message_id.state, "queued")
        self.intech.intech_api_key = "demo-intech-api-key"  # the fix resumes
        self.assertFalse(self.intech.paused)
        self.dispatch_money()
        self.assertEqual(self.intech_sim.accepted_count(operation.external_id), 1)

    def test_cancel_only_before_the_request_leaves(self):
        operation = self.make_operation()
        operation.action_cancel()
        self.assertEqual(operation.state, "cancelled")
        self.assertEqual(operation.message_id.state, "cancelled")
        self.dispatch_money()
        self.assertFalse(self.operation_requests())
        sent = self.make_operation()
        self.dispatch_money()
        with self.assertRaisesRegex(UserError, "already left"):
            sent.action_cancel()
        draft = self.make_operation(request=False)
        draft.action_cancel()
        self.assertEqual(draft.state, "cancelled")

    def test_state_machine_news(self):
        operation = self.make_operation()
        self.dispatch_money()
        apply = operation._money_apply_news
        self.assertEqual(apply("pending", "provider"), "duplicate")
        self.assertEqual(apply("done", "provider"), "applied")
        self.assertTrue(operation.post_process_due)
        self.assertEqual(apply("done", "provider"), "duplicate")
        self.assertEqual(apply("pending", "provider"), "ignored")
        self.assertEqual(apply("failed", "provider"), "conflict")
        self.assertEqual(operation.state, "done")
        self.assertTrue(operation.needs_review)
        # our own reading never overrides Intech's; Intech's word overrides our reading
        local = self.make_operation()
        self.assertEqual(local._money_apply_news("failed", "local"), "applied")
        self.assertEqual(local._money_apply_news("done", "provider"), "applied")
        self.assertEqual(local._money_apply_news("failed", "local"), "ignored")
        self.assertEqual(local.state, "done")

    def test_a_long_timeout_is_not_starved_by_the_run_budget(self):
        """Intech's 60 s timeout is longer than a run's budget (30 s under Odoo's default limits): it goes first
        in a run, and the accounts with a short timeout still go in the same run."""
        wap = self.create_wap_account(self.env, sequence=1)
        self.intech.sequence = 50
        message = self.env["notify.message"].create({
            "provider_account_id": wap.id, "recipient_e164": "+237690000001", "template_ref": "tpl-partner-welcome",
            "payload": {"customer_name": "Aïcha"}})
        operation = self.make_operation()
        self.env["notify.message"]._cron_dispatch(time_budget=30)
        self.assertEqual(self.intech_sim.accepted_count(operation.external_id), 1)
        self.assertEqual(message.state, "sent")

    def test_new_operation_from_a_contact(self):
        partner = self.env["res.partner"].create({"name": "Moussa Diop", "mobile": "+221 77 245 71 99"})
        action = self.env["notify.money.operation"]._money_action_new(partner)
        defaults = {k.removeprefix("default_"): v for k, v in action["context"].items()}
        self.assertEqual((defaults["partner_id"], defaults["res_model"], defaults["provider_account_id"]),
                         (partner.id, "res.partner", self.intech.id))
        operation = self.env["notify.money.operation"].with_context(**action["context"]).create(
            {"service_id": self.service(AIRTIME_SN).id, "amount": 1000})
        operation.action_request()
        self.dispatch_money()
        self.assertEqual(self.intech_sim.accepted_count(operation.external_id), 1)
        self.assertEqual(operation.message_id.res_model, "res.partner")
        bound = self.env.ref("notify_rules.action_notify_money_from_partner")
        self.assertEqual(bound.binding_model_id.model, "res.partner")

    def test_post_process_notes_the_record(self):
        partner = self.env["res.partner"].create({"name": "Moussa Diop", "mobile": "+221772457199"})
        operation = self.make_operation(res_model="res.partner", res_id=partner.id, res_name=partner.name)
        self.dispatch_money()
        operation._money_apply_news("done", "provider")
        self.env["notify.money.operation"]._cron_post_process()
        self.assertFalse(operation.post_process_due)
        self.assertIn(operation.external_id[:8], partner.message_ids[0].body)


@tagged("post_install", "-at_install")
class TestMoneyRules(IntechMixin, TransactionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_intech()

    def make_rule(self, action="money_payout", code=PAYOUT_SN, **values):
        return self.env["notify.rule"].create(dict({
            "name": "Payout on creation",
            "model_id": self.env.ref("base.model_res_partner").id,
            "trigger": "on_create",
            "filter_domain": "[('ref', '=', 'money-test')]",
            "action": action,
            "provider_account_id": self.intech.id,
            "money_service_id": self.service(code).id,
            "money_amount_path": "credit_limit",
            "recipient_path": "mobile",
        }, **values))

    def make_partner(self, mobile=SN_MOBILE, credit_limit=2500.0, **values):
        partner = self.env["res.partner"].create(dict({
            "name": "Awa Ndiaye", "mobile": mobile, "ref": "money-test", "credit_limit": credit_limit,
            "country_id": self.env.ref("base.sn").id}, **values))
        self.env.cr.flush()
        return partner

    def operations_of(self, partner):
        return self.env["notify.money.operation"].search([("res_model", "=", "res.partner"),
                                                          ("res_id", "=", partner.id)])

    def test_one_trigger_one_operation(self):
        rule = self.make_rule()
        partner = self.make_partner()
        self.env["notify.message"]._render_pending()
        self.env["notify.message"]._render_pending()  # rendered once: a second pass creates nothing
        operation = self.operations_of(partner)
        self.assertEqual(len(operation), 1)
        self.assertEqual((operation.amount, operation.kind, operation.rule_id), (2500, "payout", rule))
        self.assertEqual(operation.partner_id, partner)
        self.dispatch_money()
        self.dispatch_money()
        self.assertEqual(self.intech_sim.accepted_count(operation.external_id), 1)
        self.assertEqual(operation.state, "pending")
        self.assertEqual(self.intech_sim.accepted[0]["phone"], "772457199")

    def test_airtime_rule(self):
        self.make_rule(action="money_airtime", code=AIRTIME_SN)
        partner = self.make_partner(credit_limit=1000)
        self.dispatch_money()
        operation = self.operations_of(partner)
        self.assertEqual((operation.kind, operation.service_id.code), ("airtime", AIRTIME_SN))
        self.assertEqual(self.intech_sim.accepted_count(operation.external_id), 1)

    def test_unpayable_records_fail_with_the_reason_and_no_operation(self):
        self.make_rule()
        cases = [
            ({"credit_limit": 0.0}, "Nothing to pay"),
            ({"credit_limit": 12.5}, "without decimals"),
            ({"mobile": False}, "No phone number"),
            ({"mobile": "+225 07 07 07 07 07"}, "cannot be served by"),
        ]
        for values, reason in cases:
            partner = self.make_partner(**values)
            self.env["notify.message"]._render_pending()
            message = self.env["notify.message"].search([("res_model", "=", "res.partner"),
                                                         ("res_id", "=", partner.id)])
            self.assertEqual(message.state, "failed", values)
            self.assertIn(reason, message.last_error, values)
            self.assertFalse(self.operations_of(partner), values)
        self.dispatch_money()
        self.assertFalse(self.operation_requests())
        # fixed, then resent by a person: the rule renders it again and creates its one operation
        partner.mobile = SN_MOBILE
        message.action_retry()
        self.assertEqual(len(self.operations_of(partner)), 1)
        self.dispatch_money()
        self.assertEqual(self.intech_sim.accepted_count(self.operations_of(partner).external_id), 1)
        with self.assertRaisesRegex(UserError, "never sent again"):
            message.action_retry()

    def test_rule_configuration_checks(self):
        with self.assertRaisesRegex(ValidationError, "not a Payout service"):
            self.make_rule(code=COLLECT_SN)
        with self.assertRaisesRegex(ValidationError, "amount field"):
            self.make_rule(money_amount_path="no_such_field")
        wap = self.create_wap_account(self.env)
        with self.assertRaisesRegex(ValidationError, "Intech account"):
            self.make_rule(provider_account_id=wap.id)
