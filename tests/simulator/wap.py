"""WAP (p.wap.cm) simulator, strict to the provider's integration guide.

Where the guide is silent we chose, and say so: 401 for authentication failures (the guide lists no 401),
a 300 s timestamp tolerance, snake_case reasons in `message` like its `message_queued_successfully`.
"""

import base64
import binascii
import hashlib
import hmac
import json
import random
import re
import time
from collections import deque
from datetime import datetime, timezone

import phonenumbers
from phonenumbers import geocoder

from .server import ProviderSimulator, json_response

DEMO_API_KEY = 'demo-wap-key'
DEMO_SECRET_B64 = base64.b64encode(b'demo-wap-secret-0123456789abcdef').decode()
DEMO_OTP_AUTOMATION = '1758796201'
DEMO_INVOICE_AUTOMATION = '1758796210'

TIMESTAMP_TOLERANCE = 300  # guide silent on clock skew: we reject timestamps more than 5 minutes away
REQUIRED_FIELDS = ('reference', 'country', 'recipient', 'scheduled')
SCHEDULED_RE = re.compile(r'^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$')
PROGRESSION = ('scheduled', 'sent', 'delivered', 'read')


def iso_ms(when):
    return when.astimezone(timezone.utc).strftime('%Y-%m-%dT%H:%M:%S.') + f'{when.microsecond // 1000:03d}Z'


def seed_demo(sim):
    """Demo account and automations used by `python -m simulator` and by the tests."""
    sim.add_account(DEMO_API_KEY, DEMO_SECRET_B64)
    sim.add_automation(DEMO_OTP_AUTOMATION, variables=['code_otp'])
    sim.add_automation(DEMO_INVOICE_AUTOMATION, variables=['customer_name', 'invoice_number', 'amount_due'])
    return sim


class WapSimulator(ProviderSimulator):
    name = 'wap'

    def __init__(self, rate_limit_per_minute=100, progress_seconds=(1, 2, 3), cost=10, currency='XAF'):
        super().__init__()
        self.rate_limit_per_minute = rate_limit_per_minute
        # seconds after the scheduled time at which a message becomes sent, delivered, read; None = frozen
        self.progress_seconds = progress_seconds
        self.cost = cost
        self.currency = currency
        self.accounts = {}
        self.automations = {}
        self.messages = {}
        self._hits = {}

    # --- configuration and assertions -------------------------------------------------------------------------

    def add_account(self, api_key, secret_b64):
        self.accounts[api_key] = secret_b64

    def add_automation(self, reference, variables=(), active=True):
        self.automations[str(reference)] = {'variables': list(variables), 'active': active}

    def reset(self):
        """Forget requests, faults, messages and rate counters; accounts and automations stay."""
        with self.lock:
            result = super().reset()
            self.messages.clear()
            self._hits.clear()
        return result

    def sent_count(self):
        return len(self.messages)

    def advance(self, reference, status):
        """Force a message to `status` (one of PROGRESSION or 'failed'); it never moves backwards."""
        with self.lock:
            message = self.messages[reference]
            message['forced'] = status
            message['forced_at'] = datetime.now(timezone.utc)

    def advance_all(self, status):
        for reference in list(self.messages):
            self.advance(reference, status)

    def fail_delivery(self, reference):
        """The message will end 'failed' instead of 'delivered'."""
        self.messages[reference]['fail_delivery'] = True

    def current_status(self, message, now=None):
        """Status computed lazily from the clock, the forced status and the failure flag: (status, last_update)."""
        now = now or datetime.now(timezone.utc)
        rank, last_update = 0, message['accepted_at']
        if self.progress_seconds:
            start = max(message['scheduled_dt'], message['accepted_at'])
            for index, delay in enumerate(self.progress_seconds, start=1):
                when = start.timestamp() + delay
                if now.timestamp() >= when:
                    rank, last_update = index, datetime.fromtimestamp(when, timezone.utc)
        forced = message.get('forced')
        if forced == 'failed':
            return 'failed', message['forced_at']
        if forced and PROGRESSION.index(forced) >= rank:
            rank, last_update = PROGRESSION.index(forced), message['forced_at']
        if message.get('fail_delivery') and rank >= PROGRESSION.index('delivered'):
            return 'failed', last_update
        return PROGRESSION[rank], last_update

    # --- HTTP -------------------------------------------------------------------------------------------------

    def error_body(self, status, reason):
        return json_response(status, {'success': False, 'status': status, 'message': reason})

    def handle(self, method, path, query, headers, body):
        parts = [part for part in path.split('/') if part]
        if not parts or parts[0] != 'automation' or len(parts) > 2:
            # outside the API the web server answers, not the application: no WAP envelope
            return ProviderSimulator.error_body(self, 404, 'route_not_found')
        if method != ('POST' if len(parts) == 1 else 'GET'):
            return self.error_body(405, 'method_not_allowed')
        with self.lock:
            api_key, error = self._authenticate(headers)
            if error:
                return error
            error = self._rate_limit(api_key)
            if error:
                return error
            if method == 'GET':
                return self._get_status(api_key, parts[1])
            return self._send(api_key, query, body)

    def _authenticate(self, headers):
        # The guide lists no 401; we answer 401 to every authentication failure.
        api_key = headers.get('X-API-Key')
        if not api_key:
            return None, self.error_body(401, 'missing_api_key')
        if api_key not in self.accounts:
            return None, self.error_body(401, 'invalid_api_key')
        timestamp = headers.get('X-API-Timestamp')
        if not timestamp:
            return None, self.error_body(401, 'missing_timestamp')
        if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > TIMESTAMP_TOLERANCE:
            return None, self.error_body(401, 'invalid_timestamp')
        try:
            key = base64.b64decode(self.accounts[api_key])
        except (binascii.Error, ValueError):
            return None, self.error_body(500, 'account_secret_corrupted')
        expected = base64.b64encode(hmac.new(key, (api_key + timestamp).encode(), hashlib.sha256).digest())
        if not hmac.compare_digest(expected, (headers.get('X-API-Signature') or '').encode()):
            return None, self.error_body(401, 'invalid_signature')
        return api_key, None

    def _rate_limit(self, api_key):
        """Sliding 60 s window per API key over authenticated requests (requests refused with 429 not counted)."""
        hits = self._hits.setdefault(api_key, deque())
        now = time.time()
        while hits and hits[0] <= now - 60:
            hits.popleft()
        if len(hits) >= self.rate_limit_per_minute:
            retry_after = max(1, int(hits[0] + 60 - now + 0.999))
            status, headers, body = self.error_body(429, 'rate_limit_exceeded')
            return status, {**headers, 'Retry-After': str(retry_after)}, body
        hits.append(now)
        return None

    def _send(self, api_key, query, body):
        try:
            payload = json.loads(body or b'')
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            return self.error_body(400, 'invalid_json')
        for name in REQUIRED_FIELDS:
            if payload.get(name) in (None, ''):
                return self.error_body(400, f'missing_field_{name}')
        reference = payload['reference']
        if isinstance(reference, bool) or not isinstance(reference, (str, int)):  # the guide's examples send an int
            return self.error_body(400, 'invalid_reference')
        country = payload['country']
        if not isinstance(country, str) or country not in phonenumbers.SUPPORTED_REGIONS:
            return self.error_body(400, 'invalid_country')
        recipient = payload['recipient']
        if not self._valid_recipient(recipient, country):
            return self.error_body(400, 'invalid_recipient')
        scheduled = payload['scheduled']
        scheduled_dt = self._parse_scheduled(scheduled)
        if scheduled_dt is None:
            return self.error_body(400, 'invalid_scheduled')
        variables = payload.get('variables')
        if variables is None:
            variables = {}
        if not isinstance(variables, dict):
            return self.error_body(400, 'invalid_variables')
        automation = self.automations.get(str(reference))
        if not automation or not automation['active']:
            return self.error_body(404, 'automation_not_found')
        for name in automation['variables']:
            value = variables.get(name)
            if value is None or str(value).strip() == '':
                return self.error_body(400, f'missing_variable_{name}')
        now = datetime.now(timezone.utc)
        message = {
            'reference': self._new_reference(now),
            'api_key': api_key,
            'automation': str(reference),
            'country': country,
            'recipient': recipient,
            'calling_code': phonenumbers.country_code_for_region(country),
            'variables': variables,
            'scheduled': scheduled,
            'scheduled_dt': scheduled_dt,
            'accepted_at': now,
            'test': query.get('test') == '1',
        }
        self.messages[message['reference']] = message
        return json_response(200, self._envelope(message, 'message_queued_successfully', now))

    def _get_status(self, api_key, reference):
        message = self.messages.get(reference)
        if not message or message['api_key'] != api_key:
            return self.error_body(404, 'message_not_found')
        # The guide does not show this answer: we reuse the send envelope with the current status.
        return json_response(200, self._envelope(message, 'message_status_retrieved'))

    def _envelope(self, message, text, now=None):
        status, last_update = self.current_status(message, now)
        example = phonenumbers.example_number(message['country'])
        country_name = geocoder.country_name_for_number(example, 'fr') if example else ''
        return {
            'success': True,
            'status': 200,
            'message': text,
            'data': {
                'reference': message['reference'],
                'meta_id': None,
                'recipient': f'{message["calling_code"]}{message["recipient"]}',
                'country': f'{message["country"]} - {country_name or message["country"]}',
                'status': status,
                'cost': self.cost,
                'currency': self.currency,
                'scheduled': message['scheduled'],
                'last_update': iso_ms(now or last_update),
            },
        }

    def _new_reference(self, now):
        while True:
            suffix = random.choice('ABCDEFGHIJKLMNOPQRSTUVWXYZ') + f'{random.randrange(100000):05d}'  # noqa: S311
            reference = f'WAP{now:%y%m%d%H%M%S}.{suffix}'
            if reference not in self.messages:
                return reference

    @staticmethod
    def _parse_scheduled(value):
        if not isinstance(value, str) or not SCHEDULED_RE.match(value):
            return None
        try:
            return datetime.strptime(value, '%Y-%m-%dT%H:%M:%S.%fZ').replace(tzinfo=timezone.utc)
        except ValueError:
            return None

    @staticmethod
    def _valid_recipient(recipient, country):
        """Local format without the country code: exactly the national significant number, valid for `country`."""
        if not isinstance(recipient, str) or not recipient.isdigit() or not recipient.isascii():
            return False
        if recipient.startswith('00'):
            return False
        calling_code = str(phonenumbers.country_code_for_region(country))
        if recipient.startswith(calling_code) and WapSimulator._is_valid('+' + recipient, None, country):
            return False  # international format sent where the local one is expected
        return WapSimulator._is_valid(recipient, country, country, exact=True)

    @staticmethod
    def _is_valid(text, parse_region, country, exact=False):
        try:
            number = phonenumbers.parse(text, parse_region)
        except phonenumbers.NumberParseException:
            return False
        if not phonenumbers.is_valid_number_for_region(number, country):
            return False
        return not exact or phonenumbers.national_significant_number(number) == text
