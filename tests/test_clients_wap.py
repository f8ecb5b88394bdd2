"""WAP client against the simulator over real loopback HTTP: no database, no mocked `requests`."""

import base64
import os
import socket
import subprocess
import threading
import time
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from unittest.mock import patch

import requests

from ..clients import base, phone, signing, wap
from ..clients.registry import get_client_class
from .common import LoopbackCase
from .simulator import DEMO_API_KEY, DEMO_INVOICE_AUTOMATION, DEMO_OTP_AUTOMATION, DEMO_SECRET_B64, Simulator
from .simulator.wap import seed_demo

# Computed once with: printf %s 'demo-wap-key1759149614' \
#   | openssl dgst -sha256 -mac HMAC -macopt hexkey:<hex of base64-decoded DEMO_SECRET_B64> -binary | base64
DEMO_SIGNATURE_1759149614 = 'tx9WCitnuZROksn54dxNzNUI0CSzikW018v2e48Uj0I='


class DeduplicatingWapClient(wap.WapClient):
    """A provider that ignores a repeated idempotency key: any send may be repeated."""

    deduplicates_by_idempotency_key = True


def openssl_signature(api_key, secret_b64, timestamp):
    hexkey = base64.b64decode(secret_b64).hex()
    openssl = subprocess.run(
        ['openssl', 'dgst', '-sha256', '-mac', 'HMAC', '-macopt', f'hexkey:{hexkey}', '-binary'],
        input=f'{api_key}{timestamp}'.encode(), capture_output=True, check=True,
    )
    return base64.b64encode(openssl.stdout).decode()


class TestWapSigning(LoopbackCase):
    def test_hard_coded_vector(self):
        self.assertEqual(signing.wap_signature(DEMO_API_KEY, DEMO_SECRET_B64, 1759149614), DEMO_SIGNATURE_1759149614)

    def test_matches_openssl(self):
        # a secret with non-UTF-8 bytes: the key is the decoded bytes, not the base64 text
        secret = base64.b64encode(bytes(range(256))[::7]).decode()
        for api_key, secret_b64, timestamp in [(DEMO_API_KEY, DEMO_SECRET_B64, 1759149614), ('k-1', secret, 1)]:
            self.assertEqual(
                signing.wap_signature(api_key, secret_b64, timestamp), openssl_signature(api_key, secret_b64, timestamp)
            )

    def test_invalid_secret(self):
        with self.assertRaisesRegex(ValueError, 'not valid base64'):
            signing.wap_signature(DEMO_API_KEY, 'not base64!', 1)
        self.assertTrue(signing.signatures_match('abc', 'abc'))
        self.assertFalse(signing.signatures_match('abc', 'abd'))


class TestPhone(LoopbackCase):
    def test_cameroon_spellings(self):
        for raw in ['690000000', '6 90 00 00 00', '690.00.00.00', '690-000-000', '+237 690 000 000',
                    '00237690000000', '+237690000000']:
            with self.subTest(raw=raw):
                self.assertEqual(phone.to_e164(raw, 'CM'), '+237690000000')
        self.assertEqual(phone.split_e164('+237690000000'), ('CM', '690000000'))

    def test_france(self):
        self.assertEqual(phone.to_e164('06 12 34 56 78', 'FR'), '+33612345678')
        self.assertEqual(phone.to_e164('+33 6 12 34 56 78', 'CM'), '+33612345678')
        self.assertEqual(phone.split_e164('+33612345678'), ('FR', '612345678'))

    def test_invalid(self):
        with self.assertRaisesRegex(phone.InvalidPhoneError, r"'6 9' is not a valid phone number for Cameroon \(CM\)"):
            phone.to_e164('6 9', 'CM')
        with self.assertRaisesRegex(phone.InvalidPhoneError, 'no country code'):
            phone.to_e164('690000000', None)
        with self.assertRaises(phone.InvalidPhoneError):
            phone.split_e164('+2376')

    def test_empty(self):
        for raw in ['', None, '  ']:
            with self.assertRaisesRegex(phone.InvalidPhoneError, '^No phone number.$'):
                phone.to_e164(raw, 'CM')


class WapCase(LoopbackCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.sim = Simulator().start()
        cls.addClassCleanup(cls.sim.stop)
        seed_demo(cls.sim.wap)

    def setUp(self):
        super().setUp()
        self.sim.reset()
        self.sim.wap.progress_seconds = (1, 2, 3)
        self.client = self.make_client()

    def make_client(self, secret=DEMO_SECRET_B64, base_url=None, client_class=wap.WapClient, **kwargs):
        kwargs.setdefault('environment', 'sandbox')
        client = client_class(base_url or self.sim.base_url('wap'), {'api_key': DEMO_API_KEY, 'api_secret': secret},
                              **kwargs)
        self.addCleanup(client.close)
        return client

    @staticmethod
    def otp(recipient='+237690000000', variables=None, template=DEMO_OTP_AUTOMATION, scheduled_at=None):
        return base.OutboundMessage(
            recipient_e164=recipient, template_ref=template, idempotency_key='nr-1', scheduled_at=scheduled_at,
            variables={'code_otp': '123456'} if variables is None else variables,
        )


class TestWapSend(WapCase):
    def test_registry(self):
        self.assertIs(get_client_class('wap'), wap.WapClient)
        with self.assertRaises(base.PermanentError):
            get_client_class('nope')

    def test_send_happy_path(self):
        when = datetime(2030, 1, 2, 3, 4, 5, 678901, tzinfo=timezone.utc)
        result = self.client.send(self.otp(scheduled_at=when))
        (request,) = self.sim.wap.requests
        self.assertEqual((request['method'], request['path'], request['query']), ('POST', '/automation/', {}))
        self.assertEqual(request['json'], {
            'reference': '1758796201', 'country': 'CM', 'recipient': '690000000',
            'scheduled': '2030-01-02T03:04:05.678Z', 'variables': {'code_otp': '123456'},
        })
        self.assertEqual(request['headers']['x-api-key'], DEMO_API_KEY)
        self.assertEqual(request['headers']['Content-Type'], 'application/json')
        self.assertEqual(
            request['headers']['X-API-Signature'],
            signing.wap_signature(DEMO_API_KEY, DEMO_SECRET_B64, request['headers']['X-API-Timestamp']),
        )
        self.assertRegex(result.provider_ref, r'^WAP\d{12}\.[A-Z]\d{5}$')
        self.assertIn(result.provider_ref, self.sim.wap.messages)
        self.assertEqual((result.status, result.provider_status), ('sent', 'scheduled'))
        self.assertEqual((result.cost, result.currency), (10.0, 'XAF'))
        self.assertEqual(result.scheduled_at, when.replace(microsecond=678000))
        self.assertEqual(result.raw['recipient'], '237690000000')
        self.assertFalse(self.sim.wap.messages[result.provider_ref]['test'])

    def test_send_now_and_french_number(self):
        result = self.client.send(self.otp(recipient='+33612345678'))
        sent = self.sim.wap.requests[0]['json']
        self.assertEqual((sent['country'], sent['recipient']), ('FR', '612345678'))
        self.assertRegex(sent['scheduled'], r'^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$')
        self.assertLess(abs(result.scheduled_at - datetime.now(timezone.utc)), timedelta(seconds=5))

    def test_test_mode(self):
        client = self.make_client(environment='test')
        result = client.send(self.otp())
        self.assertEqual(self.sim.wap.requests[0]['query'], {'test': '1'})
        self.assertTrue(self.sim.wap.messages[result.provider_ref]['test'])
        client.get_status(result.provider_ref)
        self.assertEqual(self.sim.wap.requests[1]['query'], {'test': '1'})

    def test_bad_signature(self):
        client = self.make_client(secret=base64.b64encode(b'wrong-secret').decode())
        with self.assertRaises(base.AccountError) as caught:
            client.send(self.otp())
        self.assertIsInstance(caught.exception, base.PermanentError)
        self.assertEqual((caught.exception.http_status, caught.exception.code), (401, 'credentials'))
        self.assertIn('refused the credentials', caught.exception.message)
        self.assertEqual(self.sim.wap.sent_count(), 0)

    def test_secret_not_base64(self):
        with self.assertRaisesRegex(base.AccountError, 'not valid base64'):
            self.make_client(secret='%%%').send(self.otp())
        self.assertEqual(self.sim.wap.requests, [])

    def test_missing_credentials(self):
        with self.assertRaises(base.AccountError) as caught:
            self.make_client(secret=' ')
        self.assertEqual(caught.exception.code, 'missing_credentials')

    def test_missing_variable(self):
        with self.assertRaises(base.PermanentError) as caught:
            self.client.send(self.otp(template=DEMO_INVOICE_AUTOMATION,
                                      variables={'customer_name': 'Awa', 'invoice_number': 'INV/1', 'amount_due': ''}))
        self.assertEqual(caught.exception.http_status, 400)
        self.assertEqual(caught.exception.message, 'WAP refused the request: missing_variable_amount_due')

    def test_unknown_automation(self):
        self.sim.wap.add_automation('42', variables=[], active=False)
        for template in ('999', '42'):
            with self.assertRaises(base.PermanentError) as caught:
                self.client.send(self.otp(template=template))
            self.assertEqual(caught.exception.message, f'WAP automation {template} not found or inactive.')
            self.assertNotIsInstance(caught.exception, base.AccountError)  # a 404 in WAP's envelope: this message's

    def test_base_url_not_leading_to_wap(self):
        """A 404 outside WAP's envelope (here the simulator's own, for an unknown prefix) is the account's fault."""
        client = self.make_client(base_url=self.sim.url + '/nope')
        for call, arg in ((client.send, self.otp()), (client.get_status, 'WAP000000000000.X00000')):
            with self.subTest(call=call.__name__), self.assertRaises(base.AccountError) as caught:
                call(arg)
            self.assertEqual((caught.exception.code, caught.exception.http_status), ('not_provider_url', 404))
            self.assertEqual(caught.exception.params, {'provider': 'WAP', 'url': self.sim.url + '/nope'})
        self.assertEqual(self.sim.wap.requests, [])

    def test_invalid_recipient_is_refused_before_sending(self):
        with self.assertRaisesRegex(base.PermanentError, 'not a valid international'):
            self.client.send(self.otp(recipient='+2376'))
        self.assertEqual(self.sim.wap.requests, [])

    def test_rate_limited(self):
        self.sim.wap.fail_next('429', retry_after=7)
        with self.assertRaises(base.RetryableError) as caught:
            self.client.send(self.otp())
        self.assertEqual((caught.exception.http_status, caught.exception.retry_after), (429, 7.0))

    def test_real_rate_limit(self):
        self.sim.wap.rate_limit_per_minute = 2
        self.addCleanup(setattr, self.sim.wap, 'rate_limit_per_minute', 100)
        self.client.send(self.otp())
        self.client.send(self.otp())
        with self.assertRaises(base.RetryableError) as caught:
            self.client.send(self.otp())
        self.assertGreaterEqual(caught.exception.retry_after, 1)
        self.assertEqual(self.sim.wap.sent_count(), 2)

    def test_server_errors_on_send(self):
        """502 (the gateway did not reach WAP) and 503 (WAP refuses work) prove the message was not taken; after a
        500 or a 504 WAP may have queued it, and resending could send it twice."""
        expected = {'502': base.RetryableError, '503': base.RetryableError,
                    '500': base.OutcomeUnknownError, '504': base.OutcomeUnknownError}
        for kind, error_class in expected.items():
            self.sim.wap.fail_next(kind)
            with self.subTest(kind=kind), self.assertRaises(base.ProviderError) as caught:
                self.client.send(self.otp())
            error = caught.exception
            self.assertIs(type(error), error_class)
            code = 'server_error' if error_class is base.RetryableError else 'server_error_unknown'
            self.assertEqual((error.code, error.http_status), (code, int(kind)))
            self.assertEqual(error.params, {'provider': 'WAP', 'status': int(kind)})
            self.assertTrue(error.body)
            if error_class is base.OutcomeUnknownError:
                self.assertIs(error.retry_may_duplicate, True)
        self.assertEqual(self.sim.wap.sent_count(), 0)
        self.assertEqual([r['response_status'] for r in self.sim.wap.requests], [502, 503, 500, 504])

    def test_server_errors_retryable_when_the_provider_deduplicates(self):
        for client_class, error_class in ((wap.WapClient, base.OutcomeUnknownError),
                                          (DeduplicatingWapClient, base.RetryableError)):
            self.sim.wap.fail_next('500')
            with self.subTest(client_class=client_class.__name__), self.assertRaises(base.ProviderError) as caught:
                self.make_client(client_class=client_class).send(self.otp())
            self.assertIs(type(caught.exception), error_class)

    def test_malformed(self):
        self.sim.wap.fail_next('malformed')
        with self.assertRaises(base.OutcomeUnknownError) as caught:
            self.client.send(self.otp())
        self.assertIs(caught.exception.retry_may_duplicate, False)  # a 200: WAP most likely took the message

    def test_timeout_after_accepting(self):
        self.sim.wap.fail_next('timeout_after', delay=1.5)
        client = self.make_client(timeout=0.5)
        with self.assertRaises(base.OutcomeUnknownError) as caught:
            client.send(self.otp())
        self.assertEqual(caught.exception.code, 'no_answer')
        self.assertIs(caught.exception.retry_may_duplicate, True)
        self.assertEqual(self.sim.wap.sent_count(), 1)  # the provider did accept it

    def test_timeout_on_status_is_retryable(self):
        reference = self.client.send(self.otp()).provider_ref
        self.sim.wap.fail_next('timeout_before', delay=1.5)
        with self.assertRaises(base.RetryableError):
            self.make_client(timeout=0.5).get_status(reference)

    def test_connection_refused(self):
        client = wap.WapClient('http://127.0.0.1:9', {'api_key': 'k', 'api_secret': DEMO_SECRET_B64},
                               environment='sandbox', timeout=2)
        self.addCleanup(client.close)
        with self.assertRaises(base.RetryableError):
            client.send(self.otp())

    def test_invalid_base_url_refused_before_any_request(self):
        for url in ('http://', 'ftp://p.wap.cm', 'p.wap.cm/automation', 'http://host:port'):
            with self.subTest(url=url), self.assertRaises(base.AccountError) as caught:
                wap.WapClient(url, {'api_key': 'k', 'api_secret': DEMO_SECRET_B64})
            self.assertEqual(caught.exception.code, 'bad_url')
        self.assertTrue(base.is_http_url('https://p.wap.cm'))
        self.assertTrue(base.is_http_url('http://127.0.0.1:8079/wap'))


class TestWapStatus(WapCase):
    def test_progression(self):
        self.sim.wap.progress_seconds = None  # only advance() moves messages
        reference = self.client.send(self.otp()).provider_ref
        self.assertEqual(self.client.get_status(reference).provider_status, 'scheduled')
        for provider_status, state in [('sent', 'sent'), ('delivered', 'delivered'), ('read', 'read')]:
            self.sim.wap.advance(reference, provider_status)
            result = self.client.get_status(reference)
            self.assertEqual((result.status, result.provider_status, result.error), (state, provider_status, None))
        self.assertEqual(self.sim.wap.requests[-1]['path'], f'/automation/{reference}')

    def test_failed_delivery(self):
        self.sim.wap.progress_seconds = None
        reference = self.client.send(self.otp()).provider_ref
        self.sim.wap.fail_delivery(reference)
        self.sim.wap.advance_all('delivered')
        result = self.client.get_status(reference)
        self.assertEqual((result.status, result.provider_status), ('failed', 'failed'))
        self.assertTrue(result.error)

    def test_time_progression(self):
        self.sim.wap.progress_seconds = (0, 0, 0)
        reference = self.client.send(self.otp()).provider_ref
        self.assertEqual(self.client.get_status(reference).status, 'read')

    def test_unknown_reference(self):
        with self.assertRaises(base.PermanentError) as caught:
            self.client.get_status('WAP000000000000.X00000')
        self.assertEqual((caught.exception.http_status, caught.exception.code), (404, 'message_not_found'))
        self.assertNotIsInstance(caught.exception, base.AccountError)

    def test_server_error_on_status_is_retryable(self):
        """The same 500 that leaves a send's outcome unknown: reading a status again is harmless."""
        reference = self.client.send(self.otp()).provider_ref
        self.sim.wap.fail_next('500')
        with self.assertRaises(base.OutcomeUnknownError):
            self.client.send(self.otp())
        self.sim.wap.fail_next('500')
        with self.assertRaises(base.RetryableError) as caught:
            self.client.get_status(reference)
        self.assertEqual((caught.exception.code, caught.exception.http_status), ('server_error', 500))

    def test_status_mapping(self):
        self.assertEqual(wap.normalize_status('Seen'), 'read')
        self.assertEqual(wap.normalize_status('undelivered'), 'failed')
        self.assertEqual(wap.normalize_status('something_new'), 'sent')


class TestWapConnection(WapCase):
    def test_ok(self):
        self.assertEqual(self.client.test_connection(), 'Connection OK: WAP accepted the credentials.')

    def test_wrong_url_is_not_reported_as_ok(self):
        """A 404 that is not WAP's own answer (a mistyped path, another web server) is a wrong base URL."""
        for base_url in (self.sim.url + '/wapp', self.sim.base_url('wap') + '/v2'):
            with self.subTest(base_url=base_url), self.assertRaises(base.AccountError) as caught:
                self.make_client(base_url=base_url).test_connection()
            self.assertEqual(caught.exception.code, 'not_provider_url')
            self.assertIn('check the base URL', caught.exception.message)

    def test_bad_credentials(self):
        with self.assertRaisesRegex(base.AccountError, 'refused the credentials'):
            self.make_client(secret=base64.b64encode(b'nope').decode()).test_connection()


class TestWapConnectionFailures(WapCase):
    def test_reset_of_a_reused_connection_is_sent_again(self):
        """A keep-alive connection the server dropped before answering: sent again once, on a new connection."""
        self.client.send(self.otp())  # the connection stays in the pool
        self.sim.wap.fail_next('reset_reused')
        result = self.client.send(self.otp())
        self.assertIn(result.provider_ref, self.sim.wap.messages)
        self.assertEqual(self.sim.wap.sent_count(), 2)
        self.assertEqual([(r['processed'], r['response_status']) for r in self.sim.wap.requests],
                         [(True, 200), (False, None), (True, 200)])

    def test_reset_of_a_new_connection_is_not_sent_again(self):
        self.sim.wap.fail_next('reset_reused')
        with self.assertRaises(base.OutcomeUnknownError) as caught:
            self.client.send(self.otp())  # the client's first request: a new connection
        self.assertEqual(caught.exception.code, 'no_answer')
        self.assertIs(caught.exception.retry_may_duplicate, True)
        self.assertEqual([r['processed'] for r in self.sim.wap.requests], [False])

    def test_connect_timeout_is_tried_twice(self):
        """Nothing was written before the connection was established: urllib3 tries a second connection."""
        listener = socket.create_server(('127.0.0.1', 0), backlog=0)  # never accepts
        self.addCleanup(listener.close)
        for _attempt in range(8):  # fill the accept queue: further connections time out
            filler = socket.socket()
            self.addCleanup(filler.close)
            filler.settimeout(0.2)
            try:
                filler.connect(listener.getsockname())
            except TimeoutError:
                break
        client = self.make_client(base_url=f'http://127.0.0.1:{listener.getsockname()[1]}/wap', timeout=0.3)
        started = time.monotonic()
        with self.assertRaises(base.RetryableError) as caught:
            client.send(self.otp())
        error = caught.exception
        self.assertEqual((error.code, error.params['error_type']), ('unreachable', 'ConnectTimeout'))
        self.assertGreaterEqual(time.monotonic() - started, 0.6)


class _RecordingProxy(ThreadingHTTPServer):
    """An HTTP proxy that forwards nothing: it records the request line it got and answers 502 (a gateway that
    could not reach the provider, which the client retries)."""

    daemon_threads = True

    def __init__(self):
        self.request_lines = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(handler):  # noqa: N805 - the handler's own self
                handler.rfile.read(int(handler.headers.get('Content-Length') or 0))
                self.request_lines.append(handler.requestline)
                handler.send_response(502)
                handler.send_header('Content-Length', '0')
                handler.end_headers()

            def log_message(handler, *args):  # noqa: N805
                pass

        super().__init__(('127.0.0.1', 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self):
        return f'http://127.0.0.1:{self.server_address[1]}'


PROXY_VARIABLES = ('HTTP_PROXY', 'HTTPS_PROXY', 'ALL_PROXY', 'NO_PROXY', 'REQUESTS_CA_BUNDLE', 'CURL_CA_BUNDLE')


class TestWapEnvironmentSettings(WapCase):
    """The environment's proxy and CA bundle apply to a client's requests; requests reads them when the client is
    made, not before every request."""

    def setUp(self):
        super().setUp()
        self.proxy = _RecordingProxy()
        self.addCleanup(self.proxy.server_close)
        self.addCleanup(self.proxy.shutdown)
        cleared = {name: value for name, value in os.environ.items()
                   if name.upper() not in PROXY_VARIABLES}
        environ = patch.dict(os.environ, cleared, clear=True)
        environ.start()
        self.addCleanup(environ.stop)

    def test_requests_go_through_the_proxy_of_the_environment(self):
        os.environ['HTTP_PROXY'] = self.proxy.url
        client = self.make_client()
        with self.assertRaises(base.RetryableError) as caught:
            client.send(self.otp())
        self.assertEqual(caught.exception.http_status, 502)
        self.assertEqual(self.proxy.request_lines, [f'POST {self.sim.base_url("wap")}{wap.SEND_PATH} HTTP/1.1'])
        self.assertEqual(self.sim.wap.sent_count(), 0)

    def test_no_proxy_of_the_environment_is_obeyed(self):
        os.environ.update({'HTTP_PROXY': self.proxy.url, 'NO_PROXY': '127.0.0.1'})
        result = self.make_client().send(self.otp())
        self.assertIn(result.provider_ref, self.sim.wap.messages)
        self.assertEqual(self.proxy.request_lines, [])

    def test_environment_is_read_when_the_client_is_made(self):
        client = self.make_client()  # no proxy in the environment then
        os.environ['HTTP_PROXY'] = self.proxy.url
        client.send(self.otp())
        self.assertEqual(self.proxy.request_lines, [])
        self.assertEqual(self.sim.wap.sent_count(), 1)

    def test_ca_bundle_of_the_environment(self):
        for variable in ('REQUESTS_CA_BUNDLE', 'CURL_CA_BUNDLE'):
            with self.subTest(variable=variable), patch.dict(os.environ, {variable: '/etc/ssl/certs/our-ca.pem'}):
                self.assertEqual(self.make_client().session.verify, '/etc/ssl/certs/our-ca.pem')
        self.assertIs(self.make_client().session.verify, True)


class TestWapSimulatorContract(WapCase):
    """The simulator refuses what the real provider would refuse (raw signed requests, no client)."""

    def post(self, payload, timestamp=None, api_key=DEMO_API_KEY):
        timestamp = int(time.time()) if timestamp is None else timestamp
        headers = {'X-Api-Key': api_key, 'X-Api-Timestamp': str(timestamp),
                   'X-Api-Signature': signing.wap_signature(api_key, DEMO_SECRET_B64, timestamp)}
        response = requests.post(self.sim.base_url('wap') + '/automation', json=payload, headers=headers, timeout=5)
        return response.status_code, response.json()['message']

    def test_contract(self):
        good = {'reference': 1758796201, 'country': 'CM', 'recipient': '690000000',
                'scheduled': '2025-09-29T12:40:14.590Z', 'variables': {'code_otp': '123456'}}
        self.assertEqual(self.post(good), (200, 'message_queued_successfully'))  # the guide's own example
        cases = [
            ({'recipient': '+237690000000'}, 'invalid_recipient'),
            ({'recipient': '237690000000'}, 'invalid_recipient'),
            ({'recipient': '00237690000000'}, 'invalid_recipient'),
            ({'recipient': '6900'}, 'invalid_recipient'),
            ({'country': 'FR', 'recipient': '0612345678'}, 'invalid_recipient'),
            ({'country': 'XX'}, 'invalid_country'),
            ({'scheduled': '2025-09-29T12:40:14Z'}, 'invalid_scheduled'),
            ({'scheduled': '2025-09-29T12:40:14.5900Z'}, 'invalid_scheduled'),
            ({'variables': ['123456']}, 'invalid_variables'),
            ({'variables': {}}, 'missing_variable_code_otp'),
            ({'country': None}, 'missing_field_country'),
        ]
        for change, reason in cases:
            with self.subTest(reason=reason, change=change):
                self.assertEqual(self.post({**good, **change}), (400, reason))
        self.assertEqual(self.post({**good, 'country': 'FR', 'recipient': '612345678'})[0], 200)
        self.assertEqual(self.post(good, timestamp=int(time.time()) - 301), (401, 'invalid_timestamp'))
        self.assertEqual(self.post(good, api_key='someone-else'), (401, 'invalid_api_key'))
        self.assertEqual(self.sim.wap.sent_count(), 2)
