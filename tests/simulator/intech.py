"""Intech (api.intech.sn, Senegal and Côte d'Ivoire) simulator, strict to the provider's document
(shared/provider-docs/intech-api.md) as the project reads it (the Intech contract).

What the document says, enforced: `GET /api-services/services` with the `Secretkey` header lists the services
(the document's own list, `DOCUMENT_SERVICES`); `POST /api-services/operation` carries `apiKey, phone, amount,
codeService, externalTransactionId, urlIpn`, signed with `Hmac-Signature` = hex HMAC-SHA256(HMAC secret,
f"POST:{Timestamp}:{JSON.stringify(body)}") and `Timestamp` in milliseconds, expired after 5 minutes; every answer
is HTTP 200 with the verdict in the JSON (Note 3); IPNs to `urlIpn` are signed the same way and re-sent until the
callback answers 200 (Note 4).

Where the document is silent we chose, and say so:
- Intech re-serialises the parsed body with JSON.stringify before checking the signature, so a body whose bytes
  are not exactly JSON.stringify's (spaces, `\\u00e9` escapes, `1000.0`) is refused as INVALID_SIGNATURE even when
  signed over those bytes. The check order is: JSON object, apiKey (it names the HMAC secret), Timestamp (the
  document's own validator checks it first), signature, then the fields. A timestamp more than 60 s ahead of the
  simulator's clock is refused too (TIMESTAMP_EXPIRED, "Timestamp dans le futur").
- Refusals answer `{"success": false, "message": <French reason>, "code": <SHORT_CODE>}`; an accepted operation
  `{"success": true, "message": "Transaction en cours de traitement", "data": {"transactionId": "ITX<12 hex>",
  ..., "status": "PENDING"}}`. A repeated externalTransactionId is accepted again as a new transaction: nothing
  says Intech refuses it, and that duplicate payment is what our side must never cause (`accepted_count`).
- Numbers: `_SN_` services take 7XXXXXXXX or 2217XXXXXXXX, `_CI_` services 0[157]XXXXXXXX or 225 + those ten
  digits, services without a country either; amounts are JSON integers above 0; externalTransactionId a non-empty
  text of at most 64 characters; urlIpn an http(s) URL (both required: an IPN needs them).
- IPN body, in this order: transactionId, externalTransactionId, codeService, phone, amount, status (SUCCESS,
  FAILED, PENDING), message, date (ISO-8601 UTC, milliseconds, Z). With `auto_ipn`, an IPN not answered 200 is
  re-sent 3 times, 1 s apart.
- An unknown path answers 404 `{"success": false, "message": "Route introuvable"}`, another method on a known path
  405 in the same JSON. Answers are written as Node writes them (JSON.stringify, UTF-8).

The simulator never imports `clients` (it also runs alone, `python -m simulator`): its JSON.stringify below is
its own, written apart from clients/js_json.py, and the tests check that both agree.
"""

import copy
import hashlib
import hmac
import http.client
import json
import math
import re
import secrets
import threading
from collections import deque
from datetime import datetime, timezone
from decimal import Decimal
from urllib.parse import urlsplit

from .server import ProviderSimulator, SimulatedClock

DEMO_API_KEY = 'demo-intech-api-key'
DEMO_HMAC_SECRET = 'demo-intech-hmac-secret'
DEMO_SECRET_KEY = 'demo-intech-secret-key'
DEMO_AUTO_IPN_SECONDS = 3.0  # `make run`: the IPN follows an accepted operation after this long

SERVICES_PATH = '/api-services/services'
OPERATION_PATH = '/api-services/operation'
BODY_KEYS = ('apiKey', 'phone', 'amount', 'codeService', 'externalTransactionId', 'urlIpn')
TIMESTAMP_MAX_AGE_MS = 5 * 60 * 1000  # the document: a signed request expires after 5 minutes
TIMESTAMP_MAX_AHEAD_MS = 60 * 1000  # ours: a client clock up to a minute ahead is tolerated
TIMESTAMP_RE = re.compile(r'[0-9]{1,16}')
EXTERNAL_ID_MAX = 64
SN_PHONE_RE = re.compile(r'(?:221)?7[0-9]{8}')
CI_PHONE_RE = re.compile(r'(?:225)?0[157][0-9]{8}')
OUTCOMES = ('SUCCESS', 'FAILED')
IPN_STATUSES = ('SUCCESS', 'FAILED', 'PENDING')
IPN_MESSAGES = {
    'SUCCESS': 'Transaction effectuée avec succès',
    'FAILED': 'Transaction échouée',
    'PENDING': 'Transaction en cours de traitement',
}
ACCEPTED_MESSAGE = 'Transaction en cours de traitement'
IPN_RETRIES = 3  # re-sends after the first attempt when urlIpn does not answer 200 (Note 4; the count is ours)
IPN_RETRY_DELAY = 1.0
IPN_TIMEOUT = 10
WRONG_KEY_SUFFIX = '#not-the-secret'  # bad_signature: a well-formed signature made with another key

DOCUMENT_SERVICES = (
    {'name': 'CashIn Free Money', 'icon': 'https://intech-apiv2.s3.amazonaws.com/icons/free_sn.png',
     'codeService': 'FREE_SN_WALLET_CASH_IN', 'typeOperation': 'DEBIT', 'typeService': 'CASHIN'},
    {'name': 'CashIn E Money', 'icon': 'https://intech-apiv2.s3.amazonaws.com/icons/emoney.png',
     'codeService': 'EXPRESSO_SN_WALLET_CASH_IN', 'typeOperation': 'DEBIT', 'typeService': 'CASHIN'},
    {'name': 'CashOut Free Money', 'icon': 'https://intech-apiv2.s3.amazonaws.com/icons/free_sn.png',
     'codeService': 'FREE_SN_WALLET_CASH_OUT', 'typeOperation': 'CREDIT', 'typeService': 'CASHOUT'},
    {'name': 'CashOut E Money', 'icon': 'https://intech-apiv2.s3.amazonaws.com/icons/emoney.png',
     'codeService': 'EXPRESSO_SN_WALLET_CASH_OUT', 'typeOperation': 'CREDIT', 'typeService': 'CASHOUT'},
    {'name': 'Achat credit Orange', 'icon': 'https://intech-apiv2.s3.amazonaws.com/icons/seddo.jpg',
     'codeService': 'ORANGE_SN_AIRTIME_CREDIT_TELEPHONIQUE', 'typeOperation': 'DEBIT',
     'typeService': 'CREDIT_TELEPHONIQUE'},
    {'name': 'Achat credit Free', 'icon': 'https://intech-apiv2.s3.amazonaws.com/icons/izi.jpg',
     'codeService': 'FREE_SN_AIRTIME_CREDIT_TELEPHONIQUE', 'typeOperation': 'DEBIT',
     'typeService': 'CREDIT_TELEPHONIQUE'},
    {'name': 'Achat credit Expresso', 'icon': 'https://intech-apiv2.s3.amazonaws.com/icons/expresso.png',
     'codeService': 'EXPRESSO_SN_AIRTIME_CREDIT_TELEPHONIQUE', 'typeOperation': 'DEBIT',
     'typeService': 'CREDIT_TELEPHONIQUE'},
    {'name': 'CashIn Orange Money', 'icon': 'https://intech-apiv2.s3.amazonaws.com/icons/om_sn.png',
     'codeService': 'ORANGE_SN_API_CASH_IN', 'typeOperation': 'DEBIT', 'typeService': 'CASHIN'},
    {'name': 'CashOut Orange Money', 'icon': 'https://intech-apiv2.s3.amazonaws.com/icons/om_sn.png',
     'codeService': 'ORANGE_SN_API_CASH_OUT', 'typeOperation': 'CREDIT', 'typeService': 'CASHOUT'},
    {'name': 'CashIn Wave Money', 'icon': 'https://intech-apiv2.s3.amazonaws.com/icons/wave.png',
     'codeService': 'WAVE_SN_API_CASH_IN', 'typeOperation': 'DEBIT', 'typeService': 'CASHIN'},
    {'name': 'CashOut Wave Money', 'icon': 'https://intech-apiv2.s3.amazonaws.com/icons/wave.png',
     'codeService': 'WAVE_SN_API_CASH_OUT', 'typeOperation': 'CREDIT', 'typeService': 'CASHOUT'},
    {'name': 'CashOut Wizall Money', 'icon': 'https://intech-apiv2.s3.amazonaws.com/icons/wizall.jpg',
     'codeService': 'WIZALL_SN_API_CASH_OUT', 'typeOperation': 'CREDIT', 'typeService': 'CASHOUT'},
    {'name': 'CashOut Carte Bancaire', 'icon': 'https://intech-apiv2.s3.amazonaws.com/icons/CB.png',
     'codeService': 'BANK_CARD_API_CASH_OUT', 'typeOperation': 'CREDIT', 'typeService': 'CASHOUT'},
    {'name': 'Recharge Rapido', 'icon': 'https://intech-apiv2.s3.amazonaws.com/icons/rapido.png',
     'codeService': 'RAPIDO_SN_BILL_RELOAD', 'typeOperation': 'DEBIT', 'typeService': 'BILL_BUY_RELOAD'},
    {'name': 'Recharge Woyofal', 'icon': 'https://intech-apiv2.s3.amazonaws.com/icons/logo_woyofal.png',
     'codeService': 'WOYOFAL_SN_BILL_RELOAD', 'typeOperation': 'DEBIT', 'typeService': 'BILL_BUY_RELOAD'},
    {'name': 'Sénélec', 'icon': 'https://intech-apiv2.s3.amazonaws.com/icons/logo_senelec.png',
     'codeService': 'SENELEC_SN_BILL_PAY', 'typeOperation': 'DEBIT', 'typeService': 'BILL_PAY'},
    {'name': 'SenEau', 'icon': 'https://intech-apiv2.s3.amazonaws.com/icons/logo_sen_eau.png',
     'codeService': 'SENEAU_SN_BILL_PAY', 'typeOperation': 'DEBIT', 'typeService': 'BILL_PAY'},
    {'name': 'Recharge Xeweul', 'icon': 'https://intech-apiv2.s3.amazonaws.com/icons/xeweul.png',
     'codeService': 'XEWEUL_SN_BILL_RELOAD', 'typeOperation': 'DEBIT', 'typeService': 'BILL_BUY_RELOAD'},
    {'name': 'Oolu Solar', 'icon': 'https://intech-apiv2.s3.amazonaws.com/icons/oolusoloar.png',
     'codeService': 'OOLUSOLAR_SN_BILL_RELOAD', 'typeOperation': 'DEBIT', 'typeService': 'BILL_BUY_RELOAD'},
    {'name': 'Baobab Plus', 'icon': 'https://intech-apiv2.s3.amazonaws.com/icons/baobapplus.png',
     'codeService': 'BAOBAP_PLUS_SN_BILL_RELOAD', 'typeOperation': 'DEBIT', 'typeService': 'BILL_BUY_RELOAD'},
    {'name': 'Der/Fj', 'icon': 'https://intech-apiv2.s3.amazonaws.com/icons/derfj.jpg',
     'codeService': 'DER_FJ_SN_BILL_RELOAD', 'typeOperation': 'DEBIT', 'typeService': 'BILL_BUY_RELOAD'},
    {'name': 'Aquatech', 'icon': 'https://intech-apiv2.s3.amazonaws.com/icons/aquatech.jpg',
     'codeService': 'AQUATECH_SN_BILL_PAY', 'typeOperation': 'DEBIT', 'typeService': 'BILL_PAY'},
    {'name': 'UVS', 'icon': 'https://intech-apiv2.s3.amazonaws.com/icons/uvs.png',
     'codeService': 'UVS_SN_BILL_PAY', 'typeOperation': 'DEBIT', 'typeService': 'BILL_PAY'},
    {'name': 'UCAD', 'icon': 'https://intech-apiv2.s3.amazonaws.com/icons/ucad.png',
     'codeService': 'UCAD_SN_BILL_PAY', 'typeOperation': 'DEBIT', 'typeService': 'BILL_PAY'},
    {'name': 'WhatsApp Message', 'icon': 'https://intech-apiv2.s3.amazonaws.com/icons/WhatsApp.svg.png',
     'codeService': 'WHATSAPP_MESSAGING', 'typeOperation': 'DEBIT', 'typeService': 'MESSENGING_SMS'},
    {'name': 'Virement Bancaire Sénégal', 'icon': 'https://change.sn/assets/images/virement.png',
     'codeService': 'BANK_TRANSFER_SN_API_CASH_IN', 'typeOperation': 'DEBIT', 'typeService': 'CASHIN'},
    {'name': 'CashIn Orange Money CI', 'icon': 'https://intech-apiv2.s3.amazonaws.com/icons/om_ci.png',
     'codeService': 'ORANGE_CI_API_CASH_IN', 'typeOperation': 'DEBIT', 'typeService': 'CASHIN'},
    {'name': 'Cashout Orange Money CI', 'icon': 'https://intech-apiv2.s3.amazonaws.com/icons/om_ci.png',
     'codeService': 'ORANGE_CI_API_CASH_OUT', 'typeOperation': 'CREDIT', 'typeService': 'CASHOUT'},
    {'name': 'Airtime Orange Money CI', 'icon': 'https://intech-apiv2.s3.amazonaws.com/icons/orange_ci_airtime.png',
     'codeService': 'ORANGE_CI_AIRTIME_CREDIT_TELEPHONIQUE', 'typeOperation': 'DEBIT',
     'typeService': 'CREDIT_TELEPHONIQUE'},
    {'name': 'CashIn Mtn Money CI', 'icon': 'https://intech-apiv2.s3.amazonaws.com/icons/mtn_ci.png',
     'codeService': 'MTN_CI_API_CASH_IN', 'typeOperation': 'DEBIT', 'typeService': 'CASHIN'},
    {'name': 'CashOut Mtn Money CI', 'icon': 'https://intech-apiv2.s3.amazonaws.com/icons/moov_ci.png',
     'codeService': 'MTN_CI_API_CASH_OUT', 'typeOperation': 'CREDIT', 'typeService': 'CASHOUT'},
    {'name': 'Airtime Mtn CI', 'icon': 'https://intech-apiv2.s3.amazonaws.com/icons/mtn_ci_airtime.png',
     'codeService': 'MTN_CI_AIRTIME_CREDIT_TELEPHONIQUE', 'typeOperation': 'DEBIT',
     'typeService': 'CREDIT_TELEPHONIQUE'},
    {'name': 'CashIn Moov Money CI', 'icon': 'https://intech-apiv2.s3.amazonaws.com/icons/moov_ci.png',
     'codeService': 'MOOV_CI_API_CASH_IN', 'typeOperation': 'DEBIT', 'typeService': 'CASHIN'},
    {'name': 'CashOut Moov Money CI', 'icon': 'https://intech-apiv2.s3.amazonaws.com/icons/moov_ci.png',
     'codeService': 'MOOV_CI_API_CASH_OUT', 'typeOperation': 'CREDIT', 'typeService': 'CASHOUT'},
    {'name': 'Airtime Moov CI', 'icon': 'https://intech-apiv2.s3.amazonaws.com/icons/moov_ci_airtime.png',
     'codeService': 'MOOV_CI_AIRTIME_CREDIT_TELEPHONIQUE', 'typeOperation': 'DEBIT',
     'typeService': 'CREDIT_TELEPHONIQUE'},
    {'name': 'CashOut Mtn Money CI 2', 'icon': 'https://intech-apiv2.s3.amazonaws.com/icons/wizall.jpg',
     'codeService': 'MTN_CI_API_CASH_OUT_2', 'typeOperation': 'CREDIT', 'typeService': 'CASHOUT'},
    {'name': 'CashIn Mtn Money CI 2', 'icon': 'https://intech-apiv2.s3.amazonaws.com/icons/mtn_ci.jpg',
     'codeService': 'MTN_CI_API_CASH_IN_2', 'typeOperation': 'DEBIT', 'typeService': 'CASHIN'},
    {'name': 'CashIn Wave Money CI', 'icon': 'https://intech-apiv2.s3.amazonaws.com/icons/wave.png',
     'codeService': 'WAVE_CI_API_CASH_IN', 'typeOperation': 'DEBIT', 'typeService': 'CASHIN'},
)

_INDEX_KEY_RE = re.compile(r'0|[1-9][0-9]{0,9}')
_SURROGATE_RE = re.compile('[\ud800-\udfff]')


def seed_demo(sim):
    """Demo account used by `python -m simulator` and by the tests."""
    sim.add_account(DEMO_API_KEY, DEMO_HMAC_SECRET, DEMO_SECRET_KEY)
    return sim


# --- JSON.stringify, as Intech's Node server computes it ------------------------------------------------------


def _js_number(value):
    """ECMAScript Number::toString of the double `value` becomes (JSON.parse reads every number as a double)."""
    try:
        number = float(value)
    except OverflowError:
        return 'null'  # beyond the largest double: Infinity, which JSON.stringify writes as null
    if not math.isfinite(number):
        return 'null'
    if number == 0:
        return '0'
    # repr(): the shortest digits that read back as the same double, which is what ECMAScript prints
    sign, digits, exponent = Decimal(repr(number)).normalize().as_tuple()
    digits = ''.join(map(str, digits))
    k, n = len(digits), exponent + len(digits)  # k significant digits, the point after n of them
    if k <= n <= 21:
        text = digits + '0' * (n - k)
    elif 0 < n <= 21:
        text = f'{digits[:n]}.{digits[n:]}'
    elif -6 < n <= 0:
        text = f"0.{'0' * -n}{digits}"
    else:
        mantissa = digits if k == 1 else f'{digits[0]}.{digits[1:]}'
        text = f"{mantissa}e{'+' if n > 0 else '-'}{abs(n - 1)}"
    return ('-' if sign else '') + text


def _js_string(text):
    # without ensure_ascii, json.dumps escapes what JSON.stringify escapes; a lone surrogate is written \udxxx
    return _SURROGATE_RE.sub(lambda match: '\\u%04x' % ord(match.group()), json.dumps(text, ensure_ascii=False))


def js_stringify(value):
    """JSON.stringify(value) for what json.loads returns: integer-like keys first (ascending), then insertion order."""
    if value is None or isinstance(value, bool):
        return {None: 'null', True: 'true', False: 'false'}[value]
    if isinstance(value, (int, float)):
        return _js_number(value)
    if isinstance(value, str):
        return _js_string(value)
    if isinstance(value, (list, tuple)):
        return '[%s]' % ','.join(js_stringify(item) for item in value)
    if isinstance(value, dict):
        index_keys = sorted((key for key in value if _INDEX_KEY_RE.fullmatch(key) and int(key) < 2**32 - 1), key=int)
        keys = index_keys + [key for key in value if key not in index_keys]
        return '{%s}' % ','.join(f'{_js_string(key)}:{js_stringify(value[key])}' for key in keys)
    raise TypeError(f'{type(value).__name__} is not JSON')


def js_stringify_bytes(value):
    return js_stringify(value).encode('utf-8')


def intech_signature(secret, method, timestamp, body_text):
    message = f'{method}:{timestamp}:{body_text}'.encode('utf-8', 'surrogatepass')
    return hmac.new(secret.encode('utf-8'), message, hashlib.sha256).hexdigest()


def _refuse_constant(name):
    raise ValueError(f'{name} is not JSON')


def phone_accepted(code_service, phone):
    """The contract's number forms: national or international without '+', of the service's country."""
    if '_SN_' in code_service:
        patterns = (SN_PHONE_RE,)
    elif '_CI_' in code_service:
        patterns = (CI_PHONE_RE,)
    else:
        patterns = (SN_PHONE_RE, CI_PHONE_RE)
    return isinstance(phone, str) and any(pattern.fullmatch(phone) for pattern in patterns)


def is_http_url(value):
    if not isinstance(value, str) or re.search(r'\s', value):
        return False
    try:
        parts = urlsplit(value)
        return parts.scheme in ('http', 'https') and bool(parts.hostname) and parts.port != 0
    except ValueError:  # a malformed port or IPv6 address
        return False


def iso_ms(timestamp):
    moment = datetime.fromtimestamp(timestamp, timezone.utc)
    return moment.strftime('%Y-%m-%dT%H:%M:%S.') + f'{moment.microsecond // 1000:03d}Z'


def post_bytes(url, raw, headers, timeout=IPN_TIMEOUT):
    """POST exactly `raw` with exactly these header names (http.client: no proxy, no re-capitalised names);
    return (HTTP status, answer text), or (None, the error) when no answer came."""
    parts = urlsplit(url)
    connection_class = http.client.HTTPSConnection if parts.scheme == 'https' else http.client.HTTPConnection
    target = (parts.path or '/') + (f'?{parts.query}' if parts.query else '')
    connection = connection_class(parts.hostname, parts.port, timeout=timeout)
    try:
        connection.request('POST', target, body=raw, headers=headers)
        response = connection.getresponse()
        return response.status, response.read().decode('utf-8', 'replace')
    except (OSError, http.client.HTTPException) as exc:
        return None, f'{type(exc).__name__}: {exc}'
    finally:
        connection.close()


def _json(status, payload, headers=None):
    return status, {'Content-Type': 'application/json; charset=utf-8', **(headers or {})}, js_stringify_bytes(payload)


def _refusal(code, message):
    return _json(200, {'success': False, 'message': message, 'code': code})


class IntechSimulator(SimulatedClock, ProviderSimulator):
    name = 'intech'

    def __init__(self):
        super().__init__()
        self.accounts = {}  # api_key -> {'hmac_secret', 'secret_key'}
        self.services = copy.deepcopy(list(DOCUMENT_SERVICES))  # the one catalogue; a test may replace it
        self.operations = {}  # transactionId -> the accepted operation
        self.accepted = []  # the same operations, in the order they were accepted
        self.ipn_log = []  # every IPN attempt: {transaction_id, attempt, body, raw, headers, status, answer, at}
        self.outcomes = {}  # phone as sent -> 'SUCCESS' | 'FAILED', the status IPNs report (default SUCCESS)
        self.auto_ipn = None  # seconds: an IPN follows each accepted operation after this delay; None: off
        self.ipn_retry_delay = IPN_RETRY_DELAY
        self._refusals = deque()  # (code, message) for the next valid operations
        self._timers = []
        self._stop_ipns = threading.Event()  # set by reset: pending and retrying automatic IPNs give up

    # --- configuration and assertions -------------------------------------------------------------------------

    def add_account(self, api_key, hmac_secret, secret_key):
        self.accounts[api_key] = {'hmac_secret': hmac_secret, 'secret_key': secret_key}

    def reset(self):
        """Forget requests, faults, operations, IPNs (pending automatic ones too), scripted outcomes and refusals,
        clock; restore the document's catalogue; auto_ipn off. Accounts stay."""
        with self.lock:
            result = super().reset()
            self._stop_ipns.set()
            self._stop_ipns = threading.Event()
            for timer in self._timers:
                timer.cancel()
            self._timers.clear()
            self.operations.clear()
            self.accepted.clear()
            self.ipn_log.clear()
            self.outcomes.clear()
            self._refusals.clear()
            self.clock_offset = 0.0
            self.services = copy.deepcopy(list(DOCUMENT_SERVICES))
            self.auto_ipn = None
            self.ipn_retry_delay = IPN_RETRY_DELAY
        return result

    def refuse_next(self, code='INSUFFICIENT_BALANCE', message='Solde insuffisant', count=1):
        """The next `count` operations that pass every check answer success false with this code and message."""
        with self.lock:
            self._refusals.extend([(code, message)] * count)

    def set_outcome(self, phone, outcome):
        """The status the IPNs of operations for `phone` (as it was sent) report."""
        if outcome not in OUTCOMES:
            raise ValueError(f'unknown outcome {outcome!r}, expected one of {OUTCOMES}')
        with self.lock:
            self.outcomes[phone] = outcome

    def operations_for(self, external_id):
        with self.lock:
            return [operation for operation in self.accepted if operation['externalTransactionId'] == external_id]

    def accepted_count(self, external_id):
        """How many times an operation with this externalTransactionId was accepted (more than 1: paid twice)."""
        return len(self.operations_for(external_id))

    def now_ms(self):
        return int(self.now() * 1000)

    # --- HTTP -------------------------------------------------------------------------------------------------

    def error_body(self, status, reason):
        return _json(status, {'success': False, 'message': reason})

    def handle(self, method, path, query, headers, body):
        route = {SERVICES_PATH: ('GET', self._services), OPERATION_PATH: ('POST', self._operation)}.get(
            path.rstrip('/') or '/')
        if route is None:
            return _json(404, {'success': False, 'message': 'Route introuvable'})
        allowed, handler = route
        if method != allowed:
            return _json(405, {'success': False, 'message': 'Méthode non autorisée'}, {'Allow': allowed})
        with self.lock:
            return handler(headers, body)

    def _services(self, headers, body):
        key = (headers.get('Secretkey') or '').encode('utf-8', 'replace')
        known = [account['secret_key'].encode() for account in self.accounts.values()]
        if not key or not any(hmac.compare_digest(key, secret_key) for secret_key in known):
            return _json(200, {'success': False, 'message': 'Secretkey invalide'})
        return _json(200, {'success': True, 'services': self.services})

    def _operation(self, headers, body):
        if 'application/json' not in (headers.get('Content-Type') or '').lower():
            return _refusal('INVALID_REQUEST', 'Content-Type application/json attendu')
        try:
            text = body.decode('utf-8')
            payload = json.loads(text, parse_constant=_refuse_constant)
        except (UnicodeDecodeError, ValueError, RecursionError):
            return _refusal('INVALID_REQUEST', 'Corps de requête invalide : JSON attendu')
        if not isinstance(payload, dict):
            return _refusal('INVALID_REQUEST', 'Corps de requête invalide : un objet JSON est attendu')
        api_key = payload.get('apiKey')
        account = self.accounts.get(api_key) if isinstance(api_key, str) else None
        if account is None:
            return _refusal('INVALID_API_KEY', 'Clé API invalide')
        refused = self._check_timestamp(headers.get('Timestamp') or '') or self._check_signature(
            headers, text, payload, account)
        return refused or self._validate_and_accept(api_key, payload, text)

    def _check_timestamp(self, timestamp):
        if not TIMESTAMP_RE.fullmatch(timestamp):
            return _refusal('TIMESTAMP_EXPIRED', 'Timestamp manquant ou invalide')
        age = self.now_ms() - int(timestamp)
        if age > TIMESTAMP_MAX_AGE_MS:
            return _refusal('TIMESTAMP_EXPIRED', 'Timestamp expiré')
        if age < -TIMESTAMP_MAX_AHEAD_MS:
            return _refusal('TIMESTAMP_EXPIRED', 'Timestamp dans le futur')
        return None

    @staticmethod
    def _check_signature(headers, text, payload, account):
        """Signed over the raw text, and that text must be JSON.stringify's: what Intech re-computes."""
        try:
            same_text = text == js_stringify(payload)
        except (TypeError, RecursionError):
            same_text = False
        expected = intech_signature(account['hmac_secret'], 'POST', headers['Timestamp'], text)
        received = (headers.get('Hmac-Signature') or '').encode('utf-8', 'replace')
        if not (hmac.compare_digest(expected.encode(), received) and same_text):
            return _refusal('INVALID_SIGNATURE', 'Signature HMAC invalide')
        return None

    def _validate_and_accept(self, api_key, payload, text):
        code_service = payload.get('codeService')
        if not isinstance(code_service, str) or code_service not in {s['codeService'] for s in self.services}:
            return _refusal('UNKNOWN_SERVICE', 'Service inconnu ou inactif')
        amount = payload.get('amount')
        if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
            return _refusal('INVALID_AMOUNT', 'Montant invalide : un entier supérieur à 0 est attendu')
        phone = payload.get('phone')
        if not phone_accepted(code_service, phone):
            return _refusal('INVALID_PHONE', 'Numéro de téléphone invalide pour ce service')
        external_id = payload.get('externalTransactionId')
        if not isinstance(external_id, str) or not external_id or len(external_id) > EXTERNAL_ID_MAX:
            return _refusal('INVALID_REQUEST',
                            f'externalTransactionId requis ({EXTERNAL_ID_MAX} caractères au plus)')
        url_ipn = payload.get('urlIpn')
        if not is_http_url(url_ipn):
            return _refusal('INVALID_REQUEST', 'urlIpn invalide : une URL http ou https est attendue')
        if self._refusals:
            return _refusal(*self._refusals.popleft())
        transaction_id = 'ITX' + secrets.token_hex(6).upper()
        while transaction_id in self.operations:
            transaction_id = 'ITX' + secrets.token_hex(6).upper()
        operation = {
            'transactionId': transaction_id, 'externalTransactionId': external_id, 'api_key': api_key,
            'phone': phone, 'amount': amount, 'codeService': code_service, 'urlIpn': url_ipn, 'raw_body': text,
            'extra': {key: value for key, value in payload.items() if key not in BODY_KEYS},
            'status': 'PENDING', 'at': self.now(),
        }
        self.operations[transaction_id] = operation
        self.accepted.append(operation)
        if self.auto_ipn is not None:
            self._schedule_ipn(transaction_id)
        data = {key: operation[key] for key in ('transactionId', 'externalTransactionId', 'status', 'codeService',
                                                'amount', 'phone')}
        return _json(200, {'success': True, 'message': ACCEPTED_MESSAGE, 'data': data})

    # --- IPN --------------------------------------------------------------------------------------------------

    def _operation_of(self, transaction_id):
        try:
            return self.operations[transaction_id]
        except KeyError:
            raise KeyError(f'no accepted Intech operation {transaction_id!r}') from None

    def ipn_body(self, transaction_id, status=None):
        """The IPN of an operation, in the contract's key order; `status` None: the scripted outcome of its phone."""
        with self.lock:
            operation = self._operation_of(transaction_id)
            status = status or self.outcomes.get(operation['phone'], 'SUCCESS')
            if status not in IPN_STATUSES:
                raise ValueError(f'unknown IPN status {status!r}, expected one of {IPN_STATUSES}')
            return {
                'transactionId': transaction_id,
                'externalTransactionId': operation['externalTransactionId'],
                'codeService': operation['codeService'],
                'phone': operation['phone'],
                'amount': operation['amount'],
                'status': status,
                'message': IPN_MESSAGES[status],
                'date': iso_ms(self.now()),
            }

    def send_ipn(self, transaction_id, status=None, *, timestamp_offset_ms=0, bad_signature=False, secret=None,
                 raw_body=None, headers=None):
        """POST the IPN of an operation to its urlIpn, signed; return (HTTP status or None, answer text).

        Scenarios: a duplicate is two calls; out of order is 'SUCCESS' then 'PENDING'; stale is
        timestamp_offset_ms=-6 * 60 * 1000, future +5 * 60 * 1000 (both correctly signed for that timestamp);
        `bad_signature` signs with another key; `secret` replaces the account's HMAC secret; `raw_body` (str or
        bytes) is sent instead of JSON.stringify(body), signed over itself; `headers` add or replace headers
        (a value None removes one)."""
        body = self.ipn_body(transaction_id, status)
        return self._post_ipn(transaction_id, body, attempt=1, timestamp_offset_ms=timestamp_offset_ms,
                              bad_signature=bad_signature, secret=secret, raw_body=raw_body, headers=headers)

    def _post_ipn(self, transaction_id, body, *, attempt, timestamp_offset_ms=0, bad_signature=False, secret=None,
                  raw_body=None, headers=None, stop=None):
        with self.lock:
            operation = self._operation_of(transaction_id)
            key = secret if secret is not None else self.accounts[operation['api_key']]['hmac_secret']
            if body['status'] in OUTCOMES:
                operation['status'] = body['status']  # Intech's own state; a later PENDING does not undo it
        if raw_body is None:
            raw = js_stringify_bytes(body)
        else:
            raw = raw_body.encode('utf-8') if isinstance(raw_body, str) else bytes(raw_body)
        timestamp = str(self.now_ms() + int(timestamp_offset_ms))
        signed_with = key + WRONG_KEY_SUFFIX if bad_signature else key
        sent_headers = {
            'Content-Type': 'application/json',
            'Timestamp': timestamp,
            'Hmac-Signature': intech_signature(signed_with, 'POST', timestamp, raw.decode('utf-8', 'replace')),
        }
        for name, value in (headers or {}).items():
            sent_headers = {k: v for k, v in sent_headers.items() if k.lower() != name.lower()}
            if value is not None:
                sent_headers[name] = value
        status, answer = post_bytes(operation['urlIpn'], raw, sent_headers)
        entry = {'transaction_id': transaction_id, 'attempt': attempt, 'body': body, 'raw': raw,
                 'headers': sent_headers, 'status': status, 'answer': answer, 'at': self.now()}
        with self.lock:
            if stop is None or not stop.is_set():  # an automatic IPN that outlived a reset is not logged
                self.ipn_log.append(entry)
        return status, answer

    def _schedule_ipn(self, transaction_id):
        self._timers = [timer for timer in self._timers if timer.is_alive()]
        timer = threading.Timer(self.auto_ipn, self._auto_ipn, args=(transaction_id, self._stop_ipns))
        timer.daemon = True
        self._timers.append(timer)
        timer.start()

    def _auto_ipn(self, transaction_id, stop):
        """Intech's own IPN: the scripted outcome, re-sent IPN_RETRIES times, ipn_retry_delay apart, until a 200."""
        try:
            body = self.ipn_body(transaction_id)
            for attempt in range(1, IPN_RETRIES + 2):
                if stop.is_set():
                    return
                status, _answer = self._post_ipn(transaction_id, body, attempt=attempt, stop=stop)
                if status == 200 or attempt > IPN_RETRIES or stop.wait(self.ipn_retry_delay):
                    return
        except KeyError:
            return  # reset forgot the operation meanwhile
