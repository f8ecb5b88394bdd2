"""The Intech simulator against the contract: catalogue, strict signed operations, scripted refusals, signed IPNs.

Requests are built the way our client builds them (clients/js_json.py, clients/signing.py) and sent over real
loopback HTTP; IPNs go to a tiny HTTP server of the test that keeps the raw bytes and headers it received. Node
runs the document's own JavaScript (its signing example and its callback validator) as the independent reference.
"""

import json
import re
import shutil
import socket
import subprocess
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests

from ..clients.js_json import js_stringify as client_js_stringify
from ..clients.js_json import js_stringify_bytes
from ..clients.signing import intech_signature
from .common import LoopbackCase
from .simulator import Simulator
from .simulator import intech as intech_sim
from .simulator.intech import DEMO_API_KEY, DEMO_HMAC_SECRET, DEMO_SECRET_KEY, DOCUMENT_SERVICES, seed_demo

DROP = object()  # a body key to leave out
TRANSACTION_ID_RE = re.compile(r'ITX[0-9A-F]{12}')
DATE_RE = re.compile(r'\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z')
IPN_KEYS = ['transactionId', 'externalTransactionId', 'codeService', 'phone', 'amount', 'status', 'message', 'date']
MINUTE_MS = 60 * 1000

# The document's two JavaScript examples, as written there, around a line of input and a line of output.
NODE_SIGN = r"""
const crypto = require('crypto');
function calculateHMACSignature(httpMethod, timestamp, requestBody, hmacSecretKey) {
    const bodyString = JSON.stringify(requestBody);
    const hmacData = `${httpMethod}:${timestamp}:${bodyString}`;
    return crypto.createHmac('sha256', hmacSecretKey).update(hmacData).digest('hex');
}
const input = JSON.parse(require('fs').readFileSync(0, 'utf8'));
const timestamp = Date.now().toString();
const requestBody = {
    apiKey: input.apiKey,
    phone: '221777777777',
    amount: 1000,
    codeService: 'FREE_SN_WALLET_CASH_IN',
    externalTransactionId: 'TXN_001',
    urlIpn: 'https://votre-site.com/callback',
    reference: 'Reçu n°7 — été',
    rate: 0.1,
    lines: {b: [1, 2.5], a: null},
};
const signature = calculateHMACSignature('POST', timestamp, requestBody, input.secret);
process.stdout.write(JSON.stringify({timestamp, signature, body: JSON.stringify(requestBody)}));
"""
NODE_VALIDATE = r"""
const crypto = require('crypto');
function validateCallbackHMAC(receivedSignature, timestamp, callbackBody, hmacSecretKey) {
    const now = Date.now();
    const requestTime = parseInt(timestamp);
    const maxAge = 5 * 60 * 1000;
    if (now - requestTime > maxAge) {
        throw new Error('Timestamp expired');
    }
    const httpMethod = 'POST';
    const bodyString = JSON.stringify(callbackBody);
    const hmacData = `${httpMethod}:${timestamp}:${bodyString}`;
    const expectedSignature = crypto.createHmac('sha256', hmacSecretKey).update(hmacData).digest('hex');
    if (expectedSignature !== receivedSignature) {
        throw new Error('Invalid HMAC signature');
    }
    return true;
}
const input = JSON.parse(require('fs').readFileSync(0, 'utf8'));
let answer;
try {
    answer = {valid: validateCallbackHMAC(input.signature, input.timestamp, JSON.parse(input.raw), input.secret)};
} catch (error) {
    answer = {error: error.message};
}
process.stdout.write(JSON.stringify(answer));
"""


def run_node(script, payload):
    node = shutil.which('node')
    if not node:
        raise RuntimeError('Node.js (node) is required: it runs the document\'s own JavaScript')
    done = subprocess.run([node, '-e', script], input=json.dumps(payload).encode(), capture_output=True,
                          timeout=20, check=True)
    return json.loads(done.stdout)


class _IpnReceiver(BaseHTTPRequestHandler):
    """Odoo's place: keeps what arrived, answers the next scripted status (200 when none is left)."""

    protocol_version = 'HTTP/1.1'

    def log_message(self, format, *args):  # noqa: A002 - silence the access log
        pass

    def do_POST(self):  # noqa: N802 - http.server's naming
        raw = self.rfile.read(int(self.headers.get('Content-Length') or 0))
        with self.server.lock:
            self.server.received.append({'path': self.path, 'headers': self.headers, 'names': list(self.headers),
                                         'raw': raw, 'at': time.monotonic()})
            status = self.server.statuses.popleft() if self.server.statuses else 200
        payload = b'OK' if status == 200 else b'KO'
        self.send_response(status)
        self.send_header('Content-Length', str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


class IntechSimulatorCase(LoopbackCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.simulator = Simulator().start()
        cls.addClassCleanup(cls.simulator.stop)
        cls.sim = seed_demo(cls.simulator.intech)
        cls.base = cls.simulator.base_url('intech')

    def setUp(self):
        super().setUp()
        self.sim.reset()
        self.addCleanup(self.sim.reset)  # also stops the automatic IPNs a test started

    def body(self, **changes):
        body = {
            'apiKey': DEMO_API_KEY,
            'phone': '772457199',
            'amount': 1000,
            'codeService': 'WAVE_SN_API_CASH_IN',
            'externalTransactionId': 'TXN_001',
            'urlIpn': 'https://erp.example.com/intech/ipn',
        }
        body.update(changes)
        return {key: value for key, value in body.items() if value is not DROP}

    def post(self, body=None, *, raw=None, timestamp=None, secret=DEMO_HMAC_SECRET, headers=None):
        """POST an operation as our client does: the JSON.stringify bytes, signed over themselves."""
        raw = js_stringify_bytes(self.body() if body is None else body) if raw is None else raw
        timestamp = str(int(time.time() * 1000)) if timestamp is None else timestamp
        sent = {
            'Content-Type': 'application/json',
            'Hmac-Signature': intech_signature(secret, 'POST', timestamp, raw.decode('utf-8', 'replace')),
            'Timestamp': timestamp,
        }
        for name, value in (headers or {}).items():
            sent.pop(name, None)
            if value is not None:
                sent[name] = value
        response = requests.post(self.base + '/api-services/operation', data=raw, headers=sent, timeout=5)
        self.assertEqual(response.status_code, 200, 'Intech answers HTTP 200 with the verdict in the JSON')
        return response.json()

    def assertRefused(self, answer, code, message=None):
        self.assertIs(answer['success'], False, answer)
        self.assertEqual(answer['code'], code, answer)
        self.assertTrue(isinstance(answer['message'], str) and answer['message'], answer)
        if message is not None:
            self.assertEqual(answer['message'], message)

    def accept(self, **changes):
        answer = self.post(self.body(**changes))
        self.assertIs(answer['success'], True, answer)
        return answer['data']['transactionId']


class TestIntechCatalogue(IntechSimulatorCase):
    def get_services(self, headers):
        response = requests.get(self.base + '/api-services/services', headers=headers, timeout=5)
        self.assertEqual(response.status_code, 200)
        return response

    def test_catalogue_with_the_secret_key_is_the_documents_list(self):
        response = self.get_services({'Secretkey': DEMO_SECRET_KEY})
        answer = response.json()
        self.assertIs(answer['success'], True)
        self.assertEqual(answer['services'], list(DOCUMENT_SERVICES))
        self.assertEqual(len(answer['services']), 38)
        codes = [service['codeService'] for service in answer['services']]
        self.assertEqual((codes[0], codes[-1]), ('FREE_SN_WALLET_CASH_IN', 'WAVE_CI_API_CASH_IN'))
        self.assertEqual(list(answer['services'][0]), ['name', 'icon', 'codeService', 'typeOperation', 'typeService'])
        self.assertIn('"name":"Sénélec"'.encode(), response.content, 'written as Node does: UTF-8, no spaces')

    def test_catalogue_without_a_good_secret_key(self):
        for label, headers in [('missing', {}), ('empty', {'Secretkey': ''}), ('wrong', {'Secretkey': 'nope'}),
                               ('the API key', {'Secretkey': DEMO_API_KEY}),
                               ('the HMAC secret', {'Secretkey': DEMO_HMAC_SECRET}),
                               ('a prefix', {'Secretkey': DEMO_SECRET_KEY[:-1]})]:
            with self.subTest(label):
                answer = self.get_services(headers).json()
                self.assertEqual(answer, {'success': False, 'message': 'Secretkey invalide'})

    def test_a_dropped_service_leaves_the_catalogue_and_is_refused_until_reset(self):
        self.sim.services = [s for s in self.sim.services if s['codeService'] != 'WAVE_SN_API_CASH_IN']
        codes = [s['codeService'] for s in self.get_services({'Secretkey': DEMO_SECRET_KEY}).json()['services']]
        self.assertNotIn('WAVE_SN_API_CASH_IN', codes)
        self.assertEqual(len(codes), 37)
        self.assertRefused(self.post(), 'UNKNOWN_SERVICE')
        self.sim.reset()
        self.assertEqual(self.sim.services, list(DOCUMENT_SERVICES))
        self.assertIs(self.post()['success'], True)


class TestIntechOperation(IntechSimulatorCase):
    def test_signed_operation_accepted_and_stored(self):
        extra = {'reference': 'Facture n°42 – été', 'rate': 1.25, 'meta': {'lines': [1, 2], 'note': None}}
        body = self.body(**extra)
        answer = self.post(body)
        self.assertEqual((answer['success'], answer['message']), (True, 'Transaction en cours de traitement'))
        data = answer['data']
        self.assertEqual(list(data), ['transactionId', 'externalTransactionId', 'status', 'codeService', 'amount',
                                      'phone'])
        self.assertRegex(data['transactionId'], TRANSACTION_ID_RE)
        self.assertEqual(data, {'transactionId': data['transactionId'], 'externalTransactionId': 'TXN_001',
                                'status': 'PENDING', 'codeService': 'WAVE_SN_API_CASH_IN', 'amount': 1000,
                                'phone': '772457199'})
        operation = self.sim.operations[data['transactionId']]
        self.assertEqual(operation['raw_body'], js_stringify_bytes(body).decode())
        self.assertEqual((operation['api_key'], operation['urlIpn'], operation['status']),
                         (DEMO_API_KEY, 'https://erp.example.com/intech/ipn', 'PENDING'))
        self.assertEqual(operation['extra'], extra)
        self.assertEqual(list(operation['extra']), ['reference', 'rate', 'meta'])
        self.assertEqual(self.sim.accepted, [operation])
        self.assertEqual((self.sim.accepted_count('TXN_001'), self.sim.accepted_count('TXN_002')), (1, 0))

    def test_the_documents_own_javascript_request_is_accepted(self):
        signed = run_node(NODE_SIGN, {'apiKey': DEMO_API_KEY, 'secret': DEMO_HMAC_SECRET})
        answer = self.post(raw=signed['body'].encode('utf-8'), timestamp=signed['timestamp'],
                           headers={'Hmac-Signature': signed['signature']})
        self.assertIs(answer['success'], True, answer)
        operation = self.sim.operations[answer['data']['transactionId']]
        self.assertEqual(operation['extra'], {'reference': 'Reçu n°7 — été', 'rate': 0.1,
                                              'lines': {'b': [1, 2.5], 'a': None}})
        self.assertEqual(operation['raw_body'], signed['body'])

    def test_each_form_of_number(self):
        cases = [
            ('WAVE_SN_API_CASH_IN', '772457199', True), ('WAVE_SN_API_CASH_IN', '221772457199', True),
            ('WAVE_SN_API_CASH_IN', '+221772457199', False), ('WAVE_SN_API_CASH_IN', '77 245 71 99', False),
            ('WAVE_SN_API_CASH_IN', '672457199', False), ('WAVE_SN_API_CASH_IN', '77245719', False),
            ('WAVE_SN_API_CASH_IN', '0707070707', False), ('WAVE_SN_API_CASH_IN', 772457199, False),
            ('ORANGE_CI_API_CASH_IN', '0707070707', True), ('ORANGE_CI_API_CASH_IN', '2250107070707', True),
            ('MTN_CI_API_CASH_OUT_2', '0507070707', True), ('ORANGE_CI_API_CASH_IN', '0207070707', False),
            ('ORANGE_CI_API_CASH_IN', '772457199', False), ('ORANGE_CI_API_CASH_IN', '+2250707070707', False),
            ('WHATSAPP_MESSAGING', '221772457199', True), ('WHATSAPP_MESSAGING', '0707070707', True),
            ('BANK_CARD_API_CASH_OUT', '772457199', True), ('BANK_CARD_API_CASH_OUT', '2250507070707', True),
            ('BANK_CARD_API_CASH_OUT', '33612345678', False), ('WHATSAPP_MESSAGING', '', False),
        ]
        for number, (service, phone, accepted) in enumerate(cases):
            with self.subTest(service=service, phone=phone):
                answer = self.post(self.body(codeService=service, phone=phone, externalTransactionId=f'N{number}'))
                if accepted:
                    self.assertIs(answer['success'], True, answer)
                    self.assertEqual(answer['data']['phone'], phone)
                else:
                    self.assertRefused(answer, 'INVALID_PHONE')
        self.assertEqual(len(self.sim.accepted), sum(accepted for *_rest, accepted in cases))

    def test_each_refusal_of_the_contract(self):
        now = int(time.time() * 1000)
        spaced = json.dumps(self.body()).encode()  # Python's separators: ", " and ": "
        ascii_escaped = json.dumps(self.body(note='été'), separators=(',', ':')).encode()  # "\u00e9t\u00e9"
        float_written = js_stringify_bytes(self.body()).replace(b'"amount":1000', b'"amount":1000.0')
        cases = [
            ('signed with another secret', {'secret': 'not-the-secret'}, 'INVALID_SIGNATURE'),
            ('no signature', {'headers': {'Hmac-Signature': None}}, 'INVALID_SIGNATURE'),
            ('signature of another timestamp', {'headers': {'Hmac-Signature': intech_signature(
                DEMO_HMAC_SECRET, 'POST', str(now - 1), js_stringify_bytes(self.body()).decode())},
                'timestamp': str(now)}, 'INVALID_SIGNATURE'),
            ('json.dumps spacing, signed over it', {'raw': spaced}, 'INVALID_SIGNATURE'),
            ('\\u escapes, signed over them', {'raw': ascii_escaped}, 'INVALID_SIGNATURE'),
            ('1000.0, signed over it', {'raw': float_written}, 'INVALID_SIGNATURE'),
            ('stale', {'timestamp': str(now - 5 * MINUTE_MS - 5000)}, 'TIMESTAMP_EXPIRED'),
            ('seconds, not milliseconds', {'timestamp': str(now // 1000)}, 'TIMESTAMP_EXPIRED'),
            ('future', {'timestamp': str(now + 2 * MINUTE_MS)}, 'TIMESTAMP_EXPIRED'),
            ('timestamp not digits', {'timestamp': '1699548600000.5'}, 'TIMESTAMP_EXPIRED'),
            ('no timestamp', {'headers': {'Timestamp': None}}, 'TIMESTAMP_EXPIRED'),
            ('unknown apiKey', {'body': self.body(apiKey='not-a-key')}, 'INVALID_API_KEY'),
            ('no apiKey', {'body': self.body(apiKey=DROP)}, 'INVALID_API_KEY'),
            ('unknown service', {'body': self.body(codeService='PAYPAL_SN_CASH_IN')}, 'UNKNOWN_SERVICE'),
            ('no service', {'body': self.body(codeService=DROP)}, 'UNKNOWN_SERVICE'),
            ('float amount', {'body': self.body(amount=1000.5)}, 'INVALID_AMOUNT'),
            ('amount as text', {'body': self.body(amount='1000')}, 'INVALID_AMOUNT'),
            ('zero amount', {'body': self.body(amount=0)}, 'INVALID_AMOUNT'),
            ('negative amount', {'body': self.body(amount=-500)}, 'INVALID_AMOUNT'),
            ('boolean amount', {'body': self.body(amount=True)}, 'INVALID_AMOUNT'),
            ('no amount', {'body': self.body(amount=DROP)}, 'INVALID_AMOUNT'),
            ('CI number for a SN service', {'body': self.body(phone='0707070707')}, 'INVALID_PHONE'),
            ('SN number for a CI service', {'body': self.body(codeService='MOOV_CI_API_CASH_IN')}, 'INVALID_PHONE'),
            ('no phone', {'body': self.body(phone=DROP)}, 'INVALID_PHONE'),
            ('no externalTransactionId', {'body': self.body(externalTransactionId=DROP)}, 'INVALID_REQUEST'),
            ('empty externalTransactionId', {'body': self.body(externalTransactionId='')}, 'INVALID_REQUEST'),
            ('externalTransactionId of 65', {'body': self.body(externalTransactionId='X' * 65)}, 'INVALID_REQUEST'),
            ('numeric externalTransactionId', {'body': self.body(externalTransactionId=42)}, 'INVALID_REQUEST'),
            ('no urlIpn', {'body': self.body(urlIpn=DROP)}, 'INVALID_REQUEST'),
            ('ftp urlIpn', {'body': self.body(urlIpn='ftp://erp.example.com/ipn')}, 'INVALID_REQUEST'),
            ('urlIpn not a URL', {'body': self.body(urlIpn='erp.example.com/ipn')}, 'INVALID_REQUEST'),
            ('urlIpn without host', {'body': self.body(urlIpn='https://')}, 'INVALID_REQUEST'),
            ('urlIpn with spaces', {'body': self.body(urlIpn='https://erp.example.com/i pn')}, 'INVALID_REQUEST'),
            ('body not JSON', {'raw': b'apiKey=demo'}, 'INVALID_REQUEST'),
            ('body a JSON array', {'raw': js_stringify_bytes([self.body()])}, 'INVALID_REQUEST'),
            ('NaN is not JSON', {'raw': b'{"apiKey":"x","amount":NaN}'}, 'INVALID_REQUEST'),
            ('not UTF-8', {'raw': b'{"apiKey":"\xe9"}'}, 'INVALID_REQUEST'),
            ('form content type', {'headers': {'Content-Type': 'application/x-www-form-urlencoded'}},
             'INVALID_REQUEST'),
        ]
        for label, kwargs, code in cases:
            with self.subTest(label):
                self.assertRefused(self.post(**kwargs), code)
        self.assertEqual((self.sim.operations, self.sim.accepted), ({}, []), 'nothing refused is stored')
        self.assertEqual(len(self.sim.requests), len(cases))

    def test_refusal_messages(self):
        now = int(time.time() * 1000)
        self.assertRefused(self.post(secret='x'), 'INVALID_SIGNATURE', 'Signature HMAC invalide')
        self.assertRefused(self.post(timestamp=str(now - 6 * MINUTE_MS)), 'TIMESTAMP_EXPIRED', 'Timestamp expiré')
        self.assertRefused(self.post(timestamp=str(now + 5 * MINUTE_MS)), 'TIMESTAMP_EXPIRED',
                           'Timestamp dans le futur')
        self.assertRefused(self.post(self.body(apiKey='x')), 'INVALID_API_KEY', 'Clé API invalide')

    def test_timestamp_window_follows_the_simulator_clock(self):
        now = int(time.time() * 1000)
        for number, timestamp in enumerate([now - 5 * MINUTE_MS + 10000, now + MINUTE_MS - 10000]):
            with self.subTest(offset_ms=timestamp - now):
                answer = self.post(self.body(externalTransactionId=f'EDGE{number}'), timestamp=str(timestamp))
                self.assertIs(answer['success'], True, answer)
        self.sim.advance_clock(6 * 60)
        self.assertRefused(self.post(), 'TIMESTAMP_EXPIRED', 'Timestamp expiré')
        answer = self.post(timestamp=str(self.sim.now_ms()))
        self.assertIs(answer['success'], True, 'a timestamp of the simulator\'s own time is fresh')

    def test_repeated_external_id_is_accepted_again_as_a_new_transaction(self):
        first, second = self.accept(), self.accept()
        self.assertNotEqual(first, second)
        self.assertEqual(self.sim.accepted_count('TXN_001'), 2)
        self.assertEqual([op['transactionId'] for op in self.sim.operations_for('TXN_001')], [first, second])

    def test_scripted_refusals_take_the_next_valid_operations(self):
        self.sim.refuse_next(count=2)
        self.sim.refuse_next('SERVICE_UNAVAILABLE', 'Service momentanément indisponible')
        self.assertRefused(self.post(self.body(amount=0)), 'INVALID_AMOUNT')  # an invalid request uses none
        self.assertRefused(self.post(), 'INSUFFICIENT_BALANCE', 'Solde insuffisant')
        self.assertRefused(self.post(), 'INSUFFICIENT_BALANCE', 'Solde insuffisant')
        self.assertRefused(self.post(), 'SERVICE_UNAVAILABLE', 'Service momentanément indisponible')
        self.assertEqual(self.sim.accepted_count('TXN_001'), 0)
        self.accept()
        self.assertEqual(self.sim.accepted_count('TXN_001'), 1)

    def test_unknown_path_and_wrong_method(self):
        response = requests.post(self.base + '/api-services/operations', data=b'{}', timeout=5)
        self.assertEqual((response.status_code, response.json()), (404, {'success': False,
                                                                         'message': 'Route introuvable'}))
        for method, path in [('GET', '/api-services/operation'), ('POST', '/api-services/services'),
                             ('PUT', '/api-services/operation')]:
            with self.subTest(method=method, path=path):
                response = requests.request(method, self.base + path, timeout=5)
                self.assertEqual(response.status_code, 405)
                self.assertIs(response.json()['success'], False)
        self.assertIs(self.post()['success'], True, 'the known routes still answer')

    def test_faults_answer_in_intechs_json(self):
        self.sim.fail_next('500')
        response = requests.get(self.base + '/api-services/services', headers={'Secretkey': DEMO_SECRET_KEY},
                                timeout=5)
        self.assertEqual(response.status_code, 500)
        self.assertIs(response.json()['success'], False)
        self.sim.fail_next('timeout_after', delay=0.5)
        with self.assertRaises(requests.Timeout):
            requests.post(self.base + '/api-services/operation', data=js_stringify_bytes(self.body()), timeout=0.2)
        time.sleep(0.6)  # the simulator answers once its delay is over
        self.assertEqual((self.sim.requests[-1]['processed'], self.sim.requests[-1]['response_status']), (True, 200),
                         'processed: Intech answered after we gave up')

    def test_simulator_json_stringify_agrees_with_the_clients(self):
        values = [
            0, -0.0, 7, -1, 1000, 1000.5, 0.1, 1 / 3, 1e21, 1e-7, 1.5e-6, 123e-20, 2**53 + 1, 10**21, 10**400,
            5e-324, 1.7976931348623157e308, float('nan'), float('inf'), -float('inf'),
            'é–\u2028\x7f\x00\x1f"\\/\ud800x\U0001f600', [True, False, None, []],
            {'b': 1, '10': 2, '2': 3, '01': 4, '4294967294': 5, '4294967295': 6, 'a': {'0': None, '-1': {}}},
        ]
        for value in values:
            with self.subTest(value=repr(value)):
                self.assertEqual(intech_sim.js_stringify(value), client_js_stringify(value))


class TestIntechIpn(IntechSimulatorCase):
    def setUp(self):
        super().setUp()
        self.receiver = ThreadingHTTPServer(('127.0.0.1', 0), _IpnReceiver)
        self.receiver.daemon_threads = True
        self.receiver.lock = threading.Lock()
        self.receiver.received = []
        self.receiver.statuses = deque()
        threading.Thread(target=self.receiver.serve_forever, daemon=True).start()
        self.addCleanup(self.receiver.server_close)
        self.addCleanup(self.receiver.shutdown)
        self.url_ipn = 'http://127.0.0.1:%s/intech/ipn?db=nr' % self.receiver.server_address[1]

    def accept_for_ipn(self, **changes):
        return self.accept(urlIpn=self.url_ipn, **changes)

    def wait_received(self, count, seconds=8):
        deadline = time.monotonic() + seconds
        while len(self.receiver.received) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        self.assertEqual(len(self.receiver.received), count)
        return self.receiver.received

    def assertSignedOverRawBytes(self, received, secret=DEMO_HMAC_SECRET):
        timestamp = received['headers']['Timestamp']
        expected = intech_signature(secret, 'POST', timestamp, received['raw'].decode('utf-8'))
        self.assertEqual(received['headers']['Hmac-Signature'], expected)

    def node_verdict(self, received):
        return run_node(NODE_VALIDATE, {'signature': received['headers']['Hmac-Signature'],
                                        'timestamp': received['headers']['Timestamp'],
                                        'raw': received['raw'].decode('utf-8'), 'secret': DEMO_HMAC_SECRET})

    def test_ipn_is_signed_over_the_exact_bytes_it_sends(self):
        transaction_id = self.accept_for_ipn(phone='221772457199')
        before = int(time.time() * 1000)
        self.assertEqual(self.sim.send_ipn(transaction_id), (200, 'OK'))
        (received,) = self.wait_received(1)
        self.assertEqual(received['path'], '/intech/ipn?db=nr')
        self.assertEqual(received['headers']['Content-Type'], 'application/json')
        self.assertIn('Hmac-Signature', received['names'], 'header names as the contract writes them')
        body = json.loads(received['raw'])
        self.assertEqual(list(body), IPN_KEYS)
        self.assertEqual(received['raw'], js_stringify_bytes(body), 'JSON.stringify bytes, not json.dumps')
        self.assertEqual({k: v for k, v in body.items() if k != 'date'}, {
            'transactionId': transaction_id, 'externalTransactionId': 'TXN_001', 'codeService': 'WAVE_SN_API_CASH_IN',
            'phone': '221772457199', 'amount': 1000, 'status': 'SUCCESS',
            'message': 'Transaction effectuée avec succès'})
        self.assertRegex(body['date'], DATE_RE)
        self.assertRegex(received['headers']['Timestamp'], r'^[0-9]{13}$')
        self.assertLessEqual(abs(int(received['headers']['Timestamp']) - before), 2000)
        self.assertSignedOverRawBytes(received)
        self.assertEqual(self.node_verdict(received), {'valid': True}, "the document's own validator accepts it")
        (entry,) = self.sim.ipn_log
        self.assertEqual((entry['transaction_id'], entry['attempt'], entry['status'], entry['raw'], entry['body']),
                         (transaction_id, 1, 200, received['raw'], body))
        self.assertEqual(self.sim.operations[transaction_id]['status'], 'SUCCESS')

    def test_scripted_outcome_per_phone(self):
        self.sim.set_outcome('772457199', 'FAILED')
        failed = self.accept_for_ipn()
        paid = self.accept_for_ipn(phone='221772457199', externalTransactionId='TXN_002')
        self.sim.send_ipn(failed)
        self.sim.send_ipn(paid)
        bodies = [json.loads(received['raw']) for received in self.wait_received(2)]
        self.assertEqual([(b['externalTransactionId'], b['status'], b['message']) for b in bodies], [
            ('TXN_001', 'FAILED', 'Transaction échouée'), ('TXN_002', 'SUCCESS', 'Transaction effectuée avec succès')])
        self.assertEqual([self.sim.operations[t]['status'] for t in (failed, paid)], ['FAILED', 'SUCCESS'])
        with self.assertRaises(ValueError):
            self.sim.set_outcome('772457199', 'PAID')
        with self.assertRaises(ValueError):
            self.sim.send_ipn(paid, 'DONE')
        with self.assertRaises(KeyError):
            self.sim.send_ipn('ITX000000000000')
        self.assertEqual(len(self.receiver.received), 2, 'nothing sent for a bad status or an unknown operation')

    def test_duplicate_and_out_of_order_ipns(self):
        transaction_id = self.accept_for_ipn()
        for status in ('SUCCESS', 'SUCCESS', 'PENDING'):
            self.assertEqual(self.sim.send_ipn(transaction_id, status)[0], 200)
        bodies = [json.loads(received['raw']) for received in self.wait_received(3)]
        self.assertEqual([(b['transactionId'], b['status']) for b in bodies],
                         [(transaction_id, 'SUCCESS'), (transaction_id, 'SUCCESS'), (transaction_id, 'PENDING')])
        self.assertEqual(bodies[2]['message'], 'Transaction en cours de traitement')
        self.assertEqual(self.sim.operations[transaction_id]['status'], 'SUCCESS', 'a late PENDING changes nothing')
        self.assertEqual(len(self.sim.ipn_log), 3)

    def test_stale_future_and_badly_signed_ipns(self):
        transaction_id = self.accept_for_ipn()
        now = int(time.time() * 1000)
        self.sim.send_ipn(transaction_id, timestamp_offset_ms=-6 * MINUTE_MS)
        self.sim.send_ipn(transaction_id, timestamp_offset_ms=5 * MINUTE_MS)
        self.sim.send_ipn(transaction_id, bad_signature=True)
        self.sim.send_ipn(transaction_id, secret='another-secret')
        stale, future, bad, other = self.wait_received(4)
        self.assertAlmostEqual(int(stale['headers']['Timestamp']), now - 6 * MINUTE_MS, delta=2000)
        self.assertAlmostEqual(int(future['headers']['Timestamp']), now + 5 * MINUTE_MS, delta=2000)
        for received in (stale, future):  # only the time is wrong: the signature is right for that timestamp
            self.assertSignedOverRawBytes(received)
        self.assertEqual(self.node_verdict(stale), {'error': 'Timestamp expired'})
        self.assertEqual(self.node_verdict(future), {'valid': True}, 'the document checks only the age')
        self.assertRegex(bad['headers']['Hmac-Signature'], r'^[0-9a-f]{64}$')
        with self.assertRaises(AssertionError):
            self.assertSignedOverRawBytes(bad)
        self.assertEqual(self.node_verdict(bad), {'error': 'Invalid HMAC signature'})
        self.assertSignedOverRawBytes(other, secret='another-secret')
        self.assertEqual(self.node_verdict(other), {'error': 'Invalid HMAC signature'})

    def test_raw_body_and_header_overrides(self):
        transaction_id = self.accept_for_ipn()
        spaced = json.dumps(self.sim.ipn_body(transaction_id)).encode()
        self.sim.send_ipn(transaction_id, raw_body=spaced)
        self.sim.send_ipn(transaction_id, raw_body='not json', headers={'Timestamp': None, 'X-Trace': 'a1'})
        spaced_received, garbage = self.wait_received(2)
        self.assertEqual(spaced_received['raw'], spaced)
        self.assertSignedOverRawBytes(spaced_received)
        self.assertEqual(garbage['raw'], b'not json')
        self.assertNotIn('Timestamp', garbage['headers'])
        self.assertEqual(garbage['headers']['X-Trace'], 'a1')

    def test_ipn_to_a_closed_port_is_logged_without_status(self):
        with socket.socket() as probe:  # a port that was free a moment ago, and is closed now
            probe.bind(('127.0.0.1', 0))
            port = probe.getsockname()[1]
        transaction_id = self.accept(urlIpn=f'http://127.0.0.1:{port}/intech/ipn')
        status, error = self.sim.send_ipn(transaction_id)
        self.assertIsNone(status)
        self.assertIn('Connection', error)
        self.assertEqual([entry['status'] for entry in self.sim.ipn_log], [None])

    def test_auto_ipn_retries_until_200_one_second_apart(self):
        self.receiver.statuses.extend([500, 500])
        self.sim.set_outcome('772457199', 'FAILED')
        self.sim.auto_ipn = 0.05
        transaction_id = self.accept_for_ipn()
        first, second, third = self.wait_received(3)
        time.sleep(1.5)
        self.assertEqual(len(self.receiver.received), 3, 'no re-send after the 200')
        self.assertGreaterEqual(second['at'] - first['at'], 0.95)
        self.assertGreaterEqual(third['at'] - second['at'], 0.95)
        bodies = [json.loads(received['raw']) for received in (first, second, third)]
        self.assertEqual(bodies[0], bodies[2], 'the same IPN each time')
        self.assertEqual(bodies[0]['status'], 'FAILED')
        for received in (first, second, third):
            self.assertSignedOverRawBytes(received)
        self.assertEqual([(e['transaction_id'], e['attempt'], e['status']) for e in self.sim.ipn_log],
                         [(transaction_id, 1, 500), (transaction_id, 2, 500), (transaction_id, 3, 200)])

    def test_auto_ipn_gives_up_after_three_retries(self):
        self.receiver.statuses.extend([500, 503, 404, 401, 500])
        self.sim.auto_ipn = 0.0
        self.sim.ipn_retry_delay = 0.1
        self.accept_for_ipn()
        self.wait_received(4)
        time.sleep(0.6)
        self.assertEqual(len(self.receiver.received), 4, 'one send and three re-sends, then Intech stops')
        self.assertEqual([e['status'] for e in self.sim.ipn_log], [500, 503, 404, 401])

    def test_reset_cancels_pending_ipns_and_forgets_everything_but_accounts(self):
        self.sim.auto_ipn = 0.3
        self.accept_for_ipn()
        self.sim.set_outcome('772457199', 'FAILED')
        self.sim.refuse_next()
        self.sim.services = []
        self.sim.advance_clock(3600)
        self.sim.fail_next('500')
        self.sim.reset()
        time.sleep(0.6)
        self.assertEqual(self.receiver.received, [], 'the pending IPN was cancelled')
        self.assertEqual((self.sim.operations, self.sim.accepted, self.sim.ipn_log, self.sim.outcomes),
                         ({}, [], [], {}))
        self.assertEqual((self.sim.auto_ipn, self.sim.clock_offset, self.sim.services),
                         (None, 0.0, list(DOCUMENT_SERVICES)))
        self.assertIn(DEMO_API_KEY, self.sim.accounts)
        transaction_id = self.accept_for_ipn()  # no fault, no refusal left; the demo account still signs
        self.assertEqual(self.sim.ipn_body(transaction_id)['status'], 'SUCCESS', 'the scripted outcome is gone')
        time.sleep(0.4)
        self.assertEqual(self.receiver.received, [], 'auto_ipn is off again')
