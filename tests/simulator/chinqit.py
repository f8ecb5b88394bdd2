"""Chinqit (sms.chinqit.com, Mauritania) simulator, strict to the provider's API reference.

Where the document is silent we chose, and say so: an unknown route answers like Express (an HTML "Cannot POST"
404, outside the JSON envelope); the API key is checked before the body (what our connection test relies on);
validation errors answer 400 "Validation failed" with the reasons in `errors`; an OTP is kept per API key, number
and channel, a new one replaces the previous; a wrong code answers 400 with `retriesLeft` (0 on the third: the
OTP is gone), an expired or unknown one 400 "OTP expired or not found"; the OTP rate limit counts the requests
that passed validation (a WhatsApp failure included) and answers 429 with Retry-After.
"""

import json
import re
import secrets
import uuid
from collections import deque

from .server import ProviderSimulator, SimulatedClock, json_response

DEMO_API_KEY = 'demo-chinqit-key'

OTP_TTL = 600
OTP_ATTEMPTS = 3
OTP_RATE_LIMITS = ((60, 3), (3600, 10), (86400, 20))  # per number per API key: (window seconds, requests)
LANGUAGES = ('fr', 'en', 'ar')
CHANNELS = ('sms', 'whatsapp')
OTP_TEXTS = {
    'fr': 'Votre code de vérification est {code}. Il expire dans 10 minutes.',
    'en': 'Your verification code is {code}. It expires in 10 minutes.',
    'ar': 'رمز التحقق الخاص بك هو {code}. تنتهي صلاحيته خلال 10 دقائق.',
}
_NUMBER = re.compile(r'(\+222|222)?([0-9]{8})')


def seed_demo(sim):
    """Demo account used by `python -m simulator` and by the tests."""
    sim.add_account(DEMO_API_KEY)
    return sim


def normalize_phone(value):
    """The document's rules: (+222XXXXXXXX, None), or (None, the reason of the 400)."""
    if not isinstance(value, str) or not value:
        return None, 'phoneNumber is required'
    if re.search(r'[\s-]', value):
        return None, 'Phone number must not contain spaces or dashes'
    if value.startswith('+') and not value.startswith('+222'):
        return None, 'Not a valid Mauritanian phone number'
    match = _NUMBER.fullmatch(value)
    if not match:
        return None, 'Invalid phone number length or format'
    if match.group(2)[0] not in '234':
        return None, 'Phone number must start with 2, 3 or 4'
    return '+222' + match.group(2), None


class ChinqitSimulator(SimulatedClock, ProviderSimulator):
    name = 'chinqit'

    def __init__(self):
        super().__init__()
        self.accounts = set()
        self.messages = {}  # id -> {phone, message, at, kind ('sms' | 'otp'), channel}
        self.otps = {}  # (api_key, phone, channel) -> {code, expires_at, attempts_left}
        self._otp_hits = {}  # (api_key, phone) -> deque of request times
        self.whatsapp_down = False  # the WhatsApp channel answers 502
        self.refuse_with_200 = None  # a reason: the sends answer HTTP 200 {"success": false, "message": reason}

    # --- configuration and assertions -------------------------------------------------------------------------

    def add_account(self, api_key):
        self.accounts.add(api_key)

    def reset(self):
        """Forget requests, faults, messages, OTPs, rate counters, clock and switches; accounts stay."""
        with self.lock:
            result = super().reset()
            self.messages.clear()
            self.otps.clear()
            self._otp_hits.clear()
            self.clock_offset = 0.0
            self.whatsapp_down = False
            self.refuse_with_200 = None
        return result

    def sent_count(self):
        return len(self.messages)

    def last_otp(self, phone, channel='sms'):
        """The code of the live OTP of `phone` (+222XXXXXXXX), None if there is none."""
        with self.lock:
            live = [otp for (_key, number, otp_channel), otp in self.otps.items()
                    if number == phone and otp_channel == channel]
        return live[-1]['code'] if live else None

    def expire(self, phone):
        """The OTPs of `phone` expire now."""
        with self.lock:
            for (_key, number, _channel), otp in self.otps.items():
                if number == phone:
                    otp['expires_at'] = self.now() - 1

    # --- HTTP -------------------------------------------------------------------------------------------------

    def error_body(self, status, reason):
        return json_response(status, {'success': False, 'message': reason, 'errors': []})

    @staticmethod
    def _refusal(status, message, errors=None):
        payload = {'success': False, 'message': message}
        if errors is not None:
            payload['errors'] = errors
        return json_response(status, payload)

    def handle(self, method, path, query, headers, body):
        route = {'/messages/send': self._send, '/otp/send': self._otp_send, '/otp/verify': self._otp_verify}.get(
            path.rstrip('/') or '/')
        if method != 'POST' or route is None:
            page = f'<!DOCTYPE html>\n<html><body><pre>Cannot {method} {path}</pre></body></html>'
            return 404, {'Content-Type': 'text/html; charset=utf-8'}, page.encode()
        with self.lock:
            api_key = headers.get('X-API-Key')
            if not api_key:
                return self._refusal(401, 'API key is required')
            if api_key not in self.accounts:
                return self._refusal(403, 'Invalid API key')
            payload = {}
            if 'application/json' in (headers.get('Content-Type') or '') and body:
                try:
                    payload = json.loads(body)
                except ValueError:
                    return self._refusal(400, 'Invalid JSON body', [])
            return route(api_key, payload if isinstance(payload, dict) else {})

    def _validated(self, payload, errors):
        phone, reason = normalize_phone(payload.get('phoneNumber'))
        if reason:
            errors.append(reason)
        return phone

    def _send(self, api_key, payload):
        errors = []
        message = payload.get('message')
        if not isinstance(message, str) or not message:
            errors.append('message is required')
        phone = self._validated(payload, errors)
        if errors:
            return self._refusal(400, 'Validation failed', errors)
        if self.refuse_with_200:
            return self._refusal(200, self.refuse_with_200)
        message_id = self._store(phone, message, 'sms', 'sms')
        return json_response(200, {'success': True, 'messageId': message_id, 'queued': True})

    def _otp_send(self, api_key, payload):
        errors = []
        phone = self._validated(payload, errors)
        channel = payload.get('channel') or 'sms'
        language = payload.get('language') or 'fr'
        app_hash = payload.get('hash')
        if channel not in CHANNELS:
            errors.append('channel must be one of: sms, whatsapp')
        if language not in LANGUAGES:
            errors.append('language must be one of: fr, en, ar')
        if app_hash is not None and not (isinstance(app_hash, str) and len(app_hash) == 11):
            errors.append('hash must be 11 characters')
        if app_hash is not None and channel != 'sms':
            errors.append('hash is only for the sms channel')
        if errors:
            return self._refusal(400, 'Validation failed', errors)
        limited = self._rate_limit(api_key, phone)
        if limited:
            return limited
        if self.refuse_with_200:
            return self._refusal(200, self.refuse_with_200)
        if channel == 'whatsapp' and self.whatsapp_down:
            return self._refusal(502, 'WhatsApp provider error', [])
        code = f'{secrets.randbelow(1_000_000):06d}'
        text = OTP_TEXTS[language].format(code=code) + (f'\n{app_hash}' if app_hash else '')
        self.otps.pop((api_key, phone, channel), None)  # the new code replaces the previous one, at the end
        self.otps[(api_key, phone, channel)] = {'code': code, 'expires_at': self.now() + OTP_TTL,
                                                'attempts_left': OTP_ATTEMPTS}
        message_id = self._store(phone, text, 'otp', channel)
        return json_response(200, {'success': True, 'messageId': message_id, 'expiresIn': OTP_TTL})

    def _otp_verify(self, api_key, payload):
        errors = []
        phone = self._validated(payload, errors)
        code = payload.get('otp')
        channel = payload.get('channel') or 'sms'
        if not (isinstance(code, str) and re.fullmatch(r'[0-9]{6}', code)):
            errors.append('otp must be a 6-digit code')
        if channel not in CHANNELS:
            errors.append('channel must be one of: sms, whatsapp')
        if errors:
            return self._refusal(400, 'Validation failed', errors)
        key = (api_key, phone, channel)
        otp = self.otps.get(key)
        if otp is None or otp['expires_at'] <= self.now():
            self.otps.pop(key, None)
            return self._refusal(400, 'OTP expired or not found')
        if secrets.compare_digest(code, otp['code']):
            del self.otps[key]
            return json_response(200, {'success': True, 'message': 'OTP verified successfully', 'verified': True})
        otp['attempts_left'] -= 1
        if otp['attempts_left'] <= 0:
            del self.otps[key]
        return json_response(400, {'success': False, 'message': 'Invalid OTP', 'retriesLeft': otp['attempts_left']})

    def _rate_limit(self, api_key, phone):
        """OTP sends per number per API key: 3 a minute, 10 an hour, 20 a day (refused requests not counted)."""
        now = self.now()
        hits = self._otp_hits.setdefault((api_key, phone), deque())
        while hits and hits[0] <= now - OTP_RATE_LIMITS[-1][0]:
            hits.popleft()
        waits = []
        for window, limit in OTP_RATE_LIMITS:
            recent = [at for at in hits if at > now - window]
            if len(recent) >= limit:
                waits.append(recent[-limit] + window - now)
        if waits:
            status, headers, body = self._refusal(429, 'Too many OTP requests, please try again later', [])
            return status, {**headers, 'Retry-After': str(max(1, int(max(waits) + 0.999)))}, body
        hits.append(now)
        return None

    def _store(self, phone, text, kind, channel):
        message_id = str(uuid.uuid4())
        self.messages[message_id] = {'phone': phone, 'message': text, 'at': self.now(), 'kind': kind,
                                     'channel': channel}
        return message_id
