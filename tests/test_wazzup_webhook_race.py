"""Two deliveries of one Wazzup webhook at the same moment, with real cursors and real commits (as two HTTP workers
run them): the second waits for the first, is a quiet duplicate (applied once, no ERROR in the log), and a
createContact repeated that way is replayed by Odoo and answers the contact the first one made."""

import threading
import time

from psycopg2.errors import SerializationFailure

from odoo import SUPERUSER_ID, api
from odoo.modules.registry import Registry
from odoo.tests.common import BaseCase, get_db_name, tagged

from ..models.notify_provider_account_wazzup import crm_key_hash

NUMBER = "221772457199"
WAIT_SECONDS = 20


@tagged("post_install", "-at_install")  # own cursors: the module must be committed
class TestWazzupWebhookRace(BaseCase):
    """These tests commit: everything they create is deleted at the end of the class."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.registry = Registry(get_db_name())
        with cls.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            account = env["notify.provider.account"].create({
                "name": "Wazzup race", "provider": "wazzup", "environment": "sandbox",
                "base_url": "http://127.0.0.1:9/wazzup", "wazzup_api_key": "api-key-race",
                "wazzup_crm_key_hash": crm_key_hash("crm-key-race-0123456789")})
            cls.account_id = account.id
        cls.addClassCleanup(cls.delete_committed_rows)

    @classmethod
    def delete_committed_rows(cls):
        with cls.registry.cursor() as cr:
            cr.execute("SELECT partner_id FROM notify_inbound_event WHERE provider_account_id = %s", [cls.account_id])
            partner_ids = [row[0] for row in cr.fetchall() if row[0]]
            cr.execute("DELETE FROM notify_inbound_event WHERE provider_account_id = %s", [cls.account_id])
            cr.execute("DELETE FROM notify_message WHERE provider_account_id = %s", [cls.account_id])
            cr.execute("DELETE FROM notify_provider_account WHERE id = %s", [cls.account_id])
            if partner_ids:
                cr.execute("DELETE FROM res_partner WHERE id = ANY(%s)", [partner_ids])

    def env_of(self, cr):
        cr.transaction = api.Transaction(self.registry)
        return api.Environment(cr, SUPERUSER_ID, {})

    def receive(self, env, body):
        account = env["notify.provider.account"].browse(self.account_id)
        return env["notify.inbound.event"]._wazzup_receive(account, body)

    def wait_for_lock_wait(self):
        """Until a backend waits on a lock while inserting an event: the second delivery met the first's row."""
        deadline = time.time() + WAIT_SECONDS
        while time.time() < deadline:
            with self.registry.cursor() as cr:
                cr.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                           "AND wait_event_type = 'Lock' AND query LIKE 'INSERT INTO notify_inbound_event%%'")
                if cr.fetchone()[0]:
                    return
            time.sleep(0.05)
        self.fail("the second delivery never waited for the first one")

    def race(self, body):
        """Delivery A applies `body` and holds its transaction open; delivery B, started meanwhile, applies it
        too and waits; A commits; B ends. Returns (A's answer, B's answer or exception)."""
        first_done, release = threading.Event(), threading.Event()
        results = {}

        def first():
            with self.registry.cursor() as cr:
                results["first"] = self.receive(self.env_of(cr), body)
                first_done.set()
                release.wait(WAIT_SECONDS)

        def second():
            try:
                with self.registry.cursor() as cr:
                    env = self.env_of(cr)
                    env.cr.execute("SELECT 1")  # its snapshot, as the account's lookup of a request takes it
                    first_done.wait(WAIT_SECONDS)
                    results["second"] = self.receive(env, body)
            except Exception as error:  # noqa: BLE001 - reported to the test
                results["second"] = error

        threads = [threading.Thread(target=first), threading.Thread(target=second)]
        threads[1].start()
        threads[0].start()
        self.assertTrue(first_done.wait(WAIT_SECONDS))
        self.wait_for_lock_wait()
        release.set()
        for thread in threads:
            thread.join(WAIT_SECONDS)
        return results["first"], results["second"]

    def test_a_status_delivered_twice_at_once_is_applied_once_quietly(self):
        with self.registry.cursor() as cr:
            message = self.env_of(cr)["notify.message"].create({
                "provider_account_id": self.account_id, "recipient_e164": "+" + NUMBER, "body": "Bonjour",
                "channel": "whatsapp", "state": "sent", "provider_ref": "race-msg-1",
                "sent_at": "2026-12-02 08:00:00"})
            message_id = message.id
        body = {"statuses": [{"messageId": "race-msg-1", "timestamp": "2026-12-02T08:00:01Z",
                              "status": "delivered"}]}
        with self.assertNoLogs("odoo", level="ERROR"):
            first, second = self.race(body)
        self.assertEqual((first, second), ((200, {"ok": True}), (200, {"ok": True})))
        with self.registry.cursor() as cr:
            cr.execute("SELECT state FROM notify_message WHERE id = %s", [message_id])
            self.assertEqual(cr.fetchone()[0], "delivered")
            cr.execute("SELECT count(*) FROM notify_inbound_event WHERE provider_account_id = %s "
                       "AND action = 'status'", [self.account_id])
            self.assertEqual(cr.fetchone()[0], 1)

    def test_a_message_delivered_twice_at_once_is_kept_once_quietly(self):
        body = {"messages": [{"messageId": "race-in-1", "channelId": "chan-1", "chatType": "whatsapp",
                              "chatId": NUMBER, "type": "text", "status": "inbound", "text": "Bonjour",
                              "isEcho": False}]}
        with self.assertNoLogs("odoo", level="ERROR"):
            first, second = self.race(body)
        self.assertEqual((first, second), ((200, {"ok": True}), (200, {"ok": True})))
        with self.registry.cursor() as cr:
            cr.execute("SELECT count(*) FROM notify_inbound_event WHERE provider_account_id = %s "
                       "AND external_id = 'race-in-1'", [self.account_id])
            self.assertEqual(cr.fetchone()[0], 1)

    def test_a_create_contact_delivered_twice_at_once_is_replayed(self):
        """The second delivery cannot see the contact the first one made (its snapshot is older): it asks Odoo to
        replay the request (a serialization failure, which Odoo's HTTP layer retries), and the replay answers
        the same contact."""
        body = {"createContact": {"responsibleUserId": "1", "name": "Race Contact", "source": "auto",
                                  "contactData": [{"chatType": "whatsapp", "chatId": "221775550001"}]}}
        with self.assertNoLogs("odoo", level="ERROR"):
            first, second = self.race(body)
        self.assertEqual(first[0], 200)
        self.assertIsInstance(second, SerializationFailure)
        with self.registry.cursor() as cr:  # Odoo's replay: a new transaction
            replay = self.receive(self.env_of(cr), body)
        self.assertEqual((replay[0], replay[1]["id"]), (200, first[1]["id"]))
        with self.registry.cursor() as cr:
            cr.execute("SELECT count(*) FROM res_partner WHERE name = 'Race Contact'")
            self.assertEqual(cr.fetchone()[0], 1)
