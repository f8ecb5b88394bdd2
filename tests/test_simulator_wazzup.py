"""The Wazzup simulator against the contract: marketplace and WAuth, webhooks (set-up test POST and deliveries),
bulk uploads, messages with crmMessageId, authentication and the rate limit.

Everything goes over real loopback HTTP; webhooks go to a tiny HTTP server of the test that keeps what it received
(headers and raw bytes) and answers what the test scripted.
"""

import base64
import json
import re
import socket
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from unittest import mock
from urllib.parse import parse_qs, urlsplit

import requests

from .common import LoopbackCase
from .simulator import Simulator
from .simulator.wazzup import (
    DEMO_API_KEY,
    DEMO_CHANNEL_ID,
    DEMO_CRM_CODE,
    DEMO_DEVELOPER_KEY,
    DEMO_SECRET,
    REPEATED_CRM_MESSAGE_ID,
    STATE_TTL,
    WazzupSimulator,
    seed_demo,
)

UUID_RE = r'^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$'
ISO_MS_RE = r'^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$'
SVG = b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10"><text>Odoo</text></svg>'
CUSTOMER_DOMAIN = 'https://erp.example.com/'
CRM_KEY = 'crm-key-9f2c7e'
ALL_SUBSCRIPTIONS = {'messagesAndStatuses': True, 'contactsAndDealsCreation': True, 'channelsUpdates': True,
                     'templateStatus': True}


class _WebhookReceiver(BaseHTTPRequestHandler):
    """The CRM's webhook route: keeps what arrived, answers the next scripted (status, body), else 200 OK."""

    protocol_version = 'HTTP/1.1'

    def log_message(self, format, *args):  # noqa: A002 - silence the access log
        pass

    def do_POST(self):  # noqa: N802 - http.server's naming
        raw = self.rfile.read(int(self.headers.get('Content-Length') or 0))
        with self.server.lock:
            self.server.received.append({'path': self.path, 'headers': self.headers, 'raw': raw})
            status, payload = self.server.answers.popleft() if self.server.answers else (200, b'OK')
        self.send_response(status)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


def state_claims(state):
    payload_part, _dot, signature = state.partition('.')
    return json.loads(base64.urlsafe_b64decode(payload_part + '=' * (-len(payload_part) % 4))), signature


def state_of(redirect_uri):
    return parse_qs(urlsplit(redirect_uri).query)['state'][0]


class WazzupSimulatorCase(LoopbackCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.simulator = Simulator().start()
        cls.addClassCleanup(cls.simulator.stop)
        cls.sim = seed_demo(cls.simulator.wazzup)
        cls.base = cls.simulator.base_url('wazzup') + '/v3'

    def setUp(self):
        super().setUp()
        self.sim.reset()
        self.addCleanup(self.sim.reset)
        self.receiver = ThreadingHTTPServer(('127.0.0.1', 0), _WebhookReceiver)
        self.receiver.daemon_threads = True
        self.receiver.lock = threading.Lock()
        self.receiver.received = []
        self.receiver.answers = deque()
        threading.Thread(target=self.receiver.serve_forever, daemon=True).start()
        self.addCleanup(self.receiver.server_close)
        self.addCleanup(self.receiver.shutdown)
        self.hook_url = 'http://127.0.0.1:%s/notify_rules/wazzup/webhook?db=nr' % self.receiver.server_address[1]

    def call(self, method, route, body=None, *, key=DEMO_API_KEY, raw=None, headers=None):
        """One request to /v3/<route> as our client makes it: JSON body, Bearer key (None: no header)."""
        sent = {'Content-Type': 'application/json'}
        if key is not None:
            sent['Authorization'] = f'Bearer {key}'
        sent.update(headers or {})
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        return requests.request(method, f'{self.base}/{route}', data=data, headers=sent, timeout=10)

    def assertError(self, response, status, code, description=None):
        self.assertEqual(response.status_code, status, response.text)
        answer = response.json()
        self.assertEqual(answer['error'], code, answer)
        if description is not None:
            self.assertEqual(answer['description'], description)
        return answer

    def assertFields(self, response, code, fields):
        answer = self.assertError(response, 400, code)
        self.assertEqual(answer['data']['fields'], fields)

    def connect_customer(self, crm_key=CRM_KEY, name='erp.example.com'):
        """The whole WAuth over HTTP for the demo integration; returns the new customer's apiKey."""
        redirect = self.call('POST', 'wauth', {'type': DEMO_CRM_CODE, 'domain': CUSTOMER_DOMAIN},
                             key=DEMO_DEVELOPER_KEY).json()['redirectUri']
        response = self.call('POST', 'connect', {'state': state_of(redirect), 'secret': DEMO_SECRET,
                                                 'crmKey': crm_key, 'name': name}, key=None)
        self.assertEqual(response.status_code, 200, response.text)
        return response.json()['data']

    def hooked_customer(self, **subscriptions):
        """A connected customer whose webhooks go to the receiver (all subscriptions unless told otherwise)."""
        api_key = self.connect_customer()
        response = self.call('PATCH', 'webhooks', {'webhooksUri': self.hook_url,
                                                   'subscriptions': dict(ALL_SUBSCRIPTIONS, **subscriptions)},
                             key=api_key)
        self.assertEqual(response.status_code, 200, response.text)
        self.receiver.received.clear()
        del self.sim.webhook_log[:]  # the test POST
        return api_key

    def received_json(self):
        return [json.loads(item['raw']) for item in self.receiver.received]


class TestWazzupMarketplace(WazzupSimulatorCase):
    def test_register_answers_ok_and_stores_for_the_developer(self):
        self.sim.add_developer('dev-2')
        body = {'crmCode': 'Best_CRM-2', 'authRedirectUri': 'https://crm.example.com/wazzup', 'secret': 's3cr3t'}
        response = self.call('POST', 'marketplace', body, key='dev-2')
        self.assertEqual((response.status_code, response.json()), (200, {'ok': True}))
        self.assertEqual(self.sim.registration('Best_CRM-2'), {
            'crmCode': 'Best_CRM-2', 'developer_key': 'dev-2', 'authRedirectUri': 'https://crm.example.com/wazzup',
            'secret': 's3cr3t', 'published': False, 'crmName': None, 'logo': None})
        for redirect in ('', None):  # empty or absent: each customer types their own link
            with self.subTest(authRedirectUri=redirect):
                body = {'crmCode': 'Best_CRM-2', 'secret': 'other'}
                if redirect is not None:
                    body['authRedirectUri'] = redirect
                self.assertEqual(self.call('POST', 'marketplace', body, key='dev-2').status_code, 200)
                self.assertEqual(self.sim.registration('Best_CRM-2')['authRedirectUri'], '')
                self.assertEqual(self.sim.registration('Best_CRM-2')['secret'], 'other')

    def test_posting_another_crm_code_moves_the_registration(self):
        self.sim.publish(DEMO_CRM_CODE)
        response = self.call('POST', 'marketplace', {'crmCode': 'renamed', 'secret': 'new-secret'},
                             key=DEMO_DEVELOPER_KEY)
        self.assertEqual(response.status_code, 200)
        self.assertIsNone(self.sim.registration(DEMO_CRM_CODE))
        self.assertEqual(self.sim.registration('renamed')['secret'], 'new-secret')
        self.assertIs(self.sim.registration('renamed')['published'], True, 'still the same integration')

    def test_register_refusals(self):
        self.sim.add_developer('dev-2')
        good = {'crmCode': 'my-crm', 'authRedirectUri': 'https://crm.example.com/', 'secret': 'x'}
        cases = [
            ('empty crmCode', dict(good, crmCode='')),
            ('51 characters', dict(good, crmCode='a' * 51)),
            ('a space', dict(good, crmCode='my crm')),
            ('a dot', dict(good, crmCode='my.crm')),
            ('Cyrillic', dict(good, crmCode='мояcrm')),
            ('a number', dict(good, crmCode=42)),
            ('no crmCode', {'secret': 'x'}),
            ('empty secret', dict(good, secret='')),
            ('no secret', {'crmCode': 'my-crm'}),
            ('redirect not a URL', dict(good, authRedirectUri='crm.example.com/wazzup')),
            ('redirect not http', dict(good, authRedirectUri='ftp://crm.example.com/')),
            ('an array', [good]),
            ('another developer\'s crmCode', dict(good, crmCode=DEMO_CRM_CODE)),
        ]
        for label, body in cases:
            with self.subTest(label):
                self.assertError(self.call('POST', 'marketplace', body, key='dev-2'), 400, 'validationError')
        self.assertError(self.call('POST', 'marketplace', raw=b'{"crmCode": ', key='dev-2'), 400, 'validationError')
        self.assertError(self.call('POST', 'marketplace', good, key='dev-2', headers={'Content-Type': 'text/plain'}),
                         400, 'validationError')
        self.assertEqual(set(self.sim.registrations), {DEMO_CRM_CODE})
        self.assertEqual(self.sim.registration(DEMO_CRM_CODE)['developer_key'], DEMO_DEVELOPER_KEY)
        self.assertEqual(self.call('POST', 'marketplace', good, key='dev-2').status_code, 200)
        self.assertEqual(self.call('POST', 'marketplace', dict(good, crmCode='A' * 50), key='dev-2').status_code, 200)

    def test_name_and_logo(self):
        body = {'crmName': 'Odoo Notify Rules', 'logo': {'name': 'odoo-notify.svg',
                                                         'content': base64.b64encode(SVG).decode()}}
        response = self.call('PATCH', 'marketplace', body, key=DEMO_DEVELOPER_KEY)
        self.assertEqual((response.status_code, response.json()), (200, {'ok': True}))
        registration = self.sim.registration(DEMO_CRM_CODE)
        self.assertEqual((registration['crmName'], registration['logo']),
                         ('Odoo Notify Rules', {'name': 'odoo-notify.svg', 'content': SVG}))

    def test_name_and_logo_refusals(self):
        content = base64.b64encode(SVG).decode()
        good = {'crmName': 'Odoo', 'logo': {'name': 'logo.svg', 'content': content}}
        cases = [
            ('no crmName', {'logo': good['logo']}),
            ('blank crmName', dict(good, crmName='  ')),
            ('no logo', {'crmName': 'Odoo'}),
            ('a PNG name', dict(good, logo={'name': 'logo.png', 'content': content})),
            ('no logo name', dict(good, logo={'content': content})),
            ('not base64', dict(good, logo={'name': 'logo.svg', 'content': '<svg>not encoded</svg>'})),
            ('base64 of a PNG', dict(good, logo={'name': 'logo.svg',
                                                 'content': base64.b64encode(b'\x89PNG\r\n').decode()})),
            ("the document's own example (no <svg in it)",
             dict(good, logo={'name': 'the-cool-crm.svg', 'content': 'YmFzZTY0LWVuY29kZWQtbG9nby1maWxlLWNvbnRlbnQK'})),
            ('no content', dict(good, logo={'name': 'logo.svg'})),
        ]
        for label, body in cases:
            with self.subTest(label):
                self.assertError(self.call('PATCH', 'marketplace', body, key=DEMO_DEVELOPER_KEY), 400,
                                 'validationError')
        self.assertIsNone(self.sim.registration(DEMO_CRM_CODE)['crmName'])
        self.sim.add_developer('dev-unregistered')
        self.assertError(self.call('PATCH', 'marketplace', good, key='dev-unregistered'), 400, 'validationError')
        self.sim.publish(DEMO_CRM_CODE)
        self.assertError(self.call('PATCH', 'marketplace', good, key=DEMO_DEVELOPER_KEY), 400, 'alreadyPublished')
        self.assertIsNone(self.sim.registration(DEMO_CRM_CODE)['crmName'])

    def test_marketplace_routes_need_the_developer_key(self):
        body = {'crmCode': DEMO_CRM_CODE, 'secret': DEMO_SECRET}
        for label, key, headers in [('no header', None, {}), ('unknown key', 'nope', {}),
                                    ("a customer's apiKey", DEMO_API_KEY, {}),
                                    ('Basic scheme', None, {'Authorization': f'Basic {DEMO_DEVELOPER_KEY}'}),
                                    ('no scheme', None, {'Authorization': DEMO_DEVELOPER_KEY})]:
            for method, route in [('POST', 'marketplace'), ('PATCH', 'marketplace'), ('POST', 'wauth')]:
                with self.subTest(label, method=method, route=route):
                    self.assertError(self.call(method, route, body, key=key, headers=headers), 401, 'unauthorized')
        self.assertEqual(self.call('POST', 'marketplace', body, key=DEMO_DEVELOPER_KEY).status_code, 200)


class TestWazzupWAuth(WazzupSimulatorCase):
    def test_the_whole_dance(self):
        self.sim.add_developer('dev-2')
        registered = self.call('POST', 'marketplace', {
            'crmCode': 'crm-two', 'authRedirectUri': 'https://crm.example.com/wazzup/connect?db=nr',
            'secret': 'secret-two'}, key='dev-2')
        self.assertEqual(registered.status_code, 200)
        before = int(self.sim.now())
        response = self.call('POST', 'wauth', {'type': 'crm-two'}, key='dev-2')
        self.assertEqual(response.status_code, 200, response.text)
        redirect = response.json()['redirectUri']
        parts = urlsplit(redirect)
        self.assertEqual((parts.scheme, parts.netloc, parts.path), ('https', 'crm.example.com', '/wazzup/connect'))
        self.assertEqual(parse_qs(parts.query)['db'], ['nr'], 'the query of authRedirectUri is kept')
        state = state_of(redirect)
        claims, signature = state_claims(state)
        self.assertEqual(set(claims), {'crmCode', 'accountId', 'iat'})
        self.assertEqual(claims['crmCode'], 'crm-two')
        self.assertAlmostEqual(claims['iat'], before, delta=2)
        self.assertRegex(signature, r'^[0-9a-f]{64}$')
        self.assertEqual(self.sim.states[state]['used'], False)
        self.assertIsNone(self.sim.customers[claims['accountId']]['api_key'], 'installed, not yet connected')

        response = self.call('POST', 'connect', {'state': state, 'secret': 'secret-two', 'crmKey': CRM_KEY,
                                                 'name': 'crm.example.com'}, key=None)
        self.assertEqual(response.status_code, 200, response.text)
        api_key = response.json()['data']
        self.assertEqual(list(response.json()), ['data'])
        self.assertRegex(api_key, r'^[0-9a-f]{32}$')
        account = self.sim.account_of(api_key)
        self.assertEqual((account['account_id'], account['crm_code'], account['crm_key'], account['name']),
                         (claims['accountId'], 'crm-two', CRM_KEY, 'crm.example.com'))
        self.assertEqual(self.sim.states[state], {'crmCode': 'crm-two', 'accountId': claims['accountId'],
                                                  'iat': claims['iat'], 'used': True, 'api_key': api_key})
        channels = self.call('GET', 'channels', key=api_key)
        self.assertEqual(channels.status_code, 200)
        (channel,) = channels.json()
        self.assertEqual({k: v for k, v in channel.items() if k != 'channelId'},
                         {'transport': 'whatsapp', 'plainId': '221770000000', 'state': 'active'})
        self.assertRegex(channel['channelId'], UUID_RE)

    def test_domain_when_no_redirect_uri_and_the_redirect_uri_wins(self):
        response = self.call('POST', 'wauth', {'type': DEMO_CRM_CODE, 'domain': 'https://accountcrm.com/'},
                             key=DEMO_DEVELOPER_KEY)
        self.assertEqual(response.status_code, 200)
        redirect = response.json()['redirectUri']
        self.assertTrue(redirect.startswith('https://accountcrm.com/?state='), redirect)
        self.sim.registration(DEMO_CRM_CODE)['authRedirectUri'] = 'https://one.example.com/connect'
        redirect = self.call('POST', 'wauth', {'type': DEMO_CRM_CODE, 'domain': 'https://accountcrm.com/'},
                             key=DEMO_DEVELOPER_KEY).json()['redirectUri']
        self.assertTrue(redirect.startswith('https://one.example.com/connect?state='), redirect)

    def test_wauth_refusals(self):
        self.sim.add_developer('dev-2')
        self.sim.register('dev-2', 'crm-two', 'secret-two', 'https://crm.example.com/')
        cases = [
            ('unknown crmCode', {'type': 'nobody', 'domain': CUSTOMER_DOMAIN}),
            ("another developer's crmCode", {'type': 'crm-two'}),
            ('no type', {'domain': CUSTOMER_DOMAIN}),
            ('no redirect URI and no domain', {'type': DEMO_CRM_CODE}),
            ('no redirect URI, empty domain', {'type': DEMO_CRM_CODE, 'domain': ''}),
            ('a domain without protocol', {'type': DEMO_CRM_CODE, 'domain': 'accountcrm.com'}),
            ('not an object', [DEMO_CRM_CODE]),
        ]
        for label, body in cases:
            with self.subTest(label):
                self.assertError(self.call('POST', 'wauth', body, key=DEMO_DEVELOPER_KEY), 400, 'validationError')
        self.assertEqual(self.sim.states, {})
        with self.assertRaises(ValueError):
            self.sim.install('nobody', CUSTOMER_DOMAIN)
        with self.assertRaises(ValueError):
            self.sim.install(DEMO_CRM_CODE)

    def test_install_helper_is_what_wauth_does(self):
        redirect = self.sim.install(DEMO_CRM_CODE, 'https://erp.example.com/wazzup?db=x')
        self.assertTrue(redirect.startswith('https://erp.example.com/wazzup?db=x&state='), redirect)
        state = state_of(redirect)
        self.assertEqual(state_claims(state)[0]['crmCode'], DEMO_CRM_CODE)
        self.sim.install_channels = []
        response = self.call('POST', 'connect', {'state': state, 'secret': DEMO_SECRET, 'crmKey': CRM_KEY,
                                                 'name': 'x'}, key=None)
        self.assertEqual(response.status_code, 200)
        self.assertEqual(len(self.sim.account_of(response.json()['data'])['channels']), 1,
                         'channels are given at install')
        redirect = self.sim.install(DEMO_CRM_CODE, CUSTOMER_DOMAIN)
        api_key = self.call('POST', 'connect', {'state': state_of(redirect), 'secret': DEMO_SECRET,
                                                'crmKey': CRM_KEY, 'name': 'x'}, key=None).json()['data']
        self.assertEqual(self.call('GET', 'channels', key=api_key).json(), [])

    def connect(self, state, /, **changes):
        body = {'state': state, 'secret': DEMO_SECRET, 'crmKey': CRM_KEY, 'name': 'erp.example.com'}
        body.update(changes)
        return self.call('POST', 'connect', {k: v for k, v in body.items() if v is not None}, key=None)

    def test_a_state_is_used_once(self):
        state = state_of(self.sim.install(DEMO_CRM_CODE, CUSTOMER_DOMAIN))
        first = self.connect(state)
        self.assertEqual(first.status_code, 200)
        self.assertError(self.connect(state), 400, 'invalidState')
        self.assertError(self.connect(state, crmKey='another-key'), 400, 'invalidState')
        self.assertEqual(self.sim.account_of(first.json()['data'])['crm_key'], CRM_KEY)
        self.assertEqual(len(self.sim.accounts), 2, 'the demo account and this one')

    def test_a_bad_secret_is_refused_and_does_not_use_the_state(self):
        state = state_of(self.sim.install(DEMO_CRM_CODE, CUSTOMER_DOMAIN))
        for secret in ('wrong', DEMO_SECRET + 'x', DEMO_SECRET.upper()):
            with self.subTest(secret=secret):
                self.assertError(self.connect(state, secret=secret), 401, 'invalidSecret')
        self.assertIs(self.sim.states[state]['used'], False)
        self.assertEqual(self.connect(state).status_code, 200)

    def test_a_state_expires_after_ten_minutes(self):
        fresh = state_of(self.sim.install(DEMO_CRM_CODE, CUSTOMER_DOMAIN))
        stale = state_of(self.sim.install(DEMO_CRM_CODE, CUSTOMER_DOMAIN))
        self.sim.advance_clock(STATE_TTL - 2)
        self.assertEqual(self.connect(fresh).status_code, 200, 'still valid just before ten minutes')
        self.sim.advance_clock(3)
        self.assertError(self.connect(stale), 400, 'invalidState')
        self.assertIs(self.sim.states[stale]['used'], False)

    def test_states_that_do_not_verify(self):
        state = state_of(self.sim.install(DEMO_CRM_CODE, CUSTOMER_DOMAIN))
        claims, signature = state_claims(state)
        forged_claims = base64.urlsafe_b64encode(json.dumps(dict(claims, accountId=1)).encode()).decode().rstrip('=')
        other_sim = WazzupSimulator()
        other_sim.register('dev', DEMO_CRM_CODE, DEMO_SECRET)
        foreign = state_of(other_sim.install(DEMO_CRM_CODE, CUSTOMER_DOMAIN))
        for label, candidate in [('claims changed, signature kept', f'{forged_claims}.{signature}'),
                                 ('signature changed', state[:-1] + ('0' if state[-1] != '0' else '1')),
                                 ('no signature', state.partition('.')[0]),
                                 ('garbage', 'eyJhbGciOiJIUzI1NiJ9.eyJ1c2Vy....'),
                                 ('issued by another Wazzup', foreign)]:
            with self.subTest(label):
                self.assertError(self.connect(candidate), 400, 'invalidState')
        self.assertEqual(self.connect(state).status_code, 200)

    def test_a_state_of_a_renamed_integration_is_refused(self):
        state = state_of(self.sim.install(DEMO_CRM_CODE, CUSTOMER_DOMAIN))
        self.call('POST', 'marketplace', {'crmCode': 'renamed', 'secret': DEMO_SECRET}, key=DEMO_DEVELOPER_KEY)
        self.assertError(self.connect(state), 400, 'invalidState')

    def test_connect_validation(self):
        state = state_of(self.sim.install(DEMO_CRM_CODE, CUSTOMER_DOMAIN))
        for label, changes in [('no crmKey', {'crmKey': None}), ('empty crmKey', {'crmKey': ''}),
                               ('crmKey not text', {'crmKey': 12345}), ('no name', {'name': None}),
                               ('no secret', {'secret': None}), ('no state', {'state': None})]:
            with self.subTest(label):
                self.assertError(self.connect(state, **changes), 400, 'validationError')
        self.assertError(self.call('POST', 'connect', raw=b'state=x', key=None), 400, 'validationError')
        self.assertIs(self.sim.states[state]['used'], False)
        response = self.call('POST', 'connect/', {'state': state, 'secret': DEMO_SECRET, 'crmKey': CRM_KEY,
                                                  'name': 'x'}, key=None)
        self.assertEqual(response.status_code, 200, 'no Authorization needed, and the path may end in /')


class TestWazzupWebhookSetup(WazzupSimulatorCase):
    def patch_webhooks(self, api_key, uri=None, subscriptions=None):
        body = {'webhooksUri': self.hook_url if uri is None else uri,
                'subscriptions': ALL_SUBSCRIPTIONS if subscriptions is None else subscriptions}
        return self.call('PATCH', 'webhooks', body, key=api_key)

    def test_patch_test_posts_with_the_crm_key_then_saves(self):
        api_key = self.connect_customer()
        response = self.patch_webhooks(api_key)
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.content, b'{ ok }')
        with self.assertRaises(ValueError):
            response.json()  # documented as `{ ok }`: not JSON
        (received,) = self.receiver.received
        self.assertEqual(received['path'], '/notify_rules/wazzup/webhook?db=nr')
        self.assertEqual(json.loads(received['raw']), {'test': True})
        self.assertEqual(received['headers']['Authorization'], f'Bearer {CRM_KEY}')
        self.assertEqual(received['headers']['Content-Type'], 'application/json')
        answer = self.call('GET', 'webhooks', key=api_key).json()
        self.assertEqual(answer, {'webhooksUri': self.hook_url, 'subscriptions': {
            'messagesAndStatuses': 'true', 'contactsAndDealsCreation': 'true', 'channelsUpdates': 'true',
            'templateStatus': 'true'}})
        self.assertEqual([(e['kind'], e['status'], e['body']) for e in self.sim.webhook_log],
                         [('test', 200, {'test': True})])

    def test_get_before_any_patch(self):
        self.assertEqual(self.call('GET', 'webhooks').json(), {'webhooksUri': None, 'subscriptions': {
            'messagesAndStatuses': 'false', 'contactsAndDealsCreation': 'false', 'channelsUpdates': 'false',
            'templateStatus': 'false'}})

    def test_a_test_post_not_answered_200_is_refused_and_nothing_saved(self):
        api_key = self.connect_customer()
        for status in (500, 401, 201):
            with self.subTest(status=status):
                self.receiver.answers.append((status, b'{}'))
                answer = self.assertError(self.patch_webhooks(api_key), 400, 'testPostNotPassed')
                self.assertEqual(answer['data'], status)
        with socket.socket() as probe:  # a port that was free a moment ago, and is closed now
            probe.bind(('127.0.0.1', 0))
            port = probe.getsockname()[1]
        answer = self.assertError(self.patch_webhooks(api_key, f'http://127.0.0.1:{port}/hook'), 400,
                                  'testPostNotPassed')
        self.assertIsNone(answer['data'], 'no answer at all')
        self.assertEqual(self.call('GET', 'webhooks', key=api_key).json()['webhooksUri'], None)
        self.assertEqual([e['status'] for e in self.sim.webhook_log], [500, 401, 201, None])

    def test_a_slow_test_post_is_not_passed(self):
        api_key = self.connect_customer()
        self.sim.webhook_timeout = 0.3
        with socket.socket() as silent:  # accepts the connection, never answers
            silent.bind(('127.0.0.1', 0))
            silent.listen()
            uri = 'http://127.0.0.1:%s/hook' % silent.getsockname()[1]
            answer = self.assertError(self.patch_webhooks(api_key, uri), 400, 'testPostNotPassed')
        self.assertIsNone(answer['data'])
        self.assertIn('timed out', self.sim.webhook_log[-1]['answer'])

    def test_malformed_uri(self):
        api_key = self.connect_customer()
        padded = self.hook_url + '&pad='
        long_uri = padded + 'a' * (201 - len(padded))
        for label, uri in [('not a URL', 'erp.example.com/hook'), ('ftp', 'ftp://erp.example.com/hook'),
                           ('201 characters', long_uri), ('empty', ''), ('a number', 42), ('spaces', 'http://a b/')]:
            with self.subTest(label):
                self.assertError(self.patch_webhooks(api_key, uri), 400, 'uriNotValid')
        self.assertError(self.call('PATCH', 'webhooks', {'subscriptions': ALL_SUBSCRIPTIONS}, key=api_key), 400,
                         'uriNotValid')
        self.assertEqual(self.receiver.received, [], 'nothing test-POSTed')
        self.assertEqual(len(long_uri[:-1]), 200)
        self.assertEqual(self.patch_webhooks(api_key, long_uri[:-1]).status_code, 200, '200 characters are fine')
        self.assertEqual(self.receiver.received[0]['path'], urlsplit(long_uri[:-1]).path + '?'
                         + urlsplit(long_uri[:-1]).query)

    def test_subscriptions_are_checked_and_patched(self):
        api_key = self.connect_customer()
        for label, subscriptions in [('misspelt', {'tepmplateStatus': True}),
                                     ('public code spelling', {'templateStatuses': True}),
                                     ('a string', {'messagesAndStatuses': 'true'}), ('not an object', ['x'])]:
            with self.subTest(label):
                self.assertError(self.patch_webhooks(api_key, subscriptions=subscriptions), 400, 'validationError')
        self.assertEqual(self.receiver.received, [])
        self.assertEqual(self.patch_webhooks(api_key, subscriptions={'messagesAndStatuses': True}).status_code, 200)
        self.assertEqual(self.patch_webhooks(api_key, subscriptions={'channelsUpdates': True}).status_code, 200)
        self.assertEqual(self.call('GET', 'webhooks', key=api_key).json()['subscriptions'], {
            'messagesAndStatuses': 'true', 'contactsAndDealsCreation': 'false', 'channelsUpdates': 'true',
            'templateStatus': 'false'}, 'a key left out keeps its value')

    def test_no_crm_key_no_authorization_header(self):
        api_key = self.sim.add_account(name='no crm key')
        self.assertEqual(self.patch_webhooks(api_key).status_code, 200)
        self.assertNotIn('Authorization', self.receiver.received[0]['headers'])


class TestWazzupDeliveries(WazzupSimulatorCase):
    def test_inbound_message_reaches_the_crm_with_the_bearer_crm_key(self):
        api_key = self.hooked_customer()
        channel_id = next(iter(self.sim.account_of(api_key)['channels']))
        self.assertEqual(self.sim.deliver_inbound(api_key, '221771234567', text='Bonjour, ma facture ?',
                                                  message_id='m-1', contact_name='Awa Diop'), (200, 'OK'))
        (received,) = self.receiver.received
        self.assertEqual(received['headers']['Authorization'], f'Bearer {CRM_KEY}')
        self.assertEqual(received['headers']['Content-Type'], 'application/json')
        self.assertNotIn(b'": ', received['raw'], 'written as JSON.stringify does')
        (message,) = json.loads(received['raw'])['messages']
        self.assertRegex(message.pop('dateTime'), ISO_MS_RE)
        self.assertEqual(message, {
            'messageId': 'm-1', 'channelId': channel_id, 'chatType': 'whatsapp', 'chatId': '221771234567',
            'type': 'text', 'status': 'inbound', 'isEcho': False, 'text': 'Bonjour, ma facture ?',
            'contact': {'name': 'Awa Diop', 'avatarUri': 'https://store.wazzup24.com/avatars/221771234567'}})
        (entry,) = self.sim.webhook_log
        self.assertEqual((entry['api_key'], entry['kind'], entry['status'], entry['answer'], entry['uri']),
                         (api_key, 'messages', 200, 'OK', self.hook_url))
        self.assertEqual(entry['headers']['Authorization'], f'Bearer {CRM_KEY}')

    def test_echo_content_and_generated_ids(self):
        api_key = self.hooked_customer()
        other = self.sim.add_channel(api_key, transport='tgapi', plain_id='odoo_bot')
        self.sim.deliver_inbound(api_key, '221771234567', text='Sent from the phone', is_echo=True,
                                 author_name='Fatou (agent)')
        self.sim.deliver_inbound(api_key, 'a3f1c2', content_uri='https://store.wazzup24.com/f/photo.JPG',
                                 channel_id=other)
        self.sim.deliver_inbound(api_key, '221771234567', content_uri='https://store.wazzup24.com/f/invoice.pdf')
        echo, photo, document = (body['messages'][0] for body in self.received_json())
        self.assertEqual((echo['isEcho'], echo['status'], echo['authorName'], echo['sentFromApp']),
                         (True, 'sent', 'Fatou (agent)', True))
        self.assertRegex(echo['messageId'], UUID_RE)
        self.assertEqual((photo['chatType'], photo['channelId'], photo['type'], photo['contentUri']),
                         ('telegram', other, 'image', 'https://store.wazzup24.com/f/photo.JPG'))
        self.assertNotIn('text', photo)
        self.assertNotIn('authorName', photo)
        self.assertEqual(document['type'], 'document')
        with self.assertRaises(ValueError):
            self.sim.deliver_inbound(api_key, '221771234567', text='x', author_name='only with isEcho')

    def test_statuses(self):
        api_key = self.hooked_customer()
        channel_id = next(iter(self.sim.account_of(api_key)['channels']))
        sent = self.call('POST', 'message', {'channelId': channel_id, 'chatType': 'whatsapp',
                                             'chatId': '221771234567', 'text': 'Votre facture'}, key=api_key)
        message_id = sent.json()['messageId']
        self.assertEqual(self.sim.deliver_status(api_key, message_id, 'delivered'), (200, 'OK'))
        self.sim.deliver_status(api_key, message_id, 'error', error={'error': 'BAD_CONTACT',
                                                                     'description': 'Not on WhatsApp'})
        self.sim.deliver_status(api_key, 'unknown-id', 'error')
        delivered, failed, unknown = (body['statuses'][0] for body in self.received_json())
        self.assertRegex(delivered.pop('timestamp'), ISO_MS_RE)
        self.assertEqual(delivered, {'messageId': message_id, 'status': 'delivered'})
        self.assertEqual(failed['error'], {'error': 'BAD_CONTACT', 'description': 'Not on WhatsApp'})
        self.assertEqual(unknown['error']['error'], 'UNKNOWN_ERROR')
        self.assertEqual(self.sim.sent_messages(api_key)[0]['status'], 'error')
        with self.assertRaises(ValueError):
            self.sim.deliver_status(api_key, message_id, 'seen')
        with self.assertRaises(ValueError):
            self.sim.deliver_status(api_key, message_id, 'read', error='BAD_CONTACT')

    def test_create_contact_and_deal_store_the_crms_answer(self):
        api_key = self.hooked_customer()
        contact = {'id': 'res.partner-42', 'responsibleUserId': '2', 'name': 'Awa Diop',
                   'contactData': [{'chatType': 'whatsapp', 'chatId': '221771234567'}],
                   'uri': 'https://erp.example.com/odoo/contacts/42'}
        deal = {'id': 7, 'responsibleUserId': '2', 'name': 'INV/2025/0007', 'uri': 'https://erp.example.com/d/7',
                'contacts': ['res.partner-42'], 'closed': False}
        self.receiver.answers.extend([(200, json.dumps(contact).encode()), (200, json.dumps(deal).encode())])
        self.assertEqual(self.sim.deliver_create_contact(api_key, '221771234567', name='Awa Diop'), (200, contact))
        self.assertEqual(self.sim.deliver_create_deal(api_key, ['res.partner-42']), (200, deal))
        self.assertEqual(self.received_json(), [
            {'createContact': {'responsibleUserId': '1', 'name': 'Awa Diop', 'source': 'auto',
                               'contactData': [{'chatType': 'whatsapp', 'chatId': '221771234567'}]}},
            {'createDeal': {'responsibleUserId': '1', 'contacts': ['res.partner-42'], 'source': 'byUser'}}])
        account = self.sim.account_of(api_key)
        self.assertEqual((account['contacts'], account['deals']), ({'res.partner-42': contact}, {'7': deal}))
        self.assertEqual([e['entity_valid'] for e in self.sim.webhook_log], [True, True])

    def test_create_answers_that_are_not_an_entity_are_not_stored(self):
        api_key = self.hooked_customer()
        self.receiver.answers.extend([(200, b'{"id": "1"}'), (500, b'{"id": "2", "name": "x"}'), (200, b'OK')])
        self.assertEqual(self.sim.deliver_create_contact(api_key, '221771234567'), (200, {'id': '1'}))
        self.assertEqual(self.sim.deliver_create_contact(api_key, '221771234567')[0], 500)
        self.assertEqual(self.sim.deliver_create_deal(api_key, ['1']), (200, None))
        self.assertEqual(self.sim.account_of(api_key)['contacts'], {})
        self.assertEqual([e['entity_valid'] for e in self.sim.webhook_log], [False, False, False])

    def test_channel_state_and_template_status(self):
        api_key = self.hooked_customer()
        channel_id = next(iter(self.sim.account_of(api_key)['channels']))
        self.assertEqual(self.sim.set_channel_state(api_key, channel_id, 'phoneUnavailable'), (200, 'OK'))
        self.assertIsNone(self.sim.set_channel_state(api_key, channel_id, 'active', notify=False))
        self.sim.deliver_template_status(api_key, 'tpl-1', 'invoice_ready', 'approved')
        update, template = self.received_json()
        (item,) = update['channelsUpdates']
        self.assertEqual((item['channelId'], item['state']), (channel_id, 'phoneUnavailable'))
        self.assertIsInstance(item['timestamp'], int)
        self.assertAlmostEqual(item['timestamp'], time.time() * 1000, delta=5000)
        self.assertEqual(template, {'templateStatus': {'templateGuid': 'tpl-1', 'name': 'invoice_ready',
                                                       'status': 'approved'}})
        self.assertEqual(self.call('GET', 'channels', key=api_key).json()[0]['state'], 'active')
        with self.assertRaises(ValueError):
            self.sim.set_channel_state(api_key, channel_id, 'broken')

    def test_raw_bodies_and_header_overrides(self):
        api_key = self.hooked_customer(messagesAndStatuses=False)
        self.receiver.answers.append((401, b'{"error": "bad key"}'))
        self.assertEqual(self.sim.deliver_raw(api_key, 'not json', headers={'Authorization': 'Bearer wrong'}),
                         (401, '{"error": "bad key"}'))
        self.sim.deliver_raw(api_key, {'messages': [], 'statuses': []}, headers={'Authorization': None,
                                                                                'X-Trace': 'a1'})
        garbage, both = self.receiver.received
        self.assertEqual((garbage['raw'], garbage['headers']['Authorization']), (b'not json', 'Bearer wrong'))
        self.assertEqual(json.loads(both['raw']), {'messages': [], 'statuses': []})
        self.assertNotIn('Authorization', both['headers'])
        self.assertEqual(both['headers']['X-Trace'], 'a1')
        self.assertEqual([e['status'] for e in self.sim.webhook_log], [401, 200])

    def test_no_delivery_without_uri_or_subscription(self):
        api_key = self.connect_customer()
        with self.assertRaises(RuntimeError):
            self.sim.deliver_inbound(api_key, '221771234567', text='x')
        with self.assertRaises(RuntimeError):
            self.sim.deliver_raw(api_key, {'test': True})
        api_key = self.hooked_customer(messagesAndStatuses=False, contactsAndDealsCreation=False)
        for deliver in (lambda: self.sim.deliver_inbound(api_key, '221771234567', text='x'),
                        lambda: self.sim.deliver_status(api_key, 'm', 'read'),
                        lambda: self.sim.deliver_create_contact(api_key, '221771234567')):
            with self.assertRaises(RuntimeError):
                deliver()
        self.assertEqual(self.receiver.received, [])
        with self.assertRaises(KeyError):
            self.sim.deliver_inbound('not-a-key', '221771234567', text='x')

    def test_automatic_statuses_follow_an_accepted_message(self):
        api_key = self.hooked_customer()
        self.sim.status_progress = (0.05, 0.25, 0.45)
        channel_id = next(iter(self.sim.account_of(api_key)['channels']))
        message_id = self.call('POST', 'message', {'channelId': channel_id, 'chatType': 'whatsapp',
                                                   'chatId': '221771234567', 'text': 'x'},
                               key=api_key).json()['messageId']
        deadline = time.monotonic() + 5
        while len(self.receiver.received) < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        self.assertEqual([(b['statuses'][0]['messageId'], b['statuses'][0]['status']) for b in self.received_json()],
                         [(message_id, 'sent'), (message_id, 'delivered'), (message_id, 'read')])
        self.assertEqual(self.sim.sent_messages(api_key)[0]['status'], 'read')

    def test_reset_cancels_automatic_statuses(self):
        api_key = self.hooked_customer()
        self.sim.status_progress = (0.3,)
        channel_id = next(iter(self.sim.account_of(api_key)['channels']))
        self.call('POST', 'message', {'channelId': channel_id, 'chatType': 'whatsapp', 'chatId': '221771234567',
                                      'text': 'x'}, key=api_key)
        self.sim.reset()
        time.sleep(0.5)
        self.assertEqual(self.receiver.received, [])
        self.assertIsNone(self.sim.status_progress)


class TestWazzupData(WazzupSimulatorCase):
    def test_channels_of_the_key_only(self):
        other = self.sim.add_account()
        self.sim.add_channel(other, transport='instagram', plain_id='odoo.shop', state='qr')
        self.assertEqual(self.call('GET', 'channels').json(), [
            {'channelId': DEMO_CHANNEL_ID, 'transport': 'whatsapp', 'plainId': '221770000000', 'state': 'active'}])
        self.assertEqual([c['transport'] for c in self.call('GET', 'channels', key=other).json()], ['instagram'])
        with self.assertRaises(ValueError):
            self.sim.add_channel(other, transport='sms')
        with self.assertRaises(ValueError):
            self.sim.add_channel(other, state='on')

    def test_users_contacts_deals_upsert_by_id(self):
        users = [{'id': '2', 'name': 'Fatou', 'phone': '221771112233'}, {'id': '3', 'name': 'Moussa', 'phone': '+1'}]
        contacts = [{'id': 'p-42', 'responsibleUserId': '2', 'name': 'Awa Diop',
                     'contactData': [{'chatType': 'whatsapp', 'chatId': '221771234567'},
                                     {'chatType': 'telegram', 'username': 'awadiop'}]}]
        deals = [{'id': 7, 'responsibleUserId': '2', 'name': 'INV/7', 'uri': 'https://erp.example.com/d/7',
                  'contacts': ['p-42'], 'closed': False}]
        for route, body in (('users', users), ('contacts', contacts), ('deals', deals)):
            with self.subTest(route):
                response = self.call('POST', route, body)
                self.assertEqual((response.status_code, response.content), (200, b''))
        account = self.sim.account_of(DEMO_API_KEY)
        self.assertEqual(account['users'], {'2': users[0], '3': {'id': '3', 'name': 'Moussa'}},
                         'an invalid phone is dropped, not refused')
        self.assertEqual(account['contacts'], {'p-42': contacts[0]})
        self.assertEqual(account['deals'], {'7': deals[0]})
        self.call('POST', 'users', [{'id': '2', 'name': 'Fatou Sow'}])
        self.call('POST', 'deals', [dict(deals[0], closed=True)])
        self.assertEqual((account['users']['2'], account['deals']['7']['closed'], len(account['users'])),
                         ({'id': '2', 'name': 'Fatou Sow'}, True, 2))

    def test_at_most_one_hundred_items(self):
        items = {
            'users': lambda n: {'id': str(n), 'name': f'User {n}'},
            'contacts': lambda n: {'id': str(n), 'responsibleUserId': '1', 'name': f'C {n}',
                                   'contactData': [{'chatType': 'whatsapp', 'chatId': f'2217700{n:05d}'}]},
            'deals': lambda n: {'id': str(n), 'responsibleUserId': '1', 'name': f'D {n}', 'uri': f'https://e.x/{n}',
                                'contacts': [], 'closed': False},
        }
        for route, make in items.items():
            with self.subTest(route):
                self.assertError(self.call('POST', route, [make(n) for n in range(101)]), 400, 'TOO_MANY_ENTITIES')
                self.assertEqual(self.sim.account_of(DEMO_API_KEY)[route], {})
                self.assertEqual(self.call('POST', route, [make(n) for n in range(100)]).status_code, 200)
                self.assertEqual(len(self.sim.account_of(DEMO_API_KEY)[route]), 100)

    def test_required_fields_and_limits(self):
        contact = {'id': 'p', 'responsibleUserId': '1', 'name': 'A',
                   'contactData': [{'chatType': 'whatsapp', 'chatId': '221771234567'}]}
        deal = {'id': 'd', 'responsibleUserId': '1', 'name': 'D', 'uri': 'https://e.x/d', 'contacts': ['p'],
                'closed': False}
        cases = [
            ('users', [{'name': 'No id'}], ['[0].id']),
            ('users', [{'id': '1', 'name': 'ok'}, {'id': '2'}], ['[1].name']),
            ('users', [{'id': 'x' * 201, 'name': 'n' * 201}], ['[0].id', '[0].name']),
            ('users', [{'id': 5, 'name': 'int id'}], ['[0].id']),
            ('users', ['not an object'], ['[0]']),
            ('contacts', [{k: v for k, v in contact.items() if k != 'responsibleUserId'}], ['[0].responsibleUserId']),
            ('contacts', [dict(contact, contactData=[])], ['[0].contactData']),
            ('contacts', [dict(contact, contactData=[{'chatType': 'sms', 'chatId': '1'}, {'chatType': 'whatsapp'}])],
             ['[0].contactData[0].chatType', '[0].contactData[1].chatId']),
            ('contacts', [dict(contact, uri='https://e.x/' + 'u' * 190, id='i' * 101)], ['[0].id', '[0].uri']),
            ('deals', [{k: v for k, v in deal.items() if k != 'uri'}], ['[0].uri']),
            ('deals', [dict(deal, closed='false', contacts='p')], ['[0].contacts', '[0].closed']),
            ('deals', [dict(deal, id=True)], ['[0].id']),
        ]
        for route, body, fields in cases:
            with self.subTest(route=route, fields=fields):
                self.assertFields(self.call('POST', route, body), 'VALIDATION_ERROR', fields)
        for route in ('users', 'contacts', 'deals'):
            with self.subTest(route=route, body='an object'):
                self.assertFields(self.call('POST', route, {'id': '1'}), 'VALIDATION_ERROR', [])
            self.assertEqual(self.sim.account_of(DEMO_API_KEY)[route], {}, 'a refused request stores nothing')


class TestWazzupMessage(WazzupSimulatorCase):
    def send(self, key=DEMO_API_KEY, **changes):
        body = {'channelId': DEMO_CHANNEL_ID, 'chatType': 'whatsapp', 'chatId': '221771234567',
                'text': 'Votre facture INV/2025/0007 est prête.', 'crmMessageId': 'notify-1'}
        body.update(changes)
        return self.call('POST', 'message', {k: v for k, v in body.items() if v is not None}, key=key)

    def test_accepted_message(self):
        response = self.send(crmUserId='2')
        self.assertEqual(response.status_code, 201, response.text)
        answer = response.json()
        self.assertEqual(set(answer), {'messageId', 'chatId'})
        self.assertRegex(answer['messageId'], UUID_RE)
        self.assertEqual(answer['chatId'], '221771234567')
        (message,) = self.sim.sent_messages(DEMO_API_KEY)
        self.assertEqual({k: message[k] for k in ('messageId', 'channelId', 'chatType', 'chatId', 'text',
                                                  'contentUri', 'crmMessageId', 'crmUserId', 'status')},
                         {'messageId': answer['messageId'], 'channelId': DEMO_CHANNEL_ID, 'chatType': 'whatsapp',
                          'chatId': '221771234567', 'text': 'Votre facture INV/2025/0007 est prête.',
                          'contentUri': None, 'crmMessageId': 'notify-1', 'crmUserId': '2', 'status': 'sent'})
        self.assertIs(self.sim.account_of(DEMO_API_KEY)['sent_by_crm_message_id']['notify-1'], message)
        picture = self.send(text=None, contentUri='https://erp.example.com/web/image/42', crmMessageId=None)
        self.assertEqual(picture.status_code, 201)
        self.assertEqual(len(self.sim.sent_messages(DEMO_API_KEY)), 2, 'no crmMessageId: no deduplication key')

    def test_a_crm_message_id_is_used_once_per_customer(self):
        self.assertEqual(self.send().status_code, 201)
        self.assertError(self.send(), 400, 'repeatedCrmMessageId', REPEATED_CRM_MESSAGE_ID)
        self.assertError(self.send(text='another text'), 400, 'repeatedCrmMessageId')
        self.assertEqual(len(self.sim.sent_messages(DEMO_API_KEY)), 1, 'sent once')
        self.assertEqual(self.send(crmMessageId='notify-2').status_code, 201)
        other = self.sim.add_account()
        channel_id = self.sim.add_channel(other)
        self.assertEqual(self.send(key=other, channelId=channel_id).status_code, 201, "another customer's key")
        self.assertError(self.send(crmMessageId='notify-3', chatId='+221771234567'), 400, 'BAD_CONTACT')
        self.assertEqual(self.send(crmMessageId='notify-3').status_code, 201, 'a refused message used nothing')

    def test_channel_refusals(self):
        other = self.sim.add_account()
        foreign = self.sim.add_channel(other)
        self.assertError(self.send(channelId='3f6c9a2e-0000-4c8e-9f05-7d2a41b6e803'), 400, 'CHANNEL_NOT_FOUND')
        self.assertError(self.send(channelId=foreign), 400, 'CHANNEL_NOT_FOUND')
        for state in ('disabled', 'qr', 'phoneUnavailable', 'notEnoughMoney', 'init'):
            with self.subTest(state=state):
                self.sim.set_channel_state(DEMO_API_KEY, DEMO_CHANNEL_ID, state)
                self.assertError(self.send(), 400, 'MESSAGE_CHANNEL_UNAVAILABLE')
        self.sim.set_channel_state(DEMO_API_KEY, DEMO_CHANNEL_ID, 'active')
        self.assertError(self.send(chatType='telegram'), 400, 'WRONG_TRANSPORT')
        self.assertEqual(self.sim.sent_messages(DEMO_API_KEY), [])
        self.assertEqual(self.send().status_code, 201)

    def test_text_or_content_and_text_limits(self):
        self.assertError(self.send(contentUri='https://erp.example.com/f.pdf'), 400, 'MESSAGE_ONLY_TEXT_OR_CONTENT')
        self.assertError(self.send(text=None), 400, 'MESSAGE_ONLY_TEXT_OR_CONTENT')
        self.assertError(self.send(text=''), 400, 'MESSAGE_ONLY_TEXT_OR_CONTENT')
        self.assertError(self.send(text=None, contentUri='file:///etc/passwd'), 400, 'MESSAGE_DOWNLOAD_CONTENT_ERROR')
        telegram = self.sim.add_channel(DEMO_API_KEY, transport='tgapi', plain_id='odoo_bot')
        waba = self.sim.add_channel(DEMO_API_KEY, transport='wapi', plain_id='221770000001')
        instagram = self.sim.add_channel(DEMO_API_KEY, transport='instagram', plain_id='odoo.shop')
        cases = [(DEMO_CHANNEL_ID, 'whatsapp', '221771234567', 10000), (waba, 'whatsapp', '221771234567', 4096),
                 (telegram, 'telegram', 'f3a1-guid', 4096), (instagram, 'instagram', 'awa.diop', 1000)]
        for number, (channel_id, chat_type, chat_id, limit) in enumerate(cases):
            with self.subTest(chat_type=chat_type, limit=limit):
                common = {'channelId': channel_id, 'chatType': chat_type, 'chatId': chat_id}
                answer = self.assertError(self.send(text='é' * (limit + 1), crmMessageId=f'L{number}', **common),
                                          400, 'MESSAGE_TEXT_TOO_LONG')
                self.assertEqual(answer['data'], {'maxLength': limit})
                self.assertEqual(self.send(text='é' * limit, crmMessageId=f'L{number}', **common).status_code, 201)
        self.assertEqual(len(self.sim.sent_messages(DEMO_API_KEY)), 4)

    def test_whatsapp_chat_id(self):
        for number, (chat_id, accepted) in enumerate([
                ('221771234567', True), ('7901111223', True), ('123456789012345', True),
                ('+221771234567', False), ('771234567', False), ('1234567890123456', False),
                ('22177 123 4567', False), ('22177123456a', False), ('٢٢١٧٧١٢٣٤٥٦٧', False)]):
            with self.subTest(chat_id=chat_id):
                response = self.send(chatId=chat_id, crmMessageId=f'C{number}')
                if accepted:
                    self.assertEqual((response.status_code, response.json()['chatId']), (201, chat_id))
                else:
                    self.assertError(response, 400, 'BAD_CONTACT')

    def test_missing_or_ill_typed_fields(self):
        cases = [({'channelId': None}, ['channelId']), ({'chatType': None}, ['chatType']),
                 ({'chatId': None}, ['chatId']), ({'chatType': 'sms'}, ['chatType']),
                 ({'text': 42}, ['text']), ({'crmMessageId': 7, 'crmUserId': 2}, ['crmMessageId', 'crmUserId'])]
        for changes, fields in cases:
            with self.subTest(fields=fields):
                self.assertFields(self.send(**changes), 'INVALID_MESSAGE_DATA', fields)
        self.assertError(self.call('POST', 'message', [{'chatId': '1'}]), 400, 'VALIDATION_ERROR')
        self.assertError(self.call('POST', 'message', raw=b'{"text": "x"'), 400, 'VALIDATION_ERROR')
        self.assertEqual(self.sim.sent_messages(DEMO_API_KEY), [])


class TestWazzupAuthAndLimits(WazzupSimulatorCase):
    CUSTOMER_ROUTES = [('GET', 'channels', None), ('GET', 'webhooks', None),
                       ('PATCH', 'webhooks', {'webhooksUri': 'https://e.x/h'}), ('POST', 'users', []),
                       ('POST', 'contacts', []), ('POST', 'deals', []), ('POST', 'message', {})]

    def test_401_without_or_with_a_wrong_key(self):
        for label, key, headers in [('no header', None, {}), ('unknown key', 'f' * 32, {}),
                                    ('the developer key', DEMO_DEVELOPER_KEY, {}),
                                    ('Basic scheme', None, {'Authorization': f'Basic {DEMO_API_KEY}'}),
                                    ('empty Bearer', None, {'Authorization': 'Bearer '})]:
            for method, route, body in self.CUSTOMER_ROUTES:
                with self.subTest(label, method=method, route=route):
                    self.assertError(self.call(method, route, body, key=key, headers=headers), 401, 'unauthorized')
        self.assertEqual(self.sim.webhook_log, [], 'nothing test-POSTed for a refused key')
        self.assertEqual(self.call('GET', 'channels', headers={'Authorization': f'bearer {DEMO_API_KEY}'})
                         .status_code, 200, 'the scheme is case-insensitive')

    def test_429_beyond_the_limit_per_key_until_the_window_ends(self):
        self.sim.rate_limit = (5, 5.0)
        other = self.sim.add_account()
        for _request in range(5):
            self.assertEqual(self.call('GET', 'channels').status_code, 200)
        self.assertError(self.call('GET', 'channels'), 429, 'TOO_MANY_REQUESTS')
        self.assertError(self.call('POST', 'message', {}), 429, 'TOO_MANY_REQUESTS')
        self.assertEqual(self.call('GET', 'channels', key=other).status_code, 200, 'counted per key')
        self.assertError(self.call('GET', 'channels', key='unknown'), 401, 'unauthorized')
        self.sim.advance_clock(5)
        self.assertEqual(self.call('GET', 'channels').status_code, 200, 'the counter resets every 5 s')

    def test_the_documents_limit_500_requests_in_5_seconds(self):
        frozen = self.sim.now()
        # one connection per request: a kept-alive one waits on delayed ACKs (about 40 ms a request on loopback)
        with mock.patch.object(self.sim, 'now', return_value=frozen):
            statuses = [self.call('GET', 'channels').status_code for _request in range(501)]
        self.assertEqual(statuses.count(200), 500)
        self.assertEqual(statuses[-1], 429)

    def test_unknown_route_wrong_method_and_faults(self):
        self.assertError(self.call('GET', 'iframe'), 404, 'NOT_FOUND')
        response = self.call('DELETE', 'channels')
        self.assertEqual((response.status_code, response.headers['Allow']), (405, 'GET'))
        self.sim.fail_next('500')
        self.assertEqual(self.call('GET', 'channels').status_code, 500)
        self.sim.fail_next('429', retry_after=3)
        response = self.call('GET', 'channels')
        self.assertEqual((response.status_code, response.headers['Retry-After']), (429, '3'))
        self.assertEqual(self.call('GET', 'channels').status_code, 200)

    def test_reset_returns_to_the_baseline(self):
        api_key = self.connect_customer()
        self.call('POST', 'users', [{'id': '1', 'name': 'x'}])
        self.sim.set_channel_state(DEMO_API_KEY, DEMO_CHANNEL_ID, 'disabled')
        self.sim.add_developer('dev-2')
        self.sim.publish(DEMO_CRM_CODE)
        self.sim.rate_limit = (1, 5.0)
        self.sim.install_channels = []
        self.sim.advance_clock(60)
        self.sim.reset()
        self.assertNotIn(api_key, self.sim.accounts)
        self.assertEqual(self.sim.states, {})
        self.assertEqual(set(self.sim.accounts), {DEMO_API_KEY})
        self.assertEqual(self.sim.developers, {DEMO_DEVELOPER_KEY})
        self.assertIs(self.sim.registration(DEMO_CRM_CODE)['published'], False)
        demo = self.sim.account_of(DEMO_API_KEY)
        self.assertEqual((demo['users'], demo['channels'][DEMO_CHANNEL_ID]['state']), ({}, 'active'))
        self.assertEqual((self.sim.rate_limit, self.sim.clock_offset, len(self.sim.install_channels)),
                         ((500, 5.0), 0.0, 1))

    def test_save_baseline_moves_what_reset_returns_to(self):
        sim = seed_demo(WazzupSimulator())
        api_key = sim.add_account(crm_key='k')
        sim.configure_webhooks(api_key, 'https://erp.example.com/hook', messagesAndStatuses=True)
        sim.save_baseline()
        sim.add_developer('dev-3')
        sim.account_of(api_key)['webhooks']['webhooksUri'] = None
        sim.reset()
        self.assertNotIn('dev-3', sim.developers)
        subscriptions = {**dict.fromkeys(ALL_SUBSCRIPTIONS, False), 'messagesAndStatuses': True}
        self.assertEqual(sim.account_of(api_key)['webhooks'],
                         {'webhooksUri': 'https://erp.example.com/hook', 'subscriptions': subscriptions})
        self.assertIn(DEMO_API_KEY, sim.accounts)
        with self.assertRaises(ValueError):
            sim.configure_webhooks(api_key, 'https://erp.example.com/hook', templateStatuses=True)

    def test_demo_seed(self):
        self.assertEqual(self.sim.registration(DEMO_CRM_CODE)['secret'], DEMO_SECRET)
        self.assertEqual(self.sim.registration(DEMO_CRM_CODE)['developer_key'], DEMO_DEVELOPER_KEY)
        self.assertTrue(re.fullmatch(r'[0-9a-f]{32}', DEMO_API_KEY))
        self.assertEqual(self.call('GET', 'channels').json()[0]['state'], 'active')
