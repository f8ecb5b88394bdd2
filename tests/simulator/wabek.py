"""Wabek WhatsApp OTP simulator, strict to the provider's page (shared/provider-docs/wabek-whatsapp-otp.md).

What the document says, enforced: X-API-Key header, JSON bodies, `POST /api/v1/otp` {"phone", "purpose"} ->
{"success": true, "otpId"}, `POST /api/v1/otp-verify` {"otp_id", "otp"} -> {"valid": true} or
{"valid": false, "reason"}; 6-digit codes, 10 minutes (`expiry_minutes`, Wabek's OTP_EXPIRY_MINUTES), one-time
use, stored SHA-256 hashed (an OTP record keeps only the hash), delivered through the WhatsApp instance.

Where the document is silent we chose, and say so: a missing key answers 401, an unknown one 403, a request that
is not JSON or lacks a field 400, all as {"success": false, "error": ...}; `phone` must be E.164 with '+'
(`^\\+[1-9]\\d{7,14}$`); `purpose` is required, a non-empty text of at most 64 characters; the verdicts answer
HTTP 200 with the reasons "OTP not found" (unknown otp_id, or another key's), "OTP already used", "OTP expired"
and "Invalid OTP"; a wrong code does not use the OTP up (no attempt limit is documented); 60 requests a minute
per API key, then 429 with Retry-After (the seconds until the oldest request leaves the minute); an unknown
path answers Netlify's HTML "Page not found" 404, another method on a known path 405 in JSON.
Switches for what a Wabek site can do: `whatsapp_disconnected` (503, nothing sent) and
`function_timeouts_after_delivery` (the code is delivered, then Netlify's 502 for a function that timed out).
"""

import hashlib
import json
import re
import secrets
import time
import uuid
from collections import deque

from .server import ProviderSimulator, SimulatedClock, json_response

DEMO_API_KEY = 'demo-wabek-key'

OTP_PATH = '/api/v1/otp'
OTP_VERIFY_PATH = '/api/v1/otp-verify'
OTP_DIGITS = 6
DEFAULT_EXPIRY_MINUTES = 10
PURPOSE_MAX_CHARS = 64
DEFAULT_RATE_LIMIT = (60, 60)  # ours: (requests, window in seconds) per API key, both endpoints
PHONE_RE = re.compile(r'\+[1-9][0-9]{7,14}')
NOT_FOUND_PAGE = (b'<!DOCTYPE html><html><head><title>Page not found</title></head><body><h1>Page not found</h1>'
                  b'<p>Looks like you followed a broken link or entered a URL that does not exist on this site.</p>'
                  b'</body></html>')


def seed_demo(sim):
    """Demo account used by `python -m simulator` and by the tests."""
    sim.add_account(DEMO_API_KEY)
    return sim


def code_hash(code):
    return hashlib.sha256(code.encode()).hexdigest()


class WabekSimulator(SimulatedClock, ProviderSimulator):
    name = 'wabek'

    def __init__(self):
        super().__init__()
        self.accounts = set()
        self.otps = {}  # otp_id -> {api_key, phone, purpose, code_sha256, expires_at, used}: never the code
        self.delivered = []  # what the WhatsApp users read: {otp_id, phone, purpose, text, code, at}
        self._hits = {}  # api_key -> deque of request times
        self.expiry_minutes = DEFAULT_EXPIRY_MINUTES
        self.rate_limit = DEFAULT_RATE_LIMIT
        self.whatsapp_disconnected = False
        self.function_timeouts_after_delivery = 0

    # --- configuration and assertions -------------------------------------------------------------------------

    def add_account(self, api_key):
        self.accounts.add(api_key)

    def reset(self):
        """Forget requests, faults, OTPs, deliveries, rate counters, clock and switches; accounts stay."""
        with self.lock:
            result = super().reset()
            self.otps.clear()
            self.delivered.clear()
            self._hits.clear()
            self.clock_offset = 0.0
            self.expiry_minutes = DEFAULT_EXPIRY_MINUTES
            self.rate_limit = DEFAULT_RATE_LIMIT
            self.whatsapp_disconnected = False
            self.function_timeouts_after_delivery = 0
        return result

    def sent_count(self):
        """WhatsApp messages delivered (one per code)."""
        return len(self.delivered)

    def last_otp(self, phone):
        """The code of the last WhatsApp message `phone` received (used or expired alike), None if none."""
        with self.lock:
            codes = [message['code'] for message in self.delivered if message['phone'] == phone]
        return codes[-1] if codes else None

    # --- HTTP -------------------------------------------------------------------------------------------------

    def error_body(self, status, reason):
        return json_response(status, {'success': False, 'error': reason})

    def handle(self, method, path, query, headers, body):
        route = {OTP_PATH: self._send, OTP_VERIFY_PATH: self._verify}.get(path.rstrip('/') or '/')
        if route is None:
            return 404, {'Content-Type': 'text/html; charset=utf-8'}, NOT_FOUND_PAGE
        if method != 'POST':
            return self.error_body(405, 'Method not allowed')
        with self.lock:
            api_key = headers.get('X-API-Key')
            if not api_key:
                return self.error_body(401, 'Missing API key')
            if api_key not in self.accounts:
                return self.error_body(403, 'Invalid API key')
            limited = self._rate_limited(api_key)
            if limited:
                return limited
            try:
                payload = json.loads(body) if 'application/json' in (headers.get('Content-Type') or '') else None
            except ValueError:
                payload = None
            if not isinstance(payload, dict):
                return self.error_body(400, 'Invalid JSON body')
            return route(api_key, payload)

    def _send(self, api_key, payload):
        phone, purpose = payload.get('phone'), payload.get('purpose')
        if not isinstance(phone, str) or not PHONE_RE.fullmatch(phone):
            return self.error_body(400, 'Invalid phone number: use the international format, e.g. +905551234567')
        if not isinstance(purpose, str) or not purpose.strip() or len(purpose) > PURPOSE_MAX_CHARS:
            return self.error_body(400, f'purpose is required (at most {PURPOSE_MAX_CHARS} characters)')
        if self.whatsapp_disconnected:
            return self.error_body(503, 'WhatsApp instance is not connected')
        code = f'{secrets.randbelow(10 ** OTP_DIGITS):0{OTP_DIGITS}d}'
        otp_id = str(uuid.uuid4())
        now = self.now()
        self.otps[otp_id] = {'api_key': api_key, 'phone': phone, 'purpose': purpose, 'code_sha256': code_hash(code),
                             'expires_at': now + self.expiry_minutes * 60, 'used': False}
        self.delivered.append({
            'otp_id': otp_id, 'phone': phone, 'purpose': purpose, 'code': code, 'at': now,
            'text': f'Your {purpose} code is {code}. It expires in {self.expiry_minutes} minutes.',
        })
        if self.function_timeouts_after_delivery:
            self.function_timeouts_after_delivery -= 1
            request_id = uuid.uuid4()
            return json_response(502, {'errorMessage': f'{time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())} '
                                                       f'{request_id} Task timed out after 10.01 seconds'})
        return json_response(200, {'success': True, 'otpId': otp_id})

    def _verify(self, api_key, payload):
        otp_id, code = payload.get('otp_id'), payload.get('otp')
        if not isinstance(otp_id, str) or not otp_id or not isinstance(code, str) or not code:
            return self.error_body(400, 'otp_id and otp are required')
        otp = self.otps.get(otp_id)
        if otp is None or otp['api_key'] != api_key:
            return json_response(200, {'valid': False, 'reason': 'OTP not found'})
        if otp['used']:
            return json_response(200, {'valid': False, 'reason': 'OTP already used'})
        if otp['expires_at'] <= self.now():
            return json_response(200, {'valid': False, 'reason': 'OTP expired'})
        if not secrets.compare_digest(code_hash(code), otp['code_sha256']):
            return json_response(200, {'valid': False, 'reason': 'Invalid OTP'})
        otp['used'] = True
        return json_response(200, {'valid': True})

    def _rate_limited(self, api_key):
        limit, window = self.rate_limit
        now = self.now()
        hits = self._hits.setdefault(api_key, deque())
        while hits and hits[0] <= now - window:
            hits.popleft()
        if len(hits) >= limit:
            status, headers, body = self.error_body(429, 'Too many requests')
            wait = hits[-limit] + window - now
            return status, {**headers, 'Retry-After': str(max(1, int(wait + 0.999)))}, body
        hits.append(now)
        return None
