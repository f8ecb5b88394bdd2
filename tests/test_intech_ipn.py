"""Intech's IPN over real HTTP: the simulator posts signed callbacks to the Odoo test server, as Intech does."""

import json

from odoo.tests import HttpCase, tagged

from ..clients.js_json import js_stringify
from ..clients.signing import intech_signature
from ..models.notify_money_callback import CALLBACK_COLUMNS
from .money_common import IntechMixin
from .simulator.intech import DEMO_HMAC_SECRET, IPN_MESSAGES


@tagged("post_install", "-at_install")
class TestIntechIpn(IntechMixin, HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_intech(ipn_base_url=cls.base_url())

    def sent_operation(self, **values):
        operation = self.make_operation(**values)
        self.dispatch_money()
        self.assertEqual(operation.state, "pending")
        return operation

    def callbacks(self):
        self.env.invalidate_all()
        return self.env["notify.money.callback"].search([], order="id")

    def snapshot(self, operation):
        self.env.invalidate_all()
        return (operation.state, operation.needs_review, operation.provider_status, len(self.callbacks()))

    def test_success_applied_once_even_when_repeated(self):
        operation = self.sent_operation()
        ref = operation.provider_ref
        self.assertEqual(self.intech_sim.send_ipn(ref, "SUCCESS")[0], 200)
        self.env.invalidate_all()
        self.assertEqual((operation.state, operation.state_source), ("done", "provider"))
        self.assertTrue(operation.post_process_due)
        # Intech re-sends, and a late PENDING arrives: acknowledged, nothing moves
        self.assertEqual(self.intech_sim.send_ipn(ref, "SUCCESS")[0], 200)
        self.assertEqual(self.intech_sim.send_ipn(ref, "PENDING")[0], 200)
        self.env.invalidate_all()
        self.assertEqual(operation.state, "done")
        self.assertEqual(self.callbacks().mapped("result"), ["applied", "duplicate", "ignored"])
        self.assertEqual(self.callbacks().operation_id, operation)
        raw = self.callbacks()[0].raw_body
        self.assertEqual(json.loads(raw)["externalTransactionId"], operation.external_id)
        self.assertEqual(raw, self.intech_sim.ipn_log[0]["raw"].decode())

    def test_failure_then_contradiction_is_kept_for_review(self):
        operation = self.sent_operation()
        self.assertEqual(self.intech_sim.send_ipn(operation.provider_ref, "FAILED")[0], 200)
        self.env.invalidate_all()
        self.assertEqual(operation.state, "failed")
        self.assertEqual(operation.state_reason, IPN_MESSAGES["FAILED"])
        self.assertEqual(self.intech_sim.send_ipn(operation.provider_ref, "SUCCESS")[0], 200)
        self.env.invalidate_all()
        self.assertEqual(operation.state, "failed")
        self.assertTrue(operation.needs_review)
        self.assertEqual(self.callbacks().mapped("result"), ["applied", "conflict"])

    def test_ipn_settles_an_unknown_outcome(self):
        self.intech_sim.fail_next("processed_500")  # processed, then the answer is lost
        operation = self.make_operation()
        self.dispatch_money()
        self.assertEqual(operation.state, "unknown")
        ref = self.intech_sim.operations_for(operation.external_id)[0]["transactionId"]
        self.assertEqual(self.intech_sim.send_ipn(ref, "SUCCESS")[0], 200)
        self.env.invalidate_all()
        self.assertEqual((operation.state, operation.provider_ref), ("done", ref))

    def test_rejected_callbacks_change_nothing(self):
        operation = self.sent_operation()
        before = self.snapshot(operation)
        ref = operation.provider_ref
        five_minutes = 5 * 60 * 1000
        cases = {
            "bad signature": ({"bad_signature": True}, 401),
            "other secret": ({"secret": "someone-else"}, 401),
            "stale": ({"timestamp_offset_ms": -five_minutes - 10_000}, 401),
            "future": ({"timestamp_offset_ms": five_minutes}, 401),
            "no signature": ({"headers": {"Hmac-Signature": None}}, 401),
            "no timestamp": ({"headers": {"Timestamp": None}}, 401),
            "seconds, not ms": ({"headers": {"Timestamp": "1700000000"}}, 401),
            "not JSON": ({"raw_body": b"status=SUCCESS"}, 400),
            "not UTF-8": ({"raw_body": b'{"status": "\xff"}'}, 400),
            "no reference": ({"raw_body": '{"transactionId":"x","status":"SUCCESS"}'}, 400),
            "an array": ({"raw_body": "[1,2]"}, 400),
        }
        for name, (kwargs, expected) in cases.items():
            status, answer = self.intech_sim.send_ipn(ref, "SUCCESS", **kwargs)
            self.assertEqual(status, expected, name)
            self.assertEqual(json.loads(answer)["status"], "rejected", name)
            self.assertEqual(self.snapshot(operation), before, name)
        # a stale timestamp 4 minutes old is still within the document's 5 minutes
        self.assertEqual(self.intech_sim.send_ipn(ref, "SUCCESS", timestamp_offset_ms=-4 * 60 * 1000)[0], 200)

    def test_unknown_account_or_not_intech(self):
        operation = self.sent_operation()
        body = self.intech_sim.ipn_body(operation.provider_ref, "SUCCESS")
        text = js_stringify(body)
        timestamp = str(self.intech_sim.now_ms())
        headers = {"Content-Type": "application/json", "Timestamp": timestamp,
                   "Hmac-Signature": intech_signature(DEMO_HMAC_SECRET, "POST", timestamp, text)}
        wap = self.create_wap_account(self.env)
        for account_id in (wap.id, 999999):
            response = self.url_open(f"/notify_rules/intech/ipn/{account_id}", data=text.encode(), headers=headers)
            self.assertEqual(response.status_code, 401)
        self.assertFalse(self.callbacks())

    def test_signature_over_javascript_serialisation_of_a_spaced_body(self):
        """The document's validator signs JSON.stringify(parsed body): a sender whose bytes are spaced differently
        (json.dumps) but who signs what JSON.stringify gives is accepted, as Intech's own validator would."""
        operation = self.sent_operation()
        body = self.intech_sim.ipn_body(operation.provider_ref, "SUCCESS")
        spaced = json.dumps(body, ensure_ascii=True, indent=1)
        timestamp = str(self.intech_sim.now_ms())
        signature = intech_signature(DEMO_HMAC_SECRET, "POST", timestamp, js_stringify(body))
        status, _answer = self.intech_sim.send_ipn(
            operation.provider_ref, raw_body=spaced, headers={"Timestamp": timestamp, "Hmac-Signature": signature})
        self.assertEqual(status, 200)
        self.env.invalidate_all()
        self.assertEqual(operation.state, "done")

    def test_unknown_operation_is_acknowledged_and_kept_for_review(self):
        operation = self.sent_operation()
        body = dict(self.intech_sim.ipn_body(operation.provider_ref, "SUCCESS"), externalTransactionId="not-ours")
        text = js_stringify(body)
        status, answer = self.intech_sim.send_ipn(operation.provider_ref, raw_body=text)
        self.assertEqual(status, 200, answer)
        callback = self.callbacks()
        self.assertEqual((callback.result, callback.external_id, callback.operation_id.id),
                         ("unknown_operation", "not-ours", False))
        self.env.invalidate_all()
        self.assertEqual(operation.state, "pending")

    def test_unknown_status_is_kept_and_flagged(self):
        operation = self.sent_operation()
        body = dict(self.intech_sim.ipn_body(operation.provider_ref, "SUCCESS"), status="")
        status, _answer = self.intech_sim.send_ipn(operation.provider_ref, raw_body=js_stringify(body))
        self.assertEqual(status, 200)
        self.env.invalidate_all()
        self.assertEqual(self.callbacks().result, "unknown_status")
        self.assertEqual(operation.state, "pending")
        self.assertTrue(operation.needs_review)

    def test_callback_insert_writes_every_stored_column(self):
        """The IPN writes its callback in SQL (a measured need): its columns are exactly the model's stored fields."""
        model = self.env["notify.money.callback"]
        stored = {name for name, field in model._fields.items() if field.store and name != "id"}
        self.assertEqual(stored, set(CALLBACK_COLUMNS))
        operation = self.sent_operation()
        self.intech_sim.send_ipn(operation.provider_ref, "SUCCESS")
        callback = self.callbacks()
        self.assertEqual((callback.company_id, callback.create_uid, callback.operation_id, callback.result),
                         (self.intech.company_id, self.env.ref("base.public_user"), operation, "applied"))
        self.assertTrue(callback.received_at)

    def test_automatic_ipn_follows_the_operation(self):
        """As with `make run`: Intech's own IPN, posted a moment after it accepted the operation."""
        self.intech_sim.auto_ipn = 0.2
        self.intech_sim.set_outcome("772457199", "FAILED")
        operation = self.make_operation()
        self.dispatch_money()
        for _attempt in range(50):
            if self.intech_sim.ipn_log:
                break
            self.intech_sim._stop_ipns.wait(0.1)
        self.assertEqual(self.intech_sim.ipn_log[0]["status"], 200)
        self.env.invalidate_all()
        self.assertEqual(operation.state, "failed")
        self.assertEqual(operation.provider_status, "FAILED")
