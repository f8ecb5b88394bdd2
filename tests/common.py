"""Shared set-up: a provider simulator on loopback and a WAP account pointing at it."""

from urllib.parse import urlparse

from odoo.tests import TransactionCase, tagged
from odoo.tests.common import BaseCase, _super_send

from .simulator import Simulator
from .simulator.wap import DEMO_API_KEY, DEMO_INVOICE_AUTOMATION, DEMO_SECRET_B64, seed_demo

PARTNER_TEMPLATE = "tpl-partner-welcome"


class LoopbackRequestsMixin:
    @classmethod
    def _request_handler(cls, session, request, **kwargs):
        """Odoo's tests raise every timeout below 10 s to 10 s; keep ours real for the loopback simulator
        (timeout tests would otherwise take 10 s each). Anything else still goes through Odoo's blocker."""
        if urlparse(request.url).hostname == "127.0.0.1":
            return _super_send(session, request, **kwargs)
        return super()._request_handler(session, request, **kwargs)


class LoopbackCase(LoopbackRequestsMixin, BaseCase):
    """A test without a database (clients, simulator) that Odoo's own test runner also finds (it only runs
    Odoo test cases), with real timeouts towards the loopback simulator."""


class NotifySimulatorMixin(LoopbackRequestsMixin):
    """Starts one simulator per test class; each test starts with an empty request log."""

    @classmethod
    def start_simulator(cls):
        cls.simulator = Simulator().start()
        cls.addClassCleanup(cls.simulator.stop)
        cls.wap_sim = cls.simulator.wap
        cls.wap_sim.progress_seconds = None  # statuses move only when a test says so
        seed_demo(cls.wap_sim)
        cls.wap_sim.add_automation(PARTNER_TEMPLATE, variables=["customer_name"])

    @classmethod
    def create_wap_account(cls, env, **values):
        return env["notify.provider.account"].create(
            dict(
                {
                    "name": "WAP test",
                    "provider": "wap",
                    "environment": "sandbox",
                    "base_url": cls.simulator.base_url("wap"),
                    "wap_api_key": DEMO_API_KEY,
                    "wap_api_secret": DEMO_SECRET_B64,
                    "default_country_id": env.ref("base.cm").id,
                    "timeout": 5,
                },
                **values,
            )
        )

    def setUp(self):
        super().setUp()
        self.wap_sim.reset()
        # A test that archives a rule removes base_automation's model patches; the rollback restores the rows
        # but not the patches. Re-apply them from the database, as base_automation does after each change.
        env = getattr(self, "env", None)
        if env is not None:
            automation = env["base.automation"].sudo()
            automation._unregister_hook()
            automation._register_hook()

    def queue_intents(self):
        """A business transaction's commit (its pre-commit hook records what the rules decided, notify.intent),
        then the dispatcher's first step: the messages are made of it."""
        self.env.cr.flush()
        self.env["notify.intent"]._queue_all()

    def accepted_posts(self):
        return [r for r in self.wap_sim.requests if r["method"] == "POST" and r["response_status"] == 200]


# Planner settings under which PostgreSQL runs an "IN (SELECT ... LIMIT n FOR UPDATE SKIP LOCKED)" sub-select again
# for each row of the outer scan (Nested Loop Semi Join, no Materialize). It chooses that plan by itself on small
# tables now and then (a CI run did): these make it certain, for the tests of the claims' LIMIT.
RESCANNED_SUBSELECT_PLAN = ("enable_hashagg", "enable_sort", "enable_hashjoin", "enable_material", "enable_mergejoin")


def force_rescanned_subselect_plan(test_case):
    """Until the end of the test: the plan that runs an IN sub-select once per outer row (see above)."""
    cr = test_case.env.cr
    for setting in RESCANNED_SUBSELECT_PLAN:
        cr.execute("SELECT set_config(%s, 'off', true)", [setting])
    test_case.addCleanup(lambda: [cr.execute("SELECT set_config(%s, 'on', true)", [setting])
                                  for setting in RESCANNED_SUBSELECT_PLAN])


@tagged("post_install", "-at_install")  # rules install base_automation's model patches: the registry must be ready
class NotifyCase(NotifySimulatorMixin, TransactionCase):
    """A partner-creation rule on res.partner: the cheapest record event to drive the whole chain."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.start_simulator()
        cls.account = cls.create_wap_account(cls.env)
        cls.rule = cls.env["notify.rule"].create(
            {
                "name": "Welcome",
                "model_id": cls.env.ref("base.model_res_partner").id,
                "trigger": "on_create",
                "filter_domain": "[('ref', '=', 'notify-test')]",
                "provider_account_id": cls.account.id,
                "template_ref": PARTNER_TEMPLATE,
                "recipient_path": "mobile",
                "recipient_fallback_path": "phone",
                "variable_ids": [(0, 0, {"name": "customer_name", "field_path": "name"})],
            }
        )

    def make_partner(self, name="Aïcha Ngono", mobile="6 90 00 00 01", **values):
        partner = self.env["res.partner"].create(
            dict({"name": name, "mobile": mobile, "ref": "notify-test",
                  "country_id": self.env.ref("base.cm").id}, **values)
        )
        self.env.cr.flush()  # runs the pre-commit hook that records the rules' intent
        self.env["notify.message"]._render_pending()  # the dispatcher's first step: recipient and variables
        return partner

    def messages_of(self, record):
        return self.env["notify.message"].search([("res_model", "=", record._name), ("res_id", "=", record.id)])

    def dispatch(self):
        self.env["notify.message"]._cron_dispatch()

    def make_due(self, messages):
        messages.write({"next_attempt_at": "2000-01-01 00:00:00"})
        self.account.throttled_until = False


__all__ = ["DEMO_INVOICE_AUTOMATION", "LoopbackCase", "NotifyCase", "NotifySimulatorMixin", "PARTNER_TEMPLATE",
           "force_rescanned_subselect_plan"]
