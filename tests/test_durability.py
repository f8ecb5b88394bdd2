"""Crash mid-send and concurrent dispatchers, with real commits, real cursors and a real killed process."""

import os
import select
import signal
import subprocess
import sys
import textwrap
import threading
import time
from unittest.mock import patch

import psycopg2

import odoo
from odoo import SUPERUSER_ID, api, fields, sql_db
from odoo.modules.registry import Registry
from odoo.tests.common import BaseCase, get_db_name, tagged

from ..clients.base import SendResult
from ..models import notify_message_dispatch
from ..tools.otp import OtpRefused
from .common import PARTNER_TEMPLATE, NotifySimulatorMixin
from .simulator.wap import DEMO_OTP_AUTOMATION

DISPATCH_SCRIPT = textwrap.dedent(
    """
    import sys
    import odoo
    from odoo.modules.registry import Registry
    odoo.tools.config.parse_config(["-c", sys.argv[1], "-d", sys.argv[2], "--log-level=warn"])
    registry = Registry(sys.argv[2])
    with registry.cursor() as cr:
        odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})["notify.message"]._cron_dispatch()
    """
)


@tagged("post_install", "-at_install")  # they use their own cursors: the module must be committed
class TestDurability(NotifySimulatorMixin, BaseCase):
    """These tests commit: everything they create is deleted at the end of the class."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.registry = Registry(get_db_name())
        cls.start_simulator()
        with cls.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            cls.account_id = cls.create_wap_account(env, name="WAP durability", concurrency=2, timeout=10).id
        cls.addClassCleanup(cls.delete_committed_rows)

    @classmethod
    def delete_committed_rows(cls):
        with cls.registry.cursor() as cr:
            cr.execute("DELETE FROM notify_message WHERE provider_account_id = %s", [cls.account_id])
            cr.execute("DELETE FROM notify_provider_account WHERE id = %s", [cls.account_id])

    def setUp(self):
        super().setUp()
        with self.registry.cursor() as cr:
            cr.execute("DELETE FROM notify_message WHERE provider_account_id = %s", [self.account_id])

    def create_messages(self, count):
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            return env["notify.message"].create(
                [
                    {
                        "provider_account_id": self.account_id,
                        "recipient_e164": f"+2376900{index:05d}",
                        "template_ref": PARTNER_TEMPLATE,
                        "payload": {"customer_name": f"Client {index}"},
                    }
                    for index in range(count)
                ]
            ).ids

    def states(self, ids):
        with self.registry.cursor() as cr:
            cr.execute("SELECT id, state FROM notify_message WHERE id IN %s ORDER BY id", [tuple(ids)])
            return dict(cr.fetchall())

    def thread_env(self, cr, uid=SUPERUSER_ID):
        """An environment in a thread of its own. Under odoo-bin --test-enable the main thread holds the registry
        lock while the tests run: Environment() must not look the registry up (it would wait forever)."""
        cr.transaction = api.Transaction(self.registry)
        return api.Environment(cr, uid, {})

    def dispatch_committing(self):
        """Run the dispatcher as the cron would: own cursor, commits (only the test thread forbids them)."""
        result = {}

        def run():
            with self.registry.cursor() as cr:
                self.thread_env(cr)["notify.message"]._cron_dispatch()
            result["done"] = True

        thread = threading.Thread(target=run)
        thread.start()
        thread.join(120)
        self.assertTrue(result.get("done"), "the dispatcher failed, see the log")

    def test_crash_while_sending_is_recovered_once(self):
        [message_id] = self.create_messages(1)
        self.wap_sim.fail_next("timeout_after", delay=8)  # accepted, then the answer is slow: we die meanwhile
        worker = subprocess.Popen(
            [sys.executable, "-c", DISPATCH_SCRIPT, odoo.tools.config.rcfile, get_db_name()],
            env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)),
        )
        try:
            deadline = time.time() + 60
            while self.wap_sim.sent_count() < 1 and time.time() < deadline and worker.poll() is None:
                time.sleep(0.1)
            self.assertEqual(self.wap_sim.sent_count(), 1, "the worker never reached the provider")
        finally:
            worker.send_signal(signal.SIGKILL)
            worker.wait(30)
        self.assertEqual(self.states([message_id]), {message_id: "sending"}, "claimed and committed before sending")

        self.dispatch_committing()  # within the lease: left alone, not sent again
        self.assertEqual(self.states([message_id])[message_id], "sending")
        with self.registry.cursor() as cr:  # the lease expires
            cr.execute("UPDATE notify_message SET sending_since = sending_since - interval '1 hour' WHERE id = %s",
                       [message_id])
        self.dispatch_committing()
        self.assertEqual(self.states([message_id])[message_id], "unknown")
        self.dispatch_committing()
        self.assertEqual(self.wap_sim.sent_count(), 1, "WAP cannot tell: never re-sent blindly")
        with self.registry.cursor() as cr:
            message = api.Environment(cr, SUPERUSER_ID, {})["notify.message"].browse(message_id)
            self.assertIn("offers no way to check", message.last_error)
            message.action_retry()  # a person decides it did not arrive
        self.dispatch_committing()
        self.assertEqual(self.states([message_id])[message_id], "sent")
        self.assertEqual(self.wap_sim.sent_count(), 2)

    def keep_accepted_while_the_database_refuses(self, refusals):
        """Messages 1 and 2 claimed, 1 accepted by the provider and 2 never sent, when the connection broke; new
        connections are refused ``refusals`` times (PostgreSQL restarting). Returns the messages' states."""
        ids = self.create_messages(3)
        with self.registry.cursor() as cr:
            cr.execute("UPDATE notify_message SET state = 'sending', sending_since = now() AT TIME ZONE 'UTC', "
                       "attempts = 1 WHERE id IN %s", [tuple(ids[:2])])
        registry_class = type(self.registry)
        real_cursor = registry_class.cursor
        refused = []

        def cursor(registry, *args, **kwargs):
            if len(refused) < refusals:
                refused.append(True)
                raise psycopg2.OperationalError("FATAL:  the database system is shutting down")
            return real_cursor(registry, *args, **kwargs)

        accepted = SendResult(provider_ref="WAP-KEPT", status="sent", provider_status="ACCEPTED", cost=None,
                              currency=None, raw={}, scheduled_at=None)
        done = []

        def run():
            with self.registry.cursor() as cr:
                messages = self.thread_env(cr)["notify.message"].browse(ids)
                with patch.object(registry_class, "cursor", cursor), \
                        patch.object(notify_message_dispatch, "RECONNECT_DELAYS", (0.01, 0.01, 0.01)):
                    messages._keep_accepted_elsewhere([(messages[0], accepted)], not_started=messages[1])
            done.append(True)

        thread = threading.Thread(target=run)
        thread.start()
        thread.join(60)
        self.assertTrue(done)
        with self.registry.cursor() as cr:
            cr.execute("SELECT id, state, provider_ref, attempts FROM notify_message WHERE id IN %s ORDER BY id",
                       [tuple(ids)])
            return [row[1:] for row in cr.fetchall()]

    def test_accepted_answers_are_kept_once_the_database_is_back(self):
        """A PostgreSQL restart refuses connections for a moment: the dispatcher tries again, then records what the
        provider accepted (sent, with its reference) and puts back what never left (queued, attempt returned)."""
        self.assertEqual(self.keep_accepted_while_the_database_refuses(2),
                         [("sent", "WAP-KEPT", 1), ("queued", None, 0), ("queued", None, 0)])

    def test_a_database_that_stays_away_leaves_the_references_in_the_log(self):
        with self.assertLogs("odoo.addons.notify_rules.models.notify_message_dispatch", "WARNING") as logs:
            states = self.keep_accepted_while_the_database_refuses(4)
        self.assertEqual(states, [("sending", None, 1), ("sending", None, 1), ("queued", None, 0)],
                         "left for the lease: outcome unknown then")
        self.assertIn("'WAP-KEPT'", "\n".join(logs.output))

    def test_two_dispatchers_never_send_twice(self):
        ids = self.create_messages(24)
        self.wap_sim.fail_next("timeout_after", count=24, delay=0.5)  # slow answers: the workers overlap
        barrier = threading.Barrier(2)
        errors = []
        with self.registry.cursor() as cr:
            admin_id = api.Environment(cr, SUPERUSER_ID, {}).ref("base.user_admin").id
        worker_uids = (SUPERUSER_ID, admin_id)  # write_uid tells who sent what

        def worker(uid):
            try:
                with self.registry.cursor() as cr:
                    env = self.thread_env(cr, uid)
                    barrier.wait(10)
                    env["notify.message"]._cron_dispatch()
            except Exception as error:  # noqa: BLE001 - reported by the assertion below
                errors.append(error)

        threads = [threading.Thread(target=worker, args=(uid,)) for uid in worker_uids]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        self.assertFalse(errors)
        self.assertEqual(set(self.states(ids).values()), {"sent"})
        recipients = [r["json"]["recipient"] for r in self.wap_sim.requests if r["method"] == "POST"]
        self.assertEqual(len(recipients), 24)
        self.assertEqual(len(set(recipients)), 24, "no message was sent twice")
        with self.registry.cursor() as cr:
            cr.execute("SELECT write_uid, count(*) FROM notify_message WHERE id IN %s GROUP BY write_uid", [tuple(ids)])
            per_worker = dict(cr.fetchall())
        self.assertEqual(set(per_worker), set(worker_uids), f"both dispatchers sent a share: {per_worker}")

    def test_two_code_requests_at_once_make_one_code(self):
        """Two requests for the same number at the same moment, each from a transaction that started before the
        other committed (as two HTTP requests do): the lock row makes the second fail with a serialization error
        (Odoo's HTTP layer replays such a request, which then meets the cooldown) or wait and meet the cooldown;
        never two codes."""
        number = "+237690000555"
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            company = env.ref("base.main_company")
            saved = {"country_id": company.country_id.id,
                     "notify_otp_country_ids": [(6, 0, company.notify_otp_country_ids.ids)]}
            company.write({"country_id": env.ref("base.cm").id, "notify_otp_country_ids": [(5,)]})
            rule_id = env["notify.rule"].create({
                "name": "Durability codes", "trigger": "on_otp_request", "otp_purposes": "durability",
                "action": "send_template", "provider_account_id": self.account_id, "channel": "whatsapp",
                "template_ref": DEMO_OTP_AUTOMATION, "company_id": company.id}).id

        def cleanup():
            with self.registry.cursor() as cr:
                env = api.Environment(cr, SUPERUSER_ID, {})
                cr.execute("DELETE FROM notify_message WHERE otp_id IN (SELECT id FROM notify_otp WHERE purpose = %s)",
                           ["durability"])
                cr.execute("DELETE FROM notify_otp WHERE purpose = %s", ["durability"])
                cr.execute("DELETE FROM notify_otp_lock WHERE key = %s", [f"phone:{number}"])
                env["notify.rule"].browse(rule_id).unlink()
                env.ref("base.main_company").write(saved)
        self.addCleanup(cleanup)

        barrier = threading.Barrier(2)
        outcomes = []

        def worker():
            try:
                with self.registry.cursor() as cr:
                    env = self.thread_env(cr)
                    env.cr.execute("SELECT count(*) FROM notify_otp")  # the snapshot starts before the other commits
                    barrier.wait(10)
                    env["notify.otp"]._notify_request("durability", number)
                    time.sleep(0.5)  # commit late: the other request meets the lock row meanwhile
                outcomes.append("created")
            except OtpRefused as refusal:
                outcomes.append(refusal.reason)
            except psycopg2.errors.SerializationFailure:
                outcomes.append("replayed by Odoo")

        threads = [threading.Thread(target=worker) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        self.assertEqual(len(outcomes), 2, outcomes)
        self.assertEqual(outcomes.count("created"), 1, outcomes)
        self.assertIn([o for o in outcomes if o != "created"][0], ("replayed by Odoo", "cooldown"))
        with self.registry.cursor() as cr:
            cr.execute("SELECT count(*) FROM notify_otp WHERE purpose = 'durability'")
            self.assertEqual(cr.fetchone()[0], 1, "one code, not two")

    def test_queued_messages_wake_the_cron_workers(self):
        """The pre-commit enqueue adds a dispatcher trigger and, after commit, NOTIFYs the cron workers."""
        listener = psycopg2.connect(**sql_db.connection_info_for("postgres")[1])
        listener.autocommit = True
        self.addCleanup(listener.close)
        with listener.cursor() as cr:
            cr.execute("LISTEN cron_trigger")
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            cron = env.ref("notify_rules.ir_cron_notify_dispatch")
            cr.execute("SELECT count(*) FROM ir_cron_trigger WHERE cron_id = %s", [cron.id])
            triggers_before = cr.fetchone()[0]
            env["notify.rule"]._notify_trigger_dispatch_now()
            cr.execute("SELECT count(*) FROM ir_cron_trigger WHERE cron_id = %s", [cron.id])
            self.assertEqual(cr.fetchone()[0], triggers_before + 1)
            self.assertFalse(listener.notifies)
        deadline = time.time() + 5
        while not listener.notifies and time.time() < deadline:
            select.select([listener], [], [], 0.5)
            listener.poll()
        self.assertIn(get_db_name(), [notify.payload for notify in listener.notifies])

    def test_two_dispatchers_never_queue_an_intent_twice(self):
        """An intent one dispatcher is turning into messages (its transaction open) is skipped by another; once
        the first commits, the intent is gone: its messages exist once."""
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            account = env["notify.provider.account"].browse(self.account_id)
            env["notify.intent"]._record([{
                "rule_id": None, "account_id": self.account_id, "provider": "wap", "company_id": account.company_id.id,
                "channel": "whatsapp", "template_ref": "tpl-race", "res_model": "res.partner",
                "next_attempt_at": "2026-01-01 00:00:00", "res_ids": [1, 2]}], SUPERUSER_ID, "2026-01-01 00:00:00")
            cr.execute("SELECT max(id) FROM notify_intent")
            intent_id = cr.fetchone()[0]
        self.addCleanup(self.delete_intent, intent_id)
        with self.registry.cursor() as first_cr, self.registry.cursor() as second_cr:
            first = api.Environment(first_cr, SUPERUSER_ID, {})["notify.intent"]
            second = api.Environment(second_cr, SUPERUSER_ID, {})["notify.intent"]
            for intents in (first, second):  # as the dispatcher queues them (notify.message._queue_intents)
                intents.env["notify.message"]._commit_read_committed()
            self.assertEqual(first._queue_messages(), (1, 2))
            second_cr.execute("SET LOCAL lock_timeout = '3s'")  # skipped, not waited for
            self.assertEqual(second._queue_messages(), (0, 0))
            first_cr.commit()
            self.assertEqual(second._queue_messages(), (0, 0))
        with self.registry.cursor() as cr:
            cr.execute("SELECT count(*) FROM notify_message WHERE template_ref = 'tpl-race'")
            self.assertEqual(cr.fetchone()[0], 2)

    def delete_intent(self, intent_id):
        with self.registry.cursor() as cr:
            cr.execute("DELETE FROM notify_intent WHERE id = %s", [intent_id])

    def test_claim_lock_does_not_block_business_transactions(self):
        """The dispatcher's account lock (FOR NO KEY UPDATE) lets a business transaction insert messages for
        that account meanwhile (its foreign-key check takes a KEY SHARE lock on the same row)."""
        with self.registry.cursor() as dispatcher_cr:
            env = api.Environment(dispatcher_cr, SUPERUSER_ID, {})
            account = env["notify.provider.account"].browse(self.account_id)
            env["notify.message"]._lock_account(account, fields.Datetime.now())
            with self.registry.cursor() as business_cr:
                business_cr.execute("SET LOCAL lock_timeout = '3s'")
                business_env = api.Environment(business_cr, SUPERUSER_ID, {})
                business_env["notify.message"].create({"provider_account_id": self.account_id,
                                                       "recipient_e164": "+237690000001", "template_ref": "t"})
                business_env.flush_all()  # blocked by a FOR UPDATE lock: fails with "lock timeout"
                business_cr.rollback()
            dispatcher_cr.rollback()
