"""The foundation's story: an invoice is posted, a rule enqueues, the dispatcher sends a signed WAP request."""

from odoo.tests import tagged

from odoo.addons.account.tests.common import AccountTestInvoicingCommon

from ..clients.signing import signatures_match, wap_signature
from .common import DEMO_INVOICE_AUTOMATION, NotifySimulatorMixin
from .simulator.wap import DEMO_API_KEY, DEMO_SECRET_B64


@tagged("post_install", "-at_install")
class TestInvoiceFlow(NotifySimulatorMixin, AccountTestInvoicingCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.start_simulator()
        # configuration is an administrator's job; the accountant posting invoices has no notify rights
        admin_env = cls.env(su=True)
        cls.account = cls.create_wap_account(admin_env, company_id=cls.env.company.id)
        cls.partner_a.write({"mobile": "+237 690 00 00 01", "country_id": cls.env.ref("base.cm").id})
        move_state = cls.env.ref("account.field_account_move__state")
        cls.rule = admin_env["notify.rule"].create(
            {
                "name": "Invoice posted",
                "model_id": cls.env.ref("account.model_account_move").id,
                "trigger": "on_state_set",
                "state_field_id": move_state.id,
                "state_value_id": move_state.selection_ids.filtered(lambda s: s.value == "posted").id,
                "filter_domain": "[('move_type', '=', 'out_invoice')]",
                "provider_account_id": cls.account.id,
                "template_ref": DEMO_INVOICE_AUTOMATION,
                "variable_ids": [
                    (0, 0, {"name": "customer_name", "field_path": "partner_id.name"}),
                    (0, 0, {"name": "invoice_number", "field_path": "name"}),
                    (0, 0, {"name": "amount_due", "source": "template",
                            "template": "{{ object.amount_residual }} {{ object.currency_id.name }}"}),
                ],
            }
        )

    def messages_of(self, move):
        domain = [("res_model", "=", "account.move"), ("res_id", "in", move.ids)]
        return self.env["notify.message"].sudo().search(domain)

    def test_invoice_posted_to_delivered(self):
        invoice = self.init_invoice("out_invoice", partner=self.partner_a, amounts=[1500.0])
        self.queue_intents()
        self.assertFalse(self.messages_of(invoice), "a draft invoice sends nothing")

        invoice.action_post()
        self.queue_intents()
        message = self.messages_of(invoice)
        self.assertEqual(len(message), 1)
        self.assertEqual((message.state, message.rule_id), ("queued", self.rule))
        self.assertFalse(self.wap_sim.requests, "posting never waits on the provider")

        self.env["notify.message"].sudo()._cron_dispatch()
        self.assertEqual(message.state, "sent")
        [request] = self.wap_sim.requests
        headers, body = request["headers"], request["json"]
        self.assertEqual(headers["X-API-Key"], DEMO_API_KEY)
        expected = wap_signature(DEMO_API_KEY, DEMO_SECRET_B64, int(headers["X-API-Timestamp"]))
        self.assertTrue(signatures_match(expected, headers["X-API-Signature"]))
        self.assertEqual(
            body,
            {
                "reference": DEMO_INVOICE_AUTOMATION,
                "country": "CM",
                "recipient": "690000001",
                "scheduled": body["scheduled"],
                "variables": {
                    "customer_name": self.partner_a.name,
                    "invoice_number": invoice.name,
                    "amount_due": f"{invoice.amount_residual} {invoice.currency_id.name}",
                },
            },
        )
        self.assertRegex(body["scheduled"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")

        self.wap_sim.advance(message.provider_ref, "delivered")
        self.env["notify.message"].sudo()._cron_poll_status()
        self.assertEqual(message.state, "delivered")
        bodies = invoice.message_ids.mapped("body")
        self.assertTrue(any("WhatsApp to +237 6 90 00 00 01: sent" in b for b in bodies), bodies)
        self.assertTrue(any("Delivered" in b for b in bodies), bodies)

    def test_credit_note_and_reposting_filtered(self):
        refund = self.init_invoice("out_refund", partner=self.partner_a, amounts=[100.0], post=True)
        self.queue_intents()
        self.assertFalse(self.messages_of(refund), "the rule's filter excludes credit notes")
        invoice = self.init_invoice("out_invoice", partner=self.partner_a, amounts=[10.0], post=True)
        invoice.ref = "changed after posting"  # a save that does not change the state
        self.queue_intents()
        self.assertEqual(len(self.messages_of(invoice)), 1)

    def test_many_invoices_in_one_transaction_one_message_each(self):
        invoices = self.env["account.move"]
        for amount in (10.0, 20.0, 30.0):
            invoices |= self.init_invoice("out_invoice", partner=self.partner_a, amounts=[amount])
        for invoice in invoices:
            invoice.action_post()
        self.queue_intents()
        messages = self.messages_of(invoices)
        self.assertEqual(len(messages), 3)
        self.assertEqual(set(messages.mapped("res_id")), set(invoices.ids))

    def test_archived_rule_stops_sending(self):
        self.rule.active = False
        self.assertFalse(self.env["base.automation"].sudo().search([("notify_shared", "=", True),
                                                             ("model_id.model", "=", "account.move")]))
        self.init_invoice("out_invoice", partner=self.partner_a, amounts=[10.0], post=True)
        self.queue_intents()
        self.assertFalse(self.env["notify.message"].sudo().search([("rule_id", "=", self.rule.id)]))
