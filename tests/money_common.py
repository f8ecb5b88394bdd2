"""Shared set-up of the mobile money tests: the Intech simulator and an Intech account with its catalogue."""

from .common import NotifySimulatorMixin
from .simulator.intech import DEMO_API_KEY, DEMO_HMAC_SECRET, DEMO_SECRET_KEY, seed_demo

PAYOUT_SN = "WAVE_SN_API_CASH_IN"
COLLECT_SN = "WAVE_SN_API_CASH_OUT"
AIRTIME_SN = "ORANGE_SN_AIRTIME_CREDIT_TELEPHONIQUE"
AIRTIME_CI = "ORANGE_CI_AIRTIME_CREDIT_TELEPHONIQUE"
SN_MOBILE = "77 245 71 99"


def create_intech_account(env, simulator, ipn_base_url, **values):
    """An Intech account on the simulator (whose demo account it seeds), its catalogue read: the set-up of every
    Intech test."""
    seed_demo(simulator.intech)
    account = env["notify.provider.account"].create(dict({
        "name": "Intech test",
        "provider": "intech",
        "environment": "sandbox",
        "base_url": simulator.base_url("intech"),
        "intech_api_key": DEMO_API_KEY,
        "intech_hmac_secret": DEMO_HMAC_SECRET,
        "intech_secret_key": DEMO_SECRET_KEY,
        "intech_ipn_base_url": ipn_base_url,
        "default_country_id": env.ref("base.sn").id,
    }, **values))
    account._intech_sync_services()
    return account


class IntechMixin(NotifySimulatorMixin):
    @classmethod
    def setup_intech(cls, ipn_base_url="http://127.0.0.1:8069", **values):
        cls.start_simulator()
        cls.intech_sim = cls.simulator.intech
        cls.intech = create_intech_account(cls.env, cls.simulator, ipn_base_url, **values)

    def setUp(self):
        super().setUp()
        self.intech_sim.reset()
        self.intech.throttled_until = False

    @classmethod
    def service(cls, code, account=None):
        return cls.env["notify.intech.service"].with_context(active_test=False).search(
            [("code", "=", code), ("provider_account_id", "=", (account or cls.intech).id)])

    def make_operation(self, code=PAYOUT_SN, phone=SN_MOBILE, amount=1500, request=True, **values):
        operation = self.env["notify.money.operation"].create(dict({
            "provider_account_id": self.intech.id, "service_id": self.service(code).id, "phone": phone,
            "amount": amount}, **values))
        if request:
            operation.action_request()
        return operation

    def dispatch_money(self):
        self.env["notify.message"]._cron_dispatch()
        self.env.invalidate_all()

    def operation_requests(self):
        return [r for r in self.intech_sim.requests if r["path"] == "/api-services/operation"]
