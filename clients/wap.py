"""WAP (p.wap.cm) WhatsApp automation client, written against the provider's integration guide
(shared/provider-docs/wap-whatsapp-automation.md): one signed POST to trigger an automation, one signed GET to
read a message's status. No ping endpoint, no idempotency key, no callback.
"""

import json
import time
from datetime import datetime, timezone
from urllib.parse import quote

from .base import (
    AccountError,
    BaseClient,
    ConnectionResult,
    ErrorSpec,
    OutcomeUnknownError,
    PermanentError,
    RetryableError,
    SendResult,
    StatusResult,
)
from .phone import InvalidPhoneError, split_e164
from .signing import wap_signature

PRODUCTION_URL = 'https://p.wap.cm'
SEND_PATH = '/automation/'
STATUS_PATH = '/automation/{reference}'
# The guide has no ping endpoint: a signed GET on a reference that cannot exist answers 404 once the
# credentials are accepted, and 401/403 when they are not.
CONNECTION_TEST_PATH = '/automation/notify-rules-connection-test'
# "Environnement de test": same endpoint with ?test=1, nothing is really sent.
TEST_MODE_PARAMS = {'test': '1'}

# Provider status -> our normalized state; unknown statuses are kept as provider_status and read as 'sent'.
STATUS_MAP = {
    'scheduled': 'sent',
    'queued': 'sent',
    'pending': 'sent',
    'accepted': 'sent',
    'sent': 'sent',
    'delivered': 'delivered',
    'read': 'read',
    'seen': 'read',
    'failed': 'failed',
    'error': 'failed',
    'rejected': 'failed',
    'undelivered': 'failed',
    'expired': 'failed',
    'cancelled': 'failed',
}
DEFAULT_STATE = 'sent'

LABEL = 'WAP'
# HTTP status -> ErrorSpec(code, English message); BaseClient._request lists the placeholders.
CREDENTIALS_ERROR = ErrorSpec(code='credentials', message='WAP refused the credentials: check the API key and secret.',
                              account_level=True)
REFUSED_ERROR = ErrorSpec(code='refused', message='WAP refused the request: {provider_message}')
SEND_ERRORS = {
    400: REFUSED_ERROR,
    401: CREDENTIALS_ERROR,
    403: CREDENTIALS_ERROR,
    404: ErrorSpec(code='automation_not_found', message='WAP automation {reference} not found or inactive.'),
}
STATUS_ERRORS = {
    400: REFUSED_ERROR,
    401: CREDENTIALS_ERROR,
    403: CREDENTIALS_ERROR,
    404: ErrorSpec(code='message_not_found', message='WAP message {reference} not found.'),
}
CONNECTION_OK = 'Connection OK: WAP accepted the credentials.'


def format_scheduled(when):
    """ISO 8601 UTC with exactly 3 millisecond digits and 'Z', as in the guide: 2025-09-29T12:40:14.590Z."""
    when = when or datetime.now(timezone.utc)
    when = when.replace(tzinfo=timezone.utc) if when.tzinfo is None else when.astimezone(timezone.utc)
    return when.strftime('%Y-%m-%dT%H:%M:%S.') + f'{when.microsecond // 1000:03d}Z'


def parse_scheduled(value):
    if not value or not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace('Z', '+00:00')).astimezone(timezone.utc)
    except ValueError:
        return None


def normalize_status(provider_status):
    return STATUS_MAP.get(str(provider_status or '').strip().lower(), DEFAULT_STATE)


def _float_or_none(value):
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


class WapClient(BaseClient):
    code = 'wap'
    provider_label = LABEL
    channels = ('whatsapp',)
    can_lookup_by_idempotency_key = False  # the API has no idempotency key nor a search by our own key
    default_base_urls = {'production': PRODUCTION_URL, 'test': PRODUCTION_URL}

    def __init__(self, base_url, credentials, **kwargs):
        super().__init__(base_url, credentials, **kwargs)
        self.api_key = (self.credentials.get('api_key') or '').strip()
        self.api_secret = (self.credentials.get('api_secret') or '').strip()
        if not self.api_key or not self.api_secret:
            raise AccountError('WAP: the API key and the API secret are both required.',
                               code='missing_credentials', params={'provider': LABEL})

    def _auth_headers(self, method, path):
        timestamp = int(time.time())
        try:
            signature = wap_signature(self.api_key, self.api_secret, timestamp)
        except ValueError as exc:
            raise AccountError(f'WAP: {exc}', code='bad_secret', params={'provider': LABEL}) from None
        return {
            'Content-Type': 'application/json',
            'X-API-Key': self.api_key,
            'X-API-Timestamp': str(timestamp),
            'X-API-Signature': signature,
        }

    def _default_params(self):
        return dict(TEST_MODE_PARAMS) if self.environment == 'test' else {}

    def _request(self, method, path, **kwargs):
        """BaseClient._request, where a 404 outside WAP's JSON envelope (a web server's page, a mistyped path) means
        that the base URL does not lead to WAP: the account's fault, not the message's."""
        try:
            return super()._request(method, path, **kwargs)
        except PermanentError as exc:
            if exc.http_status != 404 or _is_wap_envelope(exc.body):
                raise
            raise AccountError(
                f'{self.base_url} answered 404 with something that is not a WAP answer: check the base URL.',
                code='not_provider_url', params={'provider': LABEL, 'url': self.base_url}, http_status=404,
                body=exc.body,
            ) from exc

    def _payload(self, msg):
        try:
            country, national = split_e164(msg.recipient_e164)
        except InvalidPhoneError as exc:
            raise PermanentError(str(exc), code='bad_recipient',
                                 params={'provider': LABEL, 'number': exc.raw or msg.recipient_e164 or ''}) from None
        reference = str(msg.template_ref or '').strip()
        if not reference:
            raise PermanentError('WAP: the message has no automation reference (GUID).', code='no_template',
                                 params={'provider': LABEL})
        return {
            # The guide's schema says "string" while its own examples send an int (1758796201): we send the
            # documented type, a string; the simulator accepts both.
            'reference': reference,
            'country': country,
            'recipient': national,  # "format local sans indicatif" = national significant number
            'scheduled': format_scheduled(msg.scheduled_at),
            # Template parameters are text; None becomes '' so the provider reports the missing variable.
            'variables': {str(k): '' if v is None else str(v) for k, v in (msg.variables or {}).items()},
        }

    def _data(self, response, *, on_garbage):
        """Return the `data` object of a 2xx envelope; `success: false` is a refusal even with HTTP 200."""
        status = response.status_code
        body = self._json_answer(response, on_garbage=on_garbage,
                                 refusal_message=lambda r: str(r.json().get('message') or ''))
        data = body.get('data')
        if not isinstance(data, dict) or not data.get('reference'):
            raise on_garbage('WAP answered without a message reference.', code='no_reference',
                             params={'provider': LABEL, 'status': status}, http_status=status, body=response.text)
        return data

    def send(self, msg):
        payload = self._payload(msg)
        response = self._request('POST', SEND_PATH, json=payload, idempotent=False, errors=SEND_ERRORS,
                                 error_params={'reference': payload['reference']})
        data = self._data(response, on_garbage=lambda text, **kw: OutcomeUnknownError(
            text + ' The message may or may not have been accepted.', **kw))
        provider_status = str(data.get('status') or '')
        return SendResult(
            provider_ref=str(data['reference']),
            status=normalize_status(provider_status),
            provider_status=provider_status,
            cost=_float_or_none(data.get('cost')),
            currency=data.get('currency') or None,
            raw=data,
            scheduled_at=parse_scheduled(data.get('scheduled')),
        )

    def get_status(self, provider_ref):
        path = STATUS_PATH.format(reference=quote(str(provider_ref), safe=''))
        response = self._request('GET', path, idempotent=True, errors=STATUS_ERRORS,
                                 error_params={'reference': str(provider_ref)})
        data = self._data(response, on_garbage=RetryableError)  # reading a status again is harmless
        provider_status = str(data.get('status') or '')
        status = normalize_status(provider_status)
        failed = status == 'failed'
        provider_message = str(data.get('error') or '') if failed else ''
        return StatusResult(
            status=status,
            provider_status=provider_status,
            raw=data,
            cost=_float_or_none(data.get('cost')),
            currency=data.get('currency') or None,
            error=(provider_message or f'WAP reports the message as "{provider_status}".') if failed else None,
            error_code='delivery_failed' if failed else None,
            error_params={'provider': LABEL, 'provider_status': provider_status, 'provider_message': provider_message}
            if failed else {},
        )

    def test_connection(self):
        try:
            self._request('GET', CONNECTION_TEST_PATH, idempotent=True, errors=STATUS_ERRORS,
                          error_params={'reference': 'test'})
        except PermanentError as exc:
            # 404 in WAP's own envelope: the signed request was accepted, the fake reference was not.
            if exc.code != 'message_not_found':
                raise
        return ConnectionResult(CONNECTION_OK, code='connection_ok', params={'provider': LABEL, 'url': self.base_url})


def _is_wap_envelope(body):
    """WAP answers every call with {"success": ..., "status": ..., "message": ...}."""
    try:
        data = json.loads(body or '')
    except ValueError:
        return False
    return isinstance(data, dict) and data.get('success') is False and 'message' in data
