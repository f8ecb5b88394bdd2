"""Intech's 60-second timeout, with real commits and real cursors: while the dispatcher waits for Intech's answer, it
holds no lock that a business transaction, an IPN or a person could meet."""

import threading
import time

from odoo import SUPERUSER_ID, api
from odoo.modules.registry import Registry
from odoo.tests.common import BaseCase, get_db_name, tagged

from .common import NotifySimulatorMixin
from .money_common import PAYOUT_SN, create_intech_account

SLOW_ANSWER_SECONDS = 4


@tagged("post_install", "-at_install")  # own cursors: the module must be committed
class TestIntechSlowAnswer(NotifySimulatorMixin, BaseCase):
    """These tests commit: everything they create is deleted at the end of the class."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.registry = Registry(get_db_name())
        cls.start_simulator()
        cls.intech_sim = cls.simulator.intech
        with cls.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            account = create_intech_account(env, cls.simulator, "http://127.0.0.1:9", name="Intech durability")
            cls.account_id = account.id
        cls.addClassCleanup(cls.delete_committed_rows)

    @classmethod
    def delete_committed_rows(cls):
        with cls.registry.cursor() as cr:
            cr.execute("DELETE FROM notify_message WHERE provider_account_id = %s", [cls.account_id])
            cr.execute("DELETE FROM notify_money_operation WHERE provider_account_id = %s", [cls.account_id])
            cr.execute("DELETE FROM notify_provider_request WHERE provider_account_id = %s", [cls.account_id])
            cr.execute("DELETE FROM notify_intech_service WHERE provider_account_id = %s", [cls.account_id])
            cr.execute("DELETE FROM mail_message WHERE model = 'notify.money.operation'")
            cr.execute("DELETE FROM notify_provider_account WHERE id = %s", [cls.account_id])

    def thread_env(self, cr):
        cr.transaction = api.Transaction(self.registry)
        return api.Environment(cr, SUPERUSER_ID, {})

    def test_waiting_for_intech_holds_no_lock(self):
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            service = env["notify.intech.service"].search(
                [("code", "=", PAYOUT_SN), ("provider_account_id", "=", self.account_id)])
            operation = env["notify.money.operation"].create({
                "provider_account_id": self.account_id, "service_id": service.id, "phone": "772457199",
                "amount": 5000})
            operation.action_request()
            operation_id, message_id = operation.id, operation.message_id.id
        self.intech_sim.reset()
        self.intech_sim.fail_next("timeout_after", delay=SLOW_ANSWER_SECONDS)  # processed, answered 4 s later
        done = {}

        def dispatch():
            with self.registry.cursor() as cr:
                self.thread_env(cr)["notify.message"]._cron_dispatch()
            done["ok"] = True

        thread = threading.Thread(target=dispatch)
        thread.start()
        deadline = time.time() + 30
        while not self.intech_sim.accepted and time.time() < deadline:
            time.sleep(0.05)
        self.assertTrue(self.intech_sim.accepted, "the dispatcher did not send the operation")
        started = time.time()
        # the request is at Intech, its answer 4 s away: every row the dispatcher touched is free
        with self.registry.cursor() as cr:
            cr.execute("SET LOCAL lock_timeout = '500ms'")
            cr.execute("SELECT id FROM notify_provider_account WHERE id = %s FOR UPDATE NOWAIT", [self.account_id])
            cr.execute("SELECT id FROM notify_money_operation WHERE id = %s FOR UPDATE NOWAIT", [operation_id])
            cr.execute("SELECT state FROM notify_message WHERE id = %s FOR UPDATE NOWAIT", [message_id])
            self.assertEqual(cr.fetchone()[0], "sending")  # committed before the request left
            # and the waiting transaction keeps no snapshot (it would hold back VACUUM for 60 s)
            cr.execute("""SELECT count(*) FROM pg_stat_activity
                           WHERE datname = current_database() AND pid <> pg_backend_pid()
                             AND state LIKE 'idle in transaction%%' AND backend_xmin IS NOT NULL""")
            self.assertEqual(cr.fetchone()[0], 0)
            cr.rollback()
        self.assertLess(time.time() - started, SLOW_ANSWER_SECONDS, "the checks waited for the dispatcher")
        thread.join(60)
        self.assertTrue(done.get("ok"), "the dispatcher failed, see the log")
        with self.registry.cursor() as cr:
            cr.execute("SELECT state, provider_ref FROM notify_money_operation WHERE id = %s", [operation_id])
            state, ref = cr.fetchone()
        self.assertEqual((state, ref), ("pending", self.intech_sim.accepted[0]["transactionId"]))
        self.assertEqual(len(self.intech_sim.accepted), 1)
