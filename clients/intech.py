"""Intech mobile money client (Senegal, Côte d'Ivoire), written against the provider's document
(shared/provider-docs/intech-api.md): the service catalogue, signed operations, and the verification of the signed
IPN callbacks Intech sends to `urlIpn`.

What the document says, applied:
- `GET /api-services/services` with the `Secretkey` header lists the services; `POST /api-services/operation`
  with `apiKey, phone, amount, codeService, externalTransactionId, urlIpn`, signed: `Hmac-Signature` = hex
  HMAC-SHA256(HMAC secret, f"{METHOD}:{timestamp}:{JSON.stringify(body)}"), `Timestamp` in milliseconds. The body
  is serialised once, exactly as JavaScript would (clients/js_json.py), and those very bytes are signed and sent.
- Every answer is HTTP 200/201 with JSON describing the result (Note 3): success or failure is read in the body.
- HTTP timeout of at least 60 seconds (Note 2): MIN_TIMEOUT, whatever the account says.
- Callbacks are signed the same way, expire after 5 minutes, and are re-sent until we answer 200 (Note 4).

How we read what the document does not say (the README's "Intech: how we read its document" says the same):
- The answer of an operation is not described. We read `success` (or `error`, negated) for the verdict, the
  transaction's status in `data.status` or `status`, its reference in `data.transactionId` or `transactionId`, the
  reason in `message`/`msg`. A JSON object that says neither success nor failure is a failure showing the body
  (the issue asks for it; a signed IPN can still report the truth later). Statuses: SUCCESS and its spellings are
  done, FAILED/ERROR/REJECTED/CANCELLED/EXPIRED failed, anything else pending (the IPN will tell).
- Nothing says Intech refuses a repeated `externalTransactionId`, nor offers a status call: an operation whose
  answer was lost (read timeout, 500, 504) may have moved money, so it is an unknown outcome for a person,
  never sent again (retry_may_duplicate False whatever the account policy). 502/503 and a refused connection
  prove nothing was processed: retried.
- The callback body is not described: we read `externalTransactionId`, `transactionId`, `status` and `message`
  in the object (or in its `data`), keep everything raw, and verify the signature both over the raw bytes and
  over JSON.stringify of the parsed body (what the document's validator computes), so a sender that spaces its
  JSON differently from how it signs still verifies.
- Phone: the document writes `772457199` in one example and `221777777777` in the other. Both are supported by an
  account setting (national / international without '+'), after phonenumbers says the number is valid and of the
  service's country (SN or CI, read from the service code).
- The catalogue call needs only the Secretkey: the connection test lists the services (nothing is paid). It
  cannot check the API key nor the HMAC secret: the first operation does.
"""

import contextlib
import json
import re
import time
from dataclasses import dataclass, field

import phonenumbers

from .base import (
    AccountError,
    BaseClient,
    ConnectionResult,
    ErrorSpec,
    OutcomeUnknownError,
    PermanentError,
    SendResult,
    _connection_state,
)
from .js_json import js_stringify
from .phone import InvalidPhoneError, to_e164
from .signing import intech_signature, signatures_match

LABEL = 'Intech'
PRODUCTION_URL = 'https://api.intech.sn'
SERVICES_PATH = '/api-services/services'
OPERATION_PATH = '/api-services/operation'
MIN_TIMEOUT = 60.0  # "Configurez le timeout de votre client HTTP à minimum 60 secondes"
CALLBACK_MAX_AGE_MS = 5 * 60 * 1000  # the document's validator: 5 minutes
CALLBACK_MAX_SKEW_MS = 60 * 1000  # ours: a sender's clock a minute ahead is tolerated, not more
COUNTRIES = ('SN', 'CI')
OPERATION_TYPES = ('DEBIT', 'CREDIT')
SERVICE_TYPES = ('CASHIN', 'CASHOUT', 'CREDIT_TELEPHONIQUE', 'BILL_PAY', 'BILL_BUY_RELOAD', 'MESSENGING_SMS')
DONE_STATUSES = frozenset({'SUCCESS', 'SUCCESSFUL', 'SUCCESSFULL', 'SUCCEEDED', 'COMPLETED', 'DONE', 'PAID', 'OK'})
FAILED_STATUSES = frozenset({'FAILED', 'FAILURE', 'FAIL', 'ERROR', 'REJECTED', 'REFUSED', 'CANCELLED', 'CANCELED',
                             'EXPIRED', 'DECLINED'})
EXTERNAL_ID_MAX = 64
TIMESTAMP_RE = re.compile(r'[0-9]{1,16}')
ERRORS = {
    401: ErrorSpec(code='credentials', account_level=True,
                   message='Intech refused the credentials (HTTP {status}): check the keys of the provider account.'),
    403: ErrorSpec(code='credentials', account_level=True,
                   message='Intech refused the credentials (HTTP {status}): check the keys of the provider account.'),
}


def service_country(code_service):
    """'SN' or 'CI' when the service code names its country (WAVE_SN_API_CASH_IN), else None."""
    parts = str(code_service or '').upper().split('_')
    found = [country for country in COUNTRIES if country in parts]
    return found[0] if len(found) == 1 else None


@dataclass
class IntechService:
    code: str
    name: str
    icon: str
    operation: str  # DEBIT / CREDIT, as Intech names it
    service_type: str
    country: str | None


@dataclass
class OperationRequest:
    """One money operation to ask Intech for. `phone_e164` is checked and written in the account's format here."""

    phone_e164: str
    amount: int
    code_service: str
    external_id: str
    url_ipn: str
    extra: dict = field(default_factory=dict)  # more fields a service needs (bill references...), sent after ours


@dataclass
class CallbackNews:
    """What a verified IPN says: our reference, Intech's, the normalised state (done / failed / pending, None when
    the status is not one we know), Intech's words."""

    external_id: str
    transaction_id: str | None
    state: str | None
    provider_status: str
    message: str
    body: dict


class CallbackRejected(Exception):
    """An IPN that must change nothing: `http_status` 401 (signature, timestamp) or 400 (malformed)."""

    def __init__(self, reason, http_status):
        super().__init__(reason)
        self.reason, self.http_status = reason, http_status


def normalise_status(value):
    status = str(value or '').strip().upper()
    if status in DONE_STATUSES:
        return 'done'
    if status in FAILED_STATUSES:
        return 'failed'
    return 'pending' if status else None


def intech_phone(phone_e164, country, phone_format):
    """The number as Intech takes it: national digits (772457199) or international without '+' (221772457199).

    `country` is the service's (None: any of Intech's countries). Raise InvalidPhoneError when it is not a valid
    number of that country."""
    number = phonenumbers.parse(to_e164(phone_e164), None)
    region = phonenumbers.region_code_for_number(number)
    allowed = (country,) if country else COUNTRIES
    if region not in allowed:
        raise InvalidPhoneError(
            f"The number '{phone_e164}' is not a number of {' or '.join(allowed)}: this service cannot serve it.",
            'wrong_country', phone_e164, country or '')
    if phone_format == 'international':
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)[1:]
    return re.sub(r'[^0-9]', '', phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL))


def parse_services(body):
    """The catalogue's services; entries without a code are skipped (they cannot be requested)."""
    services = []
    for item in body.get('services') or ():
        if not isinstance(item, dict) or not isinstance(item.get('codeService'), str) or not item['codeService']:
            continue
        code = item['codeService'].strip()
        operation = str(item.get('typeOperation') or '').upper()
        service_type = str(item.get('typeService') or '').upper()
        services.append(IntechService(
            code=code,
            name=str(item.get('name') or code),
            icon=str(item.get('icon') or ''),
            operation=operation if operation in OPERATION_TYPES else '',
            service_type=service_type if service_type in SERVICE_TYPES else '',
            country=service_country(code),
        ))
    return services


def _first(body, key):
    """`key` in the object, else in its `data` object."""
    if key in body and body[key] not in (None, ''):
        return body[key]
    data = body.get('data')
    return data.get(key) if isinstance(data, dict) else None


def _message(body):
    for key in ('message', 'msg', 'error', 'errorMessage'):
        value = _first(body, key)
        if isinstance(value, str) and value.strip():
            return value.strip()[:500]
    return ''


def verify_callback(raw_body, signature, timestamp, hmac_secret, *, now_ms=None):
    """Check a callback as the document's validator does; return its CallbackNews or raise CallbackRejected.

    The signature is compared in constant time over the raw bytes and over JSON.stringify(parsed body). Nothing
    here touches a database: a rejected callback cannot change anything."""
    if not hmac_secret:
        raise CallbackRejected('no HMAC secret configured', 401)
    timestamp = str(timestamp or '').strip()
    if not TIMESTAMP_RE.fullmatch(timestamp):
        raise CallbackRejected('missing or malformed Timestamp header', 401)
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    age = now_ms - int(timestamp)
    if age > CALLBACK_MAX_AGE_MS:
        raise CallbackRejected('timestamp expired', 401)
    if age < -CALLBACK_MAX_SKEW_MS:
        raise CallbackRejected('timestamp in the future', 401)
    if not isinstance(signature, str) or not re.fullmatch(r'[0-9a-fA-F]{64}', signature.strip()):
        raise CallbackRejected('missing or malformed Hmac-Signature header', 401)
    try:
        text = raw_body.decode('utf-8')
        body = json.loads(text)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise CallbackRejected('body is not UTF-8 JSON', 400) from None
    signature = signature.strip().lower()
    candidates = [text]
    if isinstance(body, (dict, list)):
        with contextlib.suppress(TypeError, RecursionError):
            candidates.append(js_stringify(body))
    # both comparisons always run: the time taken says nothing about which one matched
    matches = [signatures_match(intech_signature(hmac_secret, 'POST', timestamp, c), signature) for c in candidates]
    if not any(matches):
        raise CallbackRejected('invalid signature', 401)
    if not isinstance(body, dict):
        raise CallbackRejected('body is not a JSON object', 400)
    external_id = _first(body, 'externalTransactionId')
    if not isinstance(external_id, str) or not external_id.strip() or len(external_id) > 255:
        raise CallbackRejected('no externalTransactionId', 400)
    transaction_id = _first(body, 'transactionId')
    provider_status = _first(body, 'status')
    provider_status = provider_status if isinstance(provider_status, str) else ''
    return CallbackNews(
        external_id=external_id.strip(),
        transaction_id=str(transaction_id) if isinstance(transaction_id, (str, int)) else None,
        state=normalise_status(provider_status),
        provider_status=provider_status[:64],
        message=_message(body),
        body=body,
    )


class IntechClient(BaseClient):
    code = 'intech'
    provider_label = LABEL
    channels = ()
    sends_messages = False  # money operations only (send_operation); its WhatsApp service is not used
    supports_status = False  # no status call: the IPN tells
    can_lookup_by_idempotency_key = False
    deduplicates_by_idempotency_key = False
    # The document has no test mode nor sandbox: 'test' also points at production.
    default_base_urls = {'production': PRODUCTION_URL, 'test': PRODUCTION_URL}

    def __init__(self, base_url, credentials, *, timeout=MIN_TIMEOUT, **kwargs):
        super().__init__(base_url, credentials, timeout=max(float(timeout or 0), MIN_TIMEOUT), **kwargs)
        self.api_key = (self.credentials.get('api_key') or '').strip()
        self.hmac_secret = self.credentials.get('hmac_secret') or ''
        self.secret_key = (self.credentials.get('secret_key') or '').strip()
        self.phone_format = self.credentials.get('phone_format') or 'national'

    # --- catalogue ------------------------------------------------------------------------------------------

    def get_services(self):
        """The catalogue, as a list of IntechService (GET is harmless: a 5xx is simply retryable)."""
        if not self.secret_key:
            raise AccountError('Intech: the secret key (Secretkey) is required to read the catalogue.',
                               code='missing_secret_key', params={'provider': LABEL})
        response = self._request('GET', SERVICES_PATH, headers={'Secretkey': self.secret_key}, idempotent=True,
                                 errors=ERRORS)
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or not isinstance(body.get('success'), bool):
            raise self._not_provider_url(response.status_code, response.text)
        if body['success'] is not True:
            raise AccountError(
                f'Intech refused the secret key: {_message(body) or "no reason given"}',
                code='intech_secret_key_refused',
                params={'provider': LABEL, 'status': response.status_code, 'provider_message': _message(body)},
                http_status=response.status_code, body=response.text)
        if not isinstance(body.get('services'), list):
            raise self._not_provider_url(response.status_code, response.text)
        return parse_services(body)

    def test_connection(self):
        services = self.get_services()
        return ConnectionResult(
            f'Connection OK: Intech accepted the secret key ({len(services)} services).',
            code='intech_connection_ok', params={'provider': LABEL, 'count': len(services)})

    # --- operations -----------------------------------------------------------------------------------------

    def operation_body(self, request, country):
        """The body, in the document's key order; raises PermanentError on an input Intech would refuse."""
        if not self.api_key or not self.hmac_secret:
            raise AccountError('Intech: the API key and the HMAC secret are required to request an operation.',
                               code='intech_missing_keys', params={'provider': LABEL})
        try:
            phone = intech_phone(request.phone_e164, country, self.phone_format)
        except (InvalidPhoneError, phonenumbers.NumberParseException) as exc:
            params = {'provider': LABEL, 'number': request.phone_e164 or '', 'reason': str(exc)}
            raise PermanentError(f'Intech: {exc}', code='intech_bad_phone', params=params) from None
        amount = request.amount
        if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
            raise PermanentError(f'Intech: the amount must be a whole number above 0, not {amount!r}.',
                                 code='intech_bad_amount', params={'provider': LABEL, 'amount': str(amount)})
        if not request.external_id or len(request.external_id) > EXTERNAL_ID_MAX:
            raise PermanentError('Intech: the external transaction id is missing or too long.',
                                 code='intech_bad_reference', params={'provider': LABEL})
        body = {
            'apiKey': self.api_key,
            'phone': phone,
            'amount': amount,
            'codeService': request.code_service,
            'externalTransactionId': request.external_id,
            'urlIpn': request.url_ipn,
        }
        for key, value in (request.extra or {}).items():
            body.setdefault(str(key), value)
        return body

    def send_operation(self, request, country=None):
        """POST one operation; return a SendResult whose provider_status is Intech's status and `raw` its answer.

        Never retried once it may have left: a lost answer is an OutcomeUnknownError that no account policy resends
        (money is not a message that may arrive twice)."""
        body_text = js_stringify(self.operation_body(request, country))
        timestamp = str(int(time.time() * 1000))
        headers = {
            'Content-Type': 'application/json',
            'Hmac-Signature': intech_signature(self.hmac_secret, 'POST', timestamp, body_text),
            'Timestamp': timestamp,
        }
        try:
            response = self._request('POST', OPERATION_PATH, data=body_text.encode('utf-8', 'surrogatepass'),
                                     headers=headers, idempotent=False, errors=ERRORS)
        except OutcomeUnknownError as exc:
            exc.retry_may_duplicate = False
            exc.params['money'] = True
            raise
        return self._operation_result(response)

    def _send_http(self, method, url, **kwargs):
        """An operation always goes on a new connection, sent once: BaseClient resends a request once when a reused
        keep-alive connection drops before any answer (the server almost always closed it unread); for money, almost
        is not enough. A new connection cannot have been closed as idle, and a failure on it is classified as usual
        (refused: retried; dropped after sending: unknown outcome)."""
        if method != 'POST':
            return super()._send_http(method, url, **kwargs)
        _connection_state.reused = False
        _connection_state.fresh = True
        try:
            return self.session.request(method, url, **kwargs)
        finally:
            _connection_state.fresh = False

    def _operation_result(self, response):
        status = response.status_code
        try:
            body = response.json()
        except ValueError:
            body = None
        params = {'provider': LABEL, 'status': status}
        if not isinstance(body, dict):
            raise PermanentError(
                'Intech answered with a body that is not JSON: check in your Intech dashboard whether the operation '
                'exists before asking again.', code='intech_unreadable', params=params, http_status=status,
                body=response.text)
        verdict = body.get('success')
        if not isinstance(verdict, bool) and isinstance(body.get('error'), bool):
            verdict = not body['error']
        provider_status = _first(body, 'status')
        provider_status = provider_status if isinstance(provider_status, str) else ''
        if verdict is False or (verdict is None and normalise_status(provider_status) == 'failed'):
            message = _message(body) or 'no reason given'
            raise PermanentError(f'Intech refused the operation: {message}', code='refused',
                                 params={**params, 'provider_message': message}, http_status=status,
                                 body=response.text)
        if verdict is not True:
            raise PermanentError(
                'Intech answered without saying whether the operation was accepted: check in your Intech dashboard '
                'before asking again.', code='intech_unreadable', params=params, http_status=status,
                body=response.text)
        transaction_id = _first(body, 'transactionId')
        return SendResult(
            provider_ref=str(transaction_id) if isinstance(transaction_id, (str, int)) else '',
            status='sent',
            provider_status=(provider_status or 'PENDING')[:64],
            cost=None,
            currency=None,
            raw=body,
            scheduled_at=None,
        )

    def send(self, msg):
        raise PermanentError('Intech carries money operations only in this addon, not messages.',
                             code='channel_not_supported', params={'provider': LABEL, 'channel': str(msg.channel)})

    def get_status(self, provider_ref):
        raise NotImplementedError('Intech has no status call: its IPN tells the outcome.')
