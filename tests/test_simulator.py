"""The simulator's own tools that later providers rely on: callbacks (webhooks, IPN) and faults."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests

from .common import LoopbackCase
from .simulator import FAULT_KINDS, ProviderSimulator, Simulator


class _Receiver(BaseHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002
        pass

    def do_POST(self):  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.received.append((self.path, dict(self.headers.items()), json.loads(body)))
        status = 401 if self.headers.get("X-Signature") != "good" else 200
        payload = b'{"ok": %s}' % (b"true" if status == 200 else b"false")
        self.send_response(status)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


class TestSimulatorCallbacks(LoopbackCase):
    def setUp(self):
        super().setUp()
        self.receiver = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
        self.receiver.received = []
        thread = threading.Thread(target=self.receiver.serve_forever, daemon=True)
        thread.start()
        self.addCleanup(self.receiver.server_close)
        self.addCleanup(self.receiver.shutdown)
        self.url = "http://127.0.0.1:%s/notify/callback" % self.receiver.server_address[1]

    def test_callback_posted_with_headers_and_answer_returned(self):
        status, body = ProviderSimulator.send_callback(self.url, {"ref": "X1", "status": "paid"},
                                                       headers={"X-Signature": "good"})
        self.assertEqual((status, json.loads(body)), (200, {"ok": True}))
        path, headers, payload = self.receiver.received[0]
        self.assertEqual((path, payload), ("/notify/callback", {"ref": "X1", "status": "paid"}))
        self.assertEqual(headers["Content-Type"], "application/json")

    def test_refused_and_duplicate_callbacks(self):
        self.assertEqual(ProviderSimulator.send_callback(self.url, {"ref": "X2"})[0], 401)
        for _attempt in range(2):  # providers repeat callbacks: the receiver must see both
            self.assertEqual(ProviderSimulator.send_callback(self.url, {"ref": "X2"},
                                                             headers={"X-Signature": "good"})[0], 200)
        self.assertEqual(len(self.receiver.received), 3)


class TestSimulatorFaults(LoopbackCase):
    def test_every_fault_kind_then_normal_service(self):
        with Simulator() as sim:
            url = sim.base_url("wap") + "/automation/unknown"
            expected = {"500": 500, "502": 502, "429": 429, "malformed": 200}
            for kind, status in expected.items():
                with self.subTest(kind=kind):
                    sim.wap.fail_next(kind, retry_after=7)
                    response = requests.get(url, timeout=5)
                    self.assertEqual(response.status_code, status)
                    if kind == "429":
                        self.assertEqual(response.headers["Retry-After"], "7")
                    if kind == "malformed":
                        with self.assertRaises(ValueError):
                            response.json()
            self.assertEqual(requests.get(url, timeout=5).status_code, 401, "unsigned: WAP's own answer again")
            sim.wap.fail_next("timeout_before", delay=0.5)
            with self.assertRaises(requests.Timeout):
                requests.get(url, timeout=0.2)
            self.assertTrue(set(expected) < set(FAULT_KINDS))
