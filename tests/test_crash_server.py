"""A real ``odoo-bin`` server SIGKILLed in the middle of a dispatch batch, then another one started (issue 11,
item 3): every message reaches the simulator exactly once, or is *Outcome unknown* with a reason.

test_durability kills a python process that calls the dispatcher; this test kills what production runs: an Odoo
server whose cron thread runs the dispatcher cron, on the test database, with real commits. The test deletes what it
created and gives back the crons it paused.
"""

import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter

import odoo
from odoo import SUPERUSER_ID, api
from odoo.modules.registry import Registry
from odoo.tests.common import BaseCase, get_db_name, tagged

from ..tools.cron_wakeup import wake_cron_workers
from .common import PARTNER_TEMPLATE, NotifySimulatorMixin

_logger = logging.getLogger(__name__)

MESSAGES = 200
CONCURRENCY = 10
LATENCY = 0.03  # seconds the simulator adds to every request: a provider's round trip
KILL_AFTER = MESSAGES // 3  # requests received by the simulator before the kill
HELD_ANSWER_SECONDS = 10  # the answer the server waits for when it is killed (shorter than the account's timeout)
SERVER_START_SECONDS = 90
DISPATCH_SECONDS = 60


def free_port():
    """NOTIFY_TEST_SERVER_PORT when given (a machine where each suite has its ports), else any free port."""
    if os.environ.get("NOTIFY_TEST_SERVER_PORT"):
        return int(os.environ["NOTIFY_TEST_SERVER_PORT"])
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class OdooServer:
    """``odoo-bin`` as in production on one machine: threaded (``--workers 0``), one cron thread, the test's
    configuration file and database; its log goes to a temporary file (a pipe nobody reads would block it)."""

    def __init__(self, db_name):
        self.db_name = db_name
        self.port = free_port()
        self.log = tempfile.TemporaryFile(mode="w+", encoding="utf-8")  # noqa: SIM115 - closed by stop()
        odoo_bin = os.path.join(os.path.dirname(os.path.dirname(odoo.__file__)), "odoo-bin")
        self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and odoo-bin
            [sys.executable, odoo_bin, "-c", odoo.tools.config.rcfile, "-d", db_name, "--db-filter", f"^{db_name}$",
             "--http-interface", "127.0.0.1", "--http-port", str(self.port), "--workers", "0",
             "--max-cron-threads", "1", "--log-level", "warn", "--log-handler", "odoo.addons.base.models.ir_cron:INFO"],
            stdout=subprocess.DEVNULL, stderr=self.log, env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)),
        )

    def wait_ready(self):
        deadline = time.time() + SERVER_START_SECONDS
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"odoo-bin stopped at start:\n{self.read_log()[-3000:]}")
            if self.healthy():
                return
            time.sleep(0.2)
        raise AssertionError(f"odoo-bin did not answer /web/health in {SERVER_START_SECONDS} s")

    def healthy(self):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/web/health", timeout=2) as answer:  # noqa: S310
                return answer.status == 200
        except (urllib.error.URLError, OSError):
            return False  # not listening yet

    def kill(self):
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(30)

    def stop(self):
        if self.log.closed:
            return ""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()
        text = self.read_log()
        self.log.close()
        return text

    def read_log(self):
        self.log.flush()
        self.log.seek(0)
        return self.log.read()

    def errors(self):
        return [line for line in self.read_log().splitlines()
                if " ERROR " in line or " CRITICAL " in line or line.startswith("Traceback")]


@tagged("post_install", "-at_install")  # the server loads the committed module
class TestCrashServer(NotifySimulatorMixin, BaseCase):
    """Commits for real: everything created is deleted at the end, the paused crons are active again and the
    dispatcher's schedule is as it was."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.registry = Registry(get_db_name())
        cls.start_simulator()
        cls.simulator.latency = LATENCY
        cls.wap_sim.rate_limit_per_minute = 1_000_000  # WAP's 100/minute is not what this test is about
        with cls.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {"tracking_disable": True})
            cls.account_id = cls.create_wap_account(
                env, name="WAP crash server", concurrency=CONCURRENCY, rate_limit_per_minute=100_000, timeout=30).id
            cls.dispatch_cron_id = env.ref("notify_rules.ir_cron_notify_dispatch").id
            # The server runs every cron that is due, and in a fresh database all are: the test's server runs only
            # the dispatcher (the others would take its one cron thread and change the database other tests use).
            cr.execute("UPDATE ir_cron SET active = FALSE WHERE active AND id <> %s RETURNING id",
                       [cls.dispatch_cron_id])
            cls.paused_cron_ids = [row[0] for row in cr.fetchall()]
            cr.execute("SELECT nextcall, lastcall FROM ir_cron WHERE id = %s", [cls.dispatch_cron_id])
            cls.dispatch_schedule = cr.fetchone()
            cr.execute("SELECT coalesce(max(id), 0) FROM ir_cron_trigger")
            cls.last_trigger_id = cr.fetchone()[0]
        cls.addClassCleanup(cls.delete_committed_rows)

    @classmethod
    def delete_committed_rows(cls):
        with cls.registry.cursor() as cr:
            cr.execute("UPDATE ir_cron SET active = TRUE WHERE id = ANY(%s)", [cls.paused_cron_ids])
            cr.execute("UPDATE ir_cron SET nextcall = %s, lastcall = %s WHERE id = %s",
                       [*cls.dispatch_schedule, cls.dispatch_cron_id])
            cr.execute("DELETE FROM ir_cron_trigger WHERE id > %s", [cls.last_trigger_id])  # the servers' triggers
            cr.execute("DELETE FROM notify_message WHERE provider_account_id = %s", [cls.account_id])
            cr.execute("DELETE FROM notify_provider_request WHERE provider_account_id = %s", [cls.account_id])
            cr.execute("DELETE FROM notify_provider_account WHERE id = %s", [cls.account_id])

    def create_messages(self):
        """Each message carries its own tag in its variables: WAP has no idempotency key, the simulator counts by
        content."""
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            messages = env["notify.message"].create([
                {"provider_account_id": self.account_id, "recipient_e164": f"+2376900{index:05d}",
                 "template_ref": PARTNER_TEMPLATE, "payload": {"customer_name": f"crash-{index}"}}
                for index in range(MESSAGES)])
            env["notify.message"]._trigger_dispatch()  # as a rule does when it queues
            return {message.id: message.payload["customer_name"] for message in messages}

    def received(self):
        """Requests the simulator processed, per tag (the held request included)."""
        with self.wap_sim.lock:
            return Counter(entry["json"]["variables"]["customer_name"] for entry in self.wap_sim.requests
                           if entry["method"] == "POST" and entry["processed"])

    def rows(self):
        with self.registry.cursor() as cr:
            cr.execute("""SELECT id, state, provider_ref, last_error FROM notify_message
                           WHERE provider_account_id = %s""", [self.account_id])
            return {row[0]: row[1:] for row in cr.fetchall()}

    def wait_for(self, condition, seconds, what, server):
        """Wait, waking the server's cron thread each second: it listens for ``cron_trigger`` but, started after
        the trigger was written, would otherwise first look 60 s later (``SLEEP_INTERVAL``)."""
        deadline = time.time() + seconds
        woken = 0.0
        while not condition():
            if server.process.poll() is not None:
                self.fail(f"odoo-bin stopped while waiting for {what}:\n{server.read_log()[-3000:]}")
            if time.time() > deadline:
                self.fail(f"no {what} within {seconds} s; server log:\n{server.read_log()[-3000:]}")
            if time.time() - woken > 1:
                wake_cron_workers(self.registry.db_name)
                woken = time.time()
            time.sleep(0.005)

    def wait_backends_gone(self, pid):
        """A killed server's backends end when PostgreSQL sees its sockets closed: until then the dispatcher job's
        row stays locked for the next server (it would skip the job)."""
        deadline = time.time() + 30
        while time.time() < deadline:
            with self.registry.cursor() as cr:
                cr.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", [f"odoo-{pid}"])
                if not cr.fetchone()[0]:
                    return
            time.sleep(0.1)
        self.fail(f"the killed server's database sessions (odoo-{pid}) did not end")

    def test_killed_server_mid_batch_sends_each_message_once_or_says_unknown(self):
        tags = self.create_messages()

        # 1. A server dispatches; once a third has reached the simulator, the next request's answer is held (the
        # provider did the work, the server waits for the answer) and the server is killed meanwhile.
        first = OdooServer(self.registry.db_name)
        self.addCleanup(first.stop)
        first.wait_ready()
        self.wait_for(lambda: sum(self.received().values()) >= KILL_AFTER, DISPATCH_SECONDS,
                      f"{KILL_AFTER} requests at the simulator", first)
        with self.wap_sim.lock:
            held_index = len(self.wap_sim.requests)
            self.wap_sim.fail_next("timeout_after", delay=HELD_ANSWER_SECONDS)
        requests = self.wap_sim.requests
        self.wait_for(lambda: len(requests) > held_index and requests[held_index]["processed"],
                      DISPATCH_SECONDS, "the held request at the simulator", first)
        held_tag = self.wap_sim.requests[held_index]["json"]["variables"]["customer_name"]
        first.kill()
        self.wait_backends_gone(first.process.pid)

        at_kill = self.rows()
        states_at_kill = Counter(state for state, _ref, _error in at_kill.values())
        received_at_kill = sum(self.received().values())
        self.assertLess(received_at_kill, MESSAGES, "killed before the end of the dispatch")
        self.assertGreater(states_at_kill["queued"], 0, f"killed before the end of the dispatch: {states_at_kill}")
        held_id = next(id_ for id_, tag in tags.items() if tag == held_tag)
        self.assertEqual(at_kill[held_id][0], "sending", "claimed and committed before its request left")

        # 2. The lease of what the dead server was sending expires (as test_durability: not minutes of waiting),
        # and another server takes over until nothing is queued or sending.
        with self.registry.cursor() as cr:
            cr.execute("""UPDATE notify_message SET sending_since = sending_since - interval '1 hour'
                           WHERE provider_account_id = %s AND state = 'sending'""", [self.account_id])
        second = OdooServer(self.registry.db_name)
        self.addCleanup(second.stop)
        second.wait_ready()

        def settled():
            return not {"queued", "sending"} & {state for state, _ref, _error in self.rows().values()}
        self.wait_for(settled, DISPATCH_SECONDS, "end of the dispatch", second)
        errors = second.errors()
        second_log = second.stop()
        self.assertFalse(errors, f"the second server logged errors:\n{second_log[-3000:]}")

        # 3. Per message: sent -> received exactly once, with the reference the simulator gave for that message;
        # outcome unknown -> received at most once, with the reason; nothing else, nothing received twice.
        rows = self.rows()
        received = self.received()
        with self.wap_sim.lock:
            references = {reference: message["variables"]["customer_name"]
                          for reference, message in self.wap_sim.messages.items()}
        self.assertEqual(set(rows), set(tags), "no message lost, none added")
        self.assertLessEqual(set(received), set(tags.values()), "the simulator received only our messages")
        self.assertEqual([tag for tag, count in received.items() if count > 1], [], "no message received twice")
        states = Counter(state for state, _ref, _error in rows.values())
        _logger.info("Killed at %s requests received, states %s; at the end: %s, %s unknown received once",
                     received_at_kill, dict(states_at_kill), dict(states),
                     sum(1 for id_, row in rows.items() if row[0] == "unknown" and received[tags[id_]]))
        self.assertEqual(set(states), {"sent", "unknown"}, states)
        for message_id, (state, provider_ref, last_error) in rows.items():
            tag = tags[message_id]
            if state == "sent":
                self.assertEqual(received[tag], 1, f"{tag} is sent: received exactly once")
                self.assertEqual(references.get(provider_ref), tag, f"{tag}: the simulator's reference for it")
            else:
                self.assertLessEqual(received[tag], 1, f"{tag} is unknown: received at most once")
                self.assertIn("offers no way to check", last_error or "", f"{tag} says why it is unknown")
                self.assertEqual(at_kill[message_id][0], "sending", f"{tag}: only what the dead server was sending")
        self.assertEqual(rows[held_id][0], "unknown", "the request whose answer never came")
        self.assertEqual(received[held_tag], 1)
        self.assertEqual(states["unknown"], states_at_kill["sending"], "every interrupted send, and only those")
        self.assertEqual(states["sent"], states_at_kill["sent"] + states_at_kill["queued"],
                         "everything still queued at the kill was sent by the second server")
