"""Set-up of the Intech payment provider tests: a company in Senegal (XOF) with a chart of accounts, an Intech
account on the simulator whose IPN URL is this test server, its catalogue, an enabled Intech payment provider, a
portal customer and helpers that go through real HTTP (Odoo's payment routes, ours, Intech's IPN)."""

import json

from odoo import SUPERUSER_ID, api, http
from odoo.tests import new_test_user
from odoo.tests.common import TEST_CURSOR_COOKIE_NAME
from odoo.tools.misc import hmac as hmac_tool

from odoo.addons.account.tests.common import AccountTestInvoicingHttpCommon

from .common import NotifySimulatorMixin
from .money_common import create_intech_account

COLLECT_WAVE = "WAVE_SN_API_CASH_OUT"
PAYOUT_WAVE = "WAVE_SN_API_CASH_IN"
COLLECT_WIZALL = "WIZALL_SN_API_CASH_OUT"  # Wizall has no cash-in service: a payment that cannot be refunded
COLLECT_ORANGE_CI = "ORANGE_CI_API_CASH_OUT"
CUSTOMER_MOBILE = "77 245 71 99"
CUSTOMER_MOBILE_INTECH = "772457199"  # as Intech takes it (the account's national format)
PORTAL_LOGIN = "intech_portal"
INVOICE_AMOUNT = 15000


class IntechPaymentCommon(NotifySimulatorMixin, AccountTestInvoicingHttpCommon):
    country_code = "SN"  # the test company is in Senegal, its currency XOF
    chart_template = "generic_coa"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # Parse every manifest once here (see tests/test_tour.py: CPython gh-106905 in parallel page loads).
        http.root.statics  # noqa: B018 - a lazy property, computed for its side effect
        cls.start_simulator()
        cls.intech_sim = cls.simulator.intech
        cls.company = cls.env.company
        admin = cls.env(su=True)  # configuration is an administrator's job
        admin["ir.config_parameter"].set_param("account_payment.enable_portal_payment", True)
        cls.intech = cls.make_intech_account(admin, "Intech Dakar")
        cls.provider = cls.make_provider(admin, cls.intech)
        cls.method = admin.ref("notify_rules.payment_method_intech_wallet")
        cls.portal_user = new_test_user(
            admin, PORTAL_LOGIN, groups="base.group_portal", company_id=cls.company.id, name="Awa Ndiaye")
        cls.customer = cls.portal_user.partner_id
        cls.customer.write({"mobile": CUSTOMER_MOBILE, "country_id": admin.ref("base.sn").id,
                            "company_id": cls.company.id})

    @classmethod
    def make_intech_account(cls, env, name):
        # the simulator posts its IPNs to this test server
        return create_intech_account(env, cls.simulator, cls.base_url(), name=name, company_id=cls.company.id)

    @classmethod
    def make_provider(cls, env, account):
        """The company's Intech provider: a copy of the addon's provider record (disabled, in the main company), as
        an administrator sets up a provider for another company, then enabled."""
        provider = env.ref("notify_rules.payment_provider_intech").copy({
            "name": "Intech", "company_id": cls.company.id})
        provider.write({"intech_account_id": account.id, "state": "enabled", "is_published": True})
        provider.journal_id = cls.company_data["default_journal_bank"]
        return provider

    def setUp(self):
        super().setUp()
        self.intech_sim.reset()
        self.intech.sudo().throttled_until = False

    # ---- records ----------------------------------------------------------------------------------------
    @classmethod
    def service(cls, code, account=None):
        return cls.env["notify.intech.service"].sudo().with_context(active_test=False).search(
            [("code", "=", code), ("provider_account_id", "=", (account or cls.intech).id)])

    def make_invoice(self, amount=INVOICE_AMOUNT, partner=None, post=True):
        return self.init_invoice("out_invoice", partner=partner or self.customer, amounts=[amount], taxes=[],
                                 post=post)

    def operations(self, tx=None):
        self.env.invalidate_all()
        domain = [("payment_transaction_id", "=", tx.id)] if tx else []
        return self.env["notify.money.operation"].sudo().search(domain, order="id")

    def operation_requests(self):
        return [r for r in self.intech_sim.requests if r["path"] == "/api-services/operation"]

    # ---- real HTTP --------------------------------------------------------------------------------------
    def jsonrpc(self, route, params):
        """(result, error) of a JSON-RPC call to the test server, as the browser makes it."""
        payload = {"jsonrpc": "2.0", "method": "call", "id": 1, "params": params}
        response = self.url_open(route, data=json.dumps(payload).encode(),
                                 headers={"Content-Type": "application/json"}, timeout=30)
        self.assertEqual(response.status_code, 200, response.text[:500])
        body = response.json()
        self.env.invalidate_all()
        return body.get("result"), body.get("error")

    def portal_transaction(self, invoice):
        """What the payment form does when the customer clicks Pay with Intech selected: Odoo's invoice transaction
        route creates the draft transaction and answers its processing values."""
        values, error = self.jsonrpc(f"/invoice/transaction/{invoice.id}", {
            "access_token": invoice._portal_ensure_token(),
            "provider_id": self.provider.id,
            "payment_method_id": self.method.id,
            "token_id": None,
            "amount": invoice.amount_residual,
            "flow": "direct",
            "tokenization_requested": False,
            "landing_route": invoice.get_portal_url(),
            "is_validation": False,
        })
        self.assertFalse(error, error)
        self.assertEqual(values["provider_code"], "intech")
        self.assertTrue(values.get("access_token"))
        return values

    def payment_link_transaction(self, amount, currency):
        """Odoo's generic payment route (a payment link: /payment/pay), for an amount and a currency of our choice.
        Its access token is made as Odoo's payment tests make it (PaymentCommon._generate_test_access_token)."""
        token = hmac_tool(self.env(su=True), "generate_access_token",
                          f"{self.customer.id}|{float(amount)}|{currency.id}")
        values, error = self.jsonrpc("/payment/transaction", {
            "amount": amount,
            "currency_id": currency.id,
            "partner_id": self.customer.id,
            "access_token": token,
            "provider_id": self.provider.id,
            "payment_method_id": self.method.id,
            "token_id": None,
            "flow": "direct",
            "tokenization_requested": False,
            "landing_route": "/payment/confirmation",
            "is_validation": False,
        })
        self.assertFalse(error, error)
        return values

    def request_payment(self, values, service=None, phone=CUSTOMER_MOBILE, **overrides):
        """Our route, as the inline form posts it: (result, error message or None)."""
        params = {
            "reference": values["reference"],
            "access_token": values["access_token"],
            "service_id": (service or self.service(COLLECT_WAVE)).id,
            "phone": phone,
            **overrides,
        }
        result, error = self.jsonrpc("/payment/intech/request", params)
        if error:
            self.assertEqual(error["data"]["name"], "odoo.exceptions.ValidationError", error)
            return result, error["data"]["message"]
        return result, None

    def login_portal(self):
        self.authenticate(PORTAL_LOGIN, PORTAL_LOGIN)

    def dispatch(self):
        self.env["notify.message"].sudo()._cron_dispatch()
        self.env.invalidate_all()

    def send_ipn(self, operation, status):
        """Intech's IPN for the operation, posted by the simulator to the IPN URL of the account (this server).
        The test cookie is what any request to the test server needs once a browser ran in the test."""
        self.env.flush_all()
        http_status, answer = self.intech_sim.send_ipn(
            operation.provider_ref, status, headers={"Cookie": f"{TEST_CURSOR_COOKIE_NAME}={self.http_request_key}"})
        self.env.invalidate_all()
        self.assertEqual(http_status, 200, answer)
        return answer

    def run_payment_post_process(self):
        """Odoo's cron `payment.cron_post_process_payment_tx`, run as the cron server runs it (its own cursor: it
        commits after each transaction)."""
        self.env.flush_all()
        with self.registry.cursor() as cr:
            api.Environment(cr, SUPERUSER_ID, {}).ref("payment.cron_post_process_payment_tx").method_direct_trigger()
        self.env.invalidate_all()

    def transaction(self, reference):
        return self.env["payment.transaction"].sudo().search([("reference", "=", reference)])
