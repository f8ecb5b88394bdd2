"""The Intech payment provider, end to end over real HTTP: Odoo's portal payment routes, our request route, the
outbox's dispatcher to the Intech simulator, the simulator's signed IPN to this test server, Odoo's post-processing
cron, and the invoice paid and reconciled. Refunds are payouts; rules' collections on invoices get transactions.
A headless Chromium tour pays an invoice from the customer portal."""

from odoo.exceptions import UserError, ValidationError
from odoo.tests import tagged

from .intech_common import (
    COLLECT_ORANGE_CI,
    COLLECT_WAVE,
    COLLECT_WIZALL,
    CUSTOMER_MOBILE,
    CUSTOMER_MOBILE_INTECH,
    INVOICE_AMOUNT,
    PAYOUT_WAVE,
    PORTAL_LOGIN,
    IntechPaymentCommon,
)
from .simulator.intech import IPN_MESSAGES


@tagged("post_install", "-at_install")
class TestIntechProviderSetup(IntechPaymentCommon):
    def test_provider_record_and_features(self):
        data = self.env.ref("notify_rules.payment_provider_intech").sudo()
        self.assertEqual((data.code, data.state), ("intech", "disabled"), "shipped disabled, like Odoo's providers")
        self.assertEqual(data.inline_form_view_id, self.env.ref("notify_rules.payment_intech_inline_form"))
        self.assertEqual(data.payment_method_ids, self.method)
        self.assertEqual(data.available_currency_ids.mapped("name"), ["XOF"])
        self.assertEqual(
            (data.support_refund, data.support_tokenization, data.support_express_checkout),
            ("partial", False, False))
        self.assertEqual((self.method.support_refund, self.method.support_tokenization), ("partial", False))
        self.assertEqual(self.method.supported_country_ids.mapped("code"), ["CI", "SN"])
        self.assertTrue(self.method.active, "enabling the provider activates its payment method")
        self.assertEqual(self.provider.journal_id, self.company_data["default_journal_bank"])

    def test_account_required_when_enabled(self):
        provider = self.env.ref("notify_rules.payment_provider_intech").sudo().copy({"company_id": self.company.id})
        with self.assertRaisesRegex(ValidationError, "The following fields must be filled: Intech account"):
            provider.write({"state": "test"})

    def test_portal_offers_the_collection_wallets_of_the_customer_country(self):
        """The invoice's payment form, as the customer sees it: Intech, its collection wallets of Senegal with
        their icons (not the payouts, not Côte d'Ivoire's, not the archived ones), the number prefilled."""
        self.service("ORANGE_SN_API_CASH_OUT").active = False
        invoice = self.make_invoice()
        self.login_portal()
        page = self.url_open(f"/my/invoices/{invoice.id}?access_token={invoice._portal_ensure_token()}").text
        self.assertIn('data-provider-code="intech"', page)
        self.assertIn("CashOut Wave Money", page)
        self.assertIn("https://intech-apiv2.s3.amazonaws.com/icons/wave.png", page)
        self.assertIn(f'value="{CUSTOMER_MOBILE}"', page)
        for absent in ("CashIn Wave Money", "Cashout Orange Money CI", "CashOut Orange Money",
                       "CashOut Carte Bancaire"):
            self.assertNotIn(absent, page)
        sn_wallets = ["CashOut E Money", "CashOut Free Money", "CashOut Wave Money", "CashOut Wizall Money"]
        self.assertEqual(self.provider._intech_collect_services(self.customer).mapped("name"), sn_wallets)
        # a customer without a country is offered the wallets of the company's country
        self.customer.country_id = False
        self.assertEqual(self.provider._intech_collect_services(self.customer).mapped("name"), sn_wallets)
        # a customer of Côte d'Ivoire, those of Côte d'Ivoire
        self.customer.country_id = self.env.ref("base.ci")
        self.assertEqual(self.provider._intech_collect_services(self.customer).mapped("code"),
                         ["MOOV_CI_API_CASH_OUT", "MTN_CI_API_CASH_OUT", "MTN_CI_API_CASH_OUT_2", COLLECT_ORANGE_CI])

    def test_provider_form_shows_the_account(self):
        arch = self.env(su=True)["payment.provider"].get_views([(False, "form")])["views"]["form"]["arch"]
        self.assertIn('name="intech_account_id"', arch)


@tagged("post_install", "-at_install")
class TestIntechPortalPayment(IntechPaymentCommon):
    def pay_from_portal(self, invoice, **kwargs):
        self.login_portal()
        values = self.portal_transaction(invoice)
        result, error = self.request_payment(values, **kwargs)
        self.assertIsNone(error)
        self.assertEqual(result, {"reference": values["reference"]})
        return values, self.transaction(values["reference"])

    def test_paid_and_reconciled(self):
        invoice = self.make_invoice()
        values, tx = self.pay_from_portal(invoice)
        operation = self.operations(tx)
        self.assertEqual(len(operation), 1)
        self.assertRecordValues(operation, [{
            "kind": "collect", "state": "pending", "amount": INVOICE_AMOUNT, "partner_id": self.customer.id,
            "res_model": "payment.transaction", "res_id": tx.id, "provider_account_id": self.intech.id,
            "service_id": self.service(COLLECT_WAVE).id,
        }])
        self.assertEqual(tx.intech_operation_ids, operation)
        self.assertEqual((tx.state, tx.invoice_ids), ("pending", invoice))
        self.assertIn("Confirm the payment on your phone", tx.state_message)
        self.assertEqual(operation.message_id.state, "queued")
        self.assertFalse(self.operation_requests(), "the customer's request never waits on Intech")

        self.dispatch()
        [accepted] = self.intech_sim.accepted
        self.assertEqual(self.intech_sim.accepted_count(operation.external_id), 1)
        self.assertEqual(
            {key: accepted[key] for key in ("phone", "amount", "codeService", "externalTransactionId", "urlIpn")},
            {"phone": CUSTOMER_MOBILE_INTECH, "amount": INVOICE_AMOUNT, "codeService": COLLECT_WAVE,
             "externalTransactionId": operation.external_id, "urlIpn": self.intech.intech_ipn_url})
        self.assertIsInstance(accepted["amount"], int)
        self.assertTrue(self.intech.intech_ipn_url.startswith(self.base_url()))
        self.assertEqual(operation.state, "pending")

        self.send_ipn(operation, "SUCCESS")
        self.assertEqual(operation.state, "done")
        self.assertEqual(tx.state, "done", "the status page tells at once")
        self.assertEqual(tx.provider_reference, operation.provider_ref)
        self.assertFalse(tx.payment_id, "the payment is the post-processing's work")

        self.run_payment_post_process()
        self.assertTrue(tx.is_post_processed)
        payment = tx.payment_id
        self.assertRecordValues(payment, [{
            "amount": INVOICE_AMOUNT, "payment_type": "inbound", "partner_id": self.customer.id,
            "journal_id": self.provider.journal_id.id,
        }])
        self.assertNotEqual(payment.state, "draft")
        self.assertIn(invoice.payment_state, ("paid", "in_payment"))
        self.assertEqual(invoice.amount_residual, 0)
        receivable = invoice.line_ids.filtered(lambda line: line.account_id.account_type == "asset_receivable")
        self.assertTrue(receivable.reconciled)
        self.assertEqual(payment.reconciled_invoice_ids, invoice)
        # the same IPN again: nothing moves, nothing is paid twice
        self.send_ipn(operation, "SUCCESS")
        self.run_payment_post_process()
        self.assertEqual(self.env["account.payment"].sudo().search_count([("payment_transaction_id", "=", tx.id)]), 1)

    def test_failed_payment_leaves_the_invoice_unpaid(self):
        invoice = self.make_invoice()
        _values, tx = self.pay_from_portal(invoice)
        operation = self.operations(tx)
        self.dispatch()
        self.send_ipn(operation, "FAILED")
        self.assertEqual(operation.state, "failed")
        self.assertEqual((tx.state, tx.state_message), ("error", IPN_MESSAGES["FAILED"]))
        self.run_payment_post_process()
        self.assertFalse(tx.payment_id)
        self.assertEqual((invoice.payment_state, invoice.amount_residual), ("not_paid", INVOICE_AMOUNT))

    def test_refused_by_intech_fails_the_transaction(self):
        """Intech refuses the operation in its answer (balance, limits): the customer's transaction fails with
        Intech's words; nothing was paid."""
        invoice = self.make_invoice()
        _values, tx = self.pay_from_portal(invoice)
        self.intech_sim.refuse_next("INSUFFICIENT_BALANCE", "Solde insuffisant")
        self.dispatch()
        self.assertEqual(self.operations(tx).state, "failed")
        self.assertEqual(tx.state, "error")
        self.assertIn("Solde insuffisant", tx.state_message)
        self.assertEqual(invoice.payment_state, "not_paid")

    def test_second_click_makes_no_second_operation(self):
        invoice = self.make_invoice()
        values, tx = self.pay_from_portal(invoice)
        _result, error = self.request_payment(values)
        self.assertEqual(error, "This payment was already requested: confirm it on your phone. To pay again, start "
                                "a new payment.")
        self.assertEqual(len(self.operations(tx)), 1)
        self.dispatch()
        self.assertEqual(self.intech_sim.accepted_count(self.operations(tx).external_id), 1)
        self.assertEqual(len(self.intech_sim.accepted), 1)

    def test_bad_inputs_are_refused_with_the_reason_and_nothing_created(self):
        other_account = self.make_intech_account(self.env(su=True), "Intech Abidjan")
        invoice = self.make_invoice()
        self.login_portal()
        values = self.portal_transaction(invoice)
        cases = [
            ({"service": self.service(COLLECT_WAVE, other_account)}, "Choose one of the wallets offered."),
            ({"service": self.service(PAYOUT_WAVE)},
             "CashIn Wave Money cannot take a payment: choose one of the wallets offered."),
            ({"phone": "+225 07 07 07 07 07"},
             "The number +225 07 07 07 07 07 cannot be served by CashOut Wave Money (WAVE_SN_API_CASH_OUT): it is "
             "not a number of Senegal."),
            ({"phone": "12"}, "The number '12' is not a valid phone number for Senegal."),
            ({"phone": ""}, "Enter the number of your CashOut Wave Money wallet."),
            ({"access_token": "forged"}, "Received tampered payment request data."),
            ({"service_id": "not-a-number"}, "Choose one of the wallets offered."),
            ({"service_id": 2**40}, "Choose one of the wallets offered."),
            ({"access_token": 123}, "Received tampered payment request data."),
            ({"reference": "no-such-transaction"}, "Received tampered payment request data."),
        ]
        for kwargs, expected in cases:
            result, error = self.request_payment(values, **kwargs)
            self.assertIsNone(result, kwargs)
            self.assertEqual(error, expected, kwargs)
        self.assertFalse(self.operations(), "a refused request creates no operation")
        self.assertEqual(self.transaction(values["reference"]).state, "draft")
        self.dispatch()
        self.assertFalse(self.operation_requests())
        # the customer corrects the number: the same transaction can still be paid
        _result, error = self.request_payment(values)
        self.assertIsNone(error)
        self.assertEqual(len(self.operations()), 1)

    def test_amounts_intech_cannot_take(self):
        """A payment link in another currency, or with decimals: refused before anything is queued."""
        eur = self.setup_other_currency("EUR")
        self.login_portal()
        for amount, expected in (
            (1500.5, "Mobile money payments are made in whole amounts: 1500.5 EUR cannot be paid this way."),
            (1500.0, "Mobile money payments are made in XOF; this payment is in EUR."),
        ):
            values = self.payment_link_transaction(amount, eur)
            _result, error = self.request_payment(values)
            self.assertEqual(error, expected)
            self.assertEqual(self.transaction(values["reference"]).state, "draft")
        self.assertFalse(self.operations())


@tagged("post_install", "-at_install")
class TestIntechRefund(IntechPaymentCommon):
    def paid_transaction(self, service_code=COLLECT_WAVE):
        invoice = self.make_invoice()
        self.login_portal()
        values = self.portal_transaction(invoice)
        _result, error = self.request_payment(values, service=self.service(service_code))
        self.assertIsNone(error)
        tx = self.transaction(values["reference"])
        self.dispatch()
        self.send_ipn(self.operations(tx), "SUCCESS")
        self.run_payment_post_process()
        self.assertTrue(tx.payment_id)
        self.intech_sim.reset()
        return tx

    def refund_wizard(self, tx, amount):
        return self.env["payment.refund.wizard"].with_context(active_model="account.payment",
                                                             active_id=tx.payment_id.id).create(
            {"payment_id": tx.payment_id.id, "amount_to_refund": amount})

    def test_refund_is_a_payout_to_the_same_wallet(self):
        tx = self.paid_transaction()
        wizard = self.refund_wizard(tx, 5000)
        self.assertEqual(wizard.support_refund, "partial")
        wizard.action_refund()
        refund_tx = tx.child_transaction_ids.filtered(lambda t: t.operation == "refund")
        self.assertRecordValues(refund_tx, [{"amount": -5000, "state": "pending"}])
        payout = self.operations(refund_tx)
        self.assertRecordValues(payout, [{
            "kind": "payout", "service_id": self.service(PAYOUT_WAVE).id, "amount": 5000, "state": "pending",
            "phone": CUSTOMER_MOBILE, "res_model": "payment.transaction", "res_id": refund_tx.id,
        }])
        self.dispatch()
        [accepted] = self.intech_sim.accepted
        self.assertEqual((accepted["codeService"], accepted["amount"], accepted["phone"]),
                         (PAYOUT_WAVE, 5000, CUSTOMER_MOBILE_INTECH))
        self.send_ipn(payout, "SUCCESS")
        self.assertEqual(refund_tx.state, "done")
        self.run_payment_post_process()
        self.assertRecordValues(refund_tx.payment_id, [{"amount": 5000, "payment_type": "outbound"}])
        self.assertEqual(tx.payment_id.amount_available_for_refund, INVOICE_AMOUNT - 5000)

    def test_failed_refund(self):
        tx = self.paid_transaction()
        self.refund_wizard(tx, INVOICE_AMOUNT).action_refund()
        refund_tx = tx.child_transaction_ids
        self.dispatch()
        self.send_ipn(self.operations(refund_tx), "FAILED")
        self.assertEqual((refund_tx.state, refund_tx.state_message), ("error", IPN_MESSAGES["FAILED"]))

    def test_no_payout_service_for_the_wallet(self):
        tx = self.paid_transaction(COLLECT_WIZALL)
        wizard = self.refund_wizard(tx, 1000)
        with self.assertRaisesRegex(UserError, "No payout service of WIZALL in the Intech catalogue"):
            wizard.action_refund()
        self.assertFalse(tx.child_transaction_ids)
        self.assertEqual(len(self.operations()), 1, "only the payment's collection")
        self.assertFalse(self.operation_requests())


@tagged("post_install", "-at_install")
class TestIntechRuleCollection(IntechPaymentCommon):
    def make_rule(self):
        move_state = self.env.ref("account.field_account_move__state")
        return self.env(su=True)["notify.rule"].create({
            "name": "Ask the wallet for the invoice",
            "model_id": self.env.ref("account.model_account_move").id,
            "trigger": "on_state_set",
            "state_field_id": move_state.id,
            "state_value_id": move_state.selection_ids.filtered(lambda s: s.value == "posted").id,
            "filter_domain": "[('move_type', '=', 'out_invoice')]",
            "action": "money_collect",
            "provider_account_id": self.intech.id,
            "money_service_id": self.service(COLLECT_WAVE).id,
            "money_amount_path": "amount_residual",
            "recipient_path": "partner_id.mobile",
            "company_id": self.company.id,
        })

    def collect_by_rule(self):
        self.make_rule()
        invoice = self.make_invoice(post=False)
        invoice.action_post()
        self.env.cr.flush()
        self.dispatch()
        operation = self.env["notify.money.operation"].sudo().search(
            [("res_model", "=", "account.move"), ("res_id", "=", invoice.id)])
        self.assertEqual(len(operation), 1)
        return invoice, operation

    def test_rule_collection_pays_the_invoice(self):
        invoice, operation = self.collect_by_rule()
        tx = operation.payment_transaction_id
        self.assertRecordValues(tx, [{
            "state": "pending", "amount": INVOICE_AMOUNT, "partner_id": self.customer.id, "operation": "online_direct",
            "provider_id": self.provider.id, "payment_method_id": self.method.id,
        }])
        self.assertEqual(tx.invoice_ids, invoice)
        self.assertEqual(tx.currency_id.name, "XOF")
        self.assertEqual(self.intech_sim.accepted_count(operation.external_id), 1)
        self.send_ipn(operation, "SUCCESS")
        self.assertEqual(tx.state, "done")
        self.run_payment_post_process()
        self.assertIn(invoice.payment_state, ("paid", "in_payment"))
        self.assertEqual(invoice.amount_residual, 0)

    def test_no_enabled_provider_no_transaction(self):
        self.provider.sudo().state = "disabled"
        invoice, operation = self.collect_by_rule()
        self.assertFalse(operation.payment_transaction_id)
        self.assertFalse(invoice.transaction_ids)
        self.assertIn("no enabled Intech payment provider", operation.message_ids.mapped("body")[0])
        self.send_ipn(operation, "SUCCESS")
        self.assertEqual(operation.state, "done")
        self.assertEqual(invoice.payment_state, "not_paid")


@tagged("post_install", "-at_install")
class TestIntechPaymentTour(IntechPaymentCommon):
    def test_portal_payment_tour(self):
        invoice = self.make_invoice()
        self.start_tour(f"/my/invoices/{invoice.id}?access_token={invoice._portal_ensure_token()}",
                        "notify_intech_payment_tour", login=PORTAL_LOGIN)
        tx = invoice.transaction_ids
        self.assertEqual(len(tx), 1)
        self.assertEqual(tx.state, "pending")
        operation = self.operations(tx)
        self.assertRecordValues(operation, [{"state": "pending", "service_id": self.service(COLLECT_WAVE).id}])
        self.dispatch()
        self.assertEqual(self.intech_sim.accepted[0]["phone"], CUSTOMER_MOBILE_INTECH)
        self.send_ipn(operation, "SUCCESS")
        self.run_payment_post_process()
        self.assertIn(invoice.payment_state, ("paid", "in_payment"))
        self.start_tour(f"/my/invoices/{invoice.id}?access_token={invoice._portal_ensure_token()}",
                        "notify_intech_invoice_paid_tour", login=PORTAL_LOGIN)
