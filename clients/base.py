"""Shared plumbing of the provider clients: one HTTP session, timeouts and error classification.

Every provider client turns an HTTP exchange into either a result dataclass or one of three errors, so the
dispatcher only has to decide between "retry later", "give up and show the message" and "ask a human".
"""

import logging
import os
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import NamedTuple
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import NewConnectionError  # DNS failures subclass it in urllib3 2
from urllib3.util import Retry

_logger = logging.getLogger(__name__)

BODY_MAX_CHARS = 2000
NORMALIZED_STATES = ('sent', 'delivered', 'read', 'failed')


class ProviderError(Exception):
    """Base error: `message` is an English sentence for an administrator (and the logs), never containing secrets.

    `code` (a short stable string such as 'rate_limited') and `params` (a dict, usually with 'provider') say the
    same thing in a form the Odoo side can translate: see tools/provider_errors.py.
    """

    default_code = 'provider_error'  # no translation entry: the Odoo side shows `message`

    def __init__(self, message, *, code=None, params=None, http_status=None, retry_after=None, body=None):
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.params = dict(params or {})
        self.http_status = http_status
        self.retry_after = retry_after
        self.body = body[:BODY_MAX_CHARS] if body else body


class RetryableError(ProviderError):
    """The request was not processed (429, 502/503, connection refused, connect timeout), or resending it is
    harmless (a status read): sending again is safe."""


class PermanentError(ProviderError):
    """The provider refused the request, or our configuration/input is wrong: retrying will not help."""


class AccountError(PermanentError):
    """The account's credentials or configuration are wrong (401/403, a base URL that does not lead to the provider,
    missing credentials): nothing will go through this account until an administrator fixes it; the dispatcher
    pauses the account instead of failing messages."""


class OutcomeUnknownError(ProviderError):
    """The request may have reached the provider but we cannot know whether it was processed.

    `retry_may_duplicate` is True when the ambiguity is at the transport level (no answer after the request left,
    a 5xx that does not prove the request was dropped): an account that accepts a possible duplicate may resend.
    It is False for a 2xx answer we cannot read: the provider most likely accepted the message, so resending would
    almost certainly duplicate it.
    """

    retry_may_duplicate = False

    def __init__(self, message, *, retry_may_duplicate=False, **kwargs):
        super().__init__(message, **kwargs)
        self.retry_may_duplicate = retry_may_duplicate


class _KeepMissing(dict):
    """format_map() mapping that leaves an unknown {placeholder} as it is instead of raising KeyError."""

    def __missing__(self, key):
        return '{' + key + '}'


class ErrorSpec(NamedTuple):
    """How a client reads one HTTP error status: the error code, its English message (see _request), and whether it
    is the account's fault rather than the message's (raised as AccountError)."""

    code: str
    message: str
    account_level: bool = False


@dataclass
class OutboundMessage:
    recipient_e164: str
    template_ref: str
    variables: dict
    scheduled_at: datetime | None  # aware UTC; a naive value is read as UTC (Odoo's convention)
    idempotency_key: str
    channel: str = 'whatsapp'
    body: str | None = None  # the text of an SMS (providers that send free text rather than a template)
    # 'otp': ask the provider to generate and send a one-time code (send_otp_message) rather than a message
    kind: str = 'message'
    otp_purpose: str | None = None
    language: str | None = None  # Odoo language code of the recipient, for providers that localise OTP texts
    # kind 'money': (request, country) for the client's send_operation (a money operation, not a message)
    operation: tuple | None = None


@dataclass
class SendResult:
    provider_ref: str
    status: str  # one of NORMALIZED_STATES
    provider_status: str
    cost: float | None
    currency: str | None
    raw: dict
    scheduled_at: datetime | None


@dataclass
class OtpVerifyResult:
    """A provider's answer to "is this the code you sent?". `retries_left` when the provider counts them (0: the code
    is gone), else None. A wrong, expired or unknown code is an answer, not an error."""

    verified: bool
    retries_left: int | None
    message: str


@dataclass
class StatusResult:
    status: str  # one of NORMALIZED_STATES
    provider_status: str
    raw: dict = field(default_factory=dict)
    cost: float | None = None
    currency: str | None = None
    error: str | None = None
    # `error` again, translatable: code 'delivery_failed' with provider, provider_status, provider_message
    error_code: str | None = None
    error_params: dict = field(default_factory=dict)


class ConnectionResult(str):
    """What test_connection() returns: the English success sentence (it *is* that str, for logs and old callers)
    plus `code` and `params` so the Odoo side can say it in the user's language."""

    def __new__(cls, message, *, code='connection_ok', params=None):
        result = super().__new__(cls, message)
        result.code = code
        result.params = dict(params or {})
        return result

    @property
    def message(self):
        return str(self)


def parse_retry_after(value):
    """Return the Retry-After header as seconds (delta-seconds or HTTP-date form), None if absent/unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.replace('.', '', 1).isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max((when - datetime.now(timezone.utc)).total_seconds(), 0.0)


def is_http_url(url):
    """http(s)://host[:port][/path], the only kind of base URL a client can call."""
    try:
        parsed = urlsplit(url or '')
        parsed.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return False
    return parsed.scheme in ('http', 'https') and bool(parsed.hostname)


def _caused_by(exc, types):
    """True when `exc` or an exception it wraps is one of `types` (urllib3 and requests also wrap in reason/args)."""
    todo, seen = [exc], set()
    while todo:
        cause = todo.pop()
        if cause is None or id(cause) in seen:
            continue
        seen.add(id(cause))
        if isinstance(cause, types):
            return True
        todo += [getattr(cause, 'reason', None), cause.__cause__, cause.__context__]
        todo += [arg for arg in getattr(cause, 'args', ()) if isinstance(arg, BaseException)]
    return False


def _sent_before_failure(exc):
    """True when the connection failed before any byte of the request left (refused, DNS, connect timeout)."""
    return isinstance(exc, requests.ConnectTimeout) or _caused_by(exc, (NewConnectionError, ConnectionRefusedError))


def _dropped_before_answer(exc):
    """True when the peer closed or reset the connection before the answer's headers (RemoteDisconnected is a
    ConnectionResetError). requests raises ConnectionError only before the headers: a failure in the body is a
    ChunkedEncodingError."""
    return isinstance(exc, requests.ConnectionError) and _caused_by(exc, (ConnectionResetError, BrokenPipeError))


# Per thread, since the dispatcher shares a client (and its pools) between threads: `reused` says whether the
# connection the pool handed out last was already open (keep-alive); `fresh` makes the pool open a new one.
_connection_state = threading.local()


class _ReuseTrackingPool:
    def _get_conn(self, timeout=None):
        conn = super()._get_conn(timeout=timeout)
        if getattr(_connection_state, 'fresh', False) and conn.sock is not None:
            conn.close()
            conn = self._new_conn()
        _connection_state.reused = conn.sock is not None
        return conn


class _HTTPPool(_ReuseTrackingPool, HTTPConnectionPool):
    pass


class _HTTPSPool(_ReuseTrackingPool, HTTPSConnectionPool):
    pass


class _Adapter(HTTPAdapter):
    """HTTPAdapter whose direct connections record their reuse (requests through a proxy do not: never resent)."""

    def init_poolmanager(self, *args, **kwargs):
        result = super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {'http': _HTTPPool, 'https': _HTTPSPool}
        return result


def _environment_settings_once(session, base_url):
    """The environment's proxy (HTTP(S)_PROXY, NO_PROXY) and CA bundle (REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE) for the
    client's one host, read now instead of before each request: requests reads and parses the whole environment on
    every call (bench/bench_dispatch.py, 10,000 messages at concurrency 100: 17.1 s of dispatcher CPU before, 14.0
    to 14.2 s after). A client lives as long as its account's settings; the environment of an Odoo process does not
    change while it runs."""
    session.proxies.update(requests.utils.get_environ_proxies(base_url))
    ca_bundle = os.environ.get('REQUESTS_CA_BUNDLE') or os.environ.get('CURL_CA_BUNDLE')
    if ca_bundle:
        session.verify = ca_bundle
    session.trust_env = False


def _no_auth(request):
    """requests' auth hook that adds nothing (the client's own headers carry its credentials)."""
    return request


class BaseClient:
    """Base of every provider client; subclasses implement send/get_status/test_connection."""

    code = None
    channels = ()  # what the provider carries: 'whatsapp', 'sms'
    can_lookup_by_idempotency_key = False
    # The provider ignores a repeated idempotency key: resending a request it may have processed is safe.
    deduplicates_by_idempotency_key = False
    # 5xx statuses that prove the request was not processed: a gateway that could not reach the provider, a
    # service refusing work. Any other 5xx may come after the provider queued the message.
    unprocessed_statuses = frozenset({502, 503})
    # The provider can tell a message's status (get_status): the status poller skips accounts whose client cannot.
    supports_status = True
    default_base_urls = {}
    provider_label = 'The provider'
    otp_send_limits = ()  # ((window seconds, sends allowed per number), ...) where the provider documents them
    # The provider generates and checks one-time codes itself (send_otp_message / check_otp); the OTP engine
    # then never sees the code.
    supports_otp = False
    # The provider sends messages we write (templates, SMS texts); False for a provider that only sends its own
    # one-time codes (Wabek).
    sends_messages = True

    def __init__(self, base_url, credentials, *, environment='production', timeout=10.0, pool_size=8):
        self.environment = environment
        self.base_url = (base_url or self.default_base_urls.get(environment) or '').rstrip('/')
        if not self.base_url:
            raise AccountError(
                f'{self.provider_label}: no base URL configured for environment "{environment}".',
                code='no_base_url', params={'provider': self.provider_label, 'environment': environment},
            )
        if not is_http_url(self.base_url):
            raise AccountError(
                f'{self.provider_label}: the base URL "{self.base_url}" is not a valid http(s) address.',
                code='bad_url', params={'provider': self.provider_label, 'url': self.base_url},
            )
        self.credentials = dict(credentials or {})
        self.timeout = timeout
        self.session = requests.Session()
        # Every client signs its own requests: with no session auth, requests looks for ~/.netrc before each
        # request (a file lookup: 6% of the dispatcher's time at 300 messages/s, bench/bench_dispatch.py).
        self.session.auth = _no_auth
        _environment_settings_once(self.session, self.base_url)
        # urllib3 retries a failed connect once (nothing was written yet), nothing else: _request classifies.
        retry = Retry(total=None, connect=1, read=False, status=0, other=0, redirect=0, raise_on_status=False)
        adapter = _Adapter(pool_connections=1, pool_maxsize=pool_size, max_retries=retry)
        self.session.mount('http://', adapter)
        self.session.mount('https://', adapter)

    def close(self):
        self.session.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    # --- OTP delegated to the provider ------------------------------------------------------------------------

    def send_otp_message(self, outbound):
        """Ask the provider to generate a code and send it to `outbound.recipient_e164` on `outbound.channel`;
        return a SendResult whose provider_ref is what check_otp needs."""
        raise PermanentError(f'{self.provider_label} does not send one-time codes itself.', code='otp_unsupported',
                             params={'provider': self.provider_label})

    def check_otp(self, provider_ref, phone_e164, code, *, channel='sms'):
        """Ask the provider whether `code` is the one it sent (provider_ref: send_otp_message's); OtpVerifyResult."""
        raise PermanentError(f'{self.provider_label} does not check one-time codes itself.', code='otp_unsupported',
                             params={'provider': self.provider_label})

    def _not_provider_url(self, status, body):
        """An answer that is not the provider's (another site's page, a web server's 404): the base URL is wrong,
        which pauses the account."""
        params = {'provider': self.provider_label, 'url': self.base_url}
        if status != 404:
            params['status'] = status
        return AccountError(
            f'{self.base_url} answered HTTP {status} with something that is not a {self.provider_label} answer: '
            'check the base URL.', code='not_provider_url', params=params, http_status=status, body=body,
        )

    # --- HTTP -------------------------------------------------------------------------------------------------

    def _auth_headers(self, method, path):
        """Headers added to every request (signatures); computed per call so timestamps are fresh."""
        return {}

    def _default_params(self):
        return {}

    def _request(self, method, path, *, json=None, data=None, params=None, headers=None, idempotent, errors=None,
                 error_params=None):
        """Perform one call and classify the outcome; return the Response for 2xx, raise ProviderError otherwise.

        `errors` maps an HTTP status (4xx) to an ErrorSpec; its message is formatted with the error's params:
        `provider`, `status`, `provider_message` (the provider's own words) and those of `error_params`.
        `data`: the exact bytes to send instead of `json` (a provider that signs the body as it serialises it).
        Unlisted 4xx statuses are 'refused'. A 5xx is retryable when `idempotent`, when the client
        `deduplicates_by_idempotency_key` or when its status is in `unprocessed_statuses`; otherwise its outcome is
        unknown.
        """
        url = self.base_url + path
        all_params = {**self._default_params(), **(params or {})}
        all_headers = {'Accept': 'application/json', **self._auth_headers(method, path), **(headers or {})}
        label = self.provider_label
        safe_to_resend = idempotent or self.deduplicates_by_idempotency_key
        try:
            response = self._send_http(
                method, url, json=json, data=data, params=all_params or None, headers=all_headers,
                timeout=self.timeout,
            )
        except requests.RequestException as exc:
            _logger.debug('%s %s %s -> %s', self.code, method, path, type(exc).__name__)
            failure = {'provider': label, 'error_type': type(exc).__name__, 'timeout': self.timeout}
            if _sent_before_failure(exc):
                raise RetryableError(f'{label} could not be reached ({type(exc).__name__}); will retry.',
                                     code='unreachable', params=failure) from exc
            if safe_to_resend:
                raise RetryableError(f'{label} did not answer in time ({type(exc).__name__}); will retry.',
                                     code='timeout', params=failure) from exc
            raise OutcomeUnknownError(
                f'{label} did not answer ({type(exc).__name__}): the message may or may not have been accepted.',
                code='no_answer', params=failure, retry_may_duplicate=True,
            ) from exc
        status = response.status_code
        _logger.debug('%s %s %s -> %s', self.code, method, path, status)
        if 200 <= status < 300:
            return response
        body = response.text
        if status == 429:
            retry_after = parse_retry_after(response.headers.get('Retry-After'))
            raise RetryableError(
                f'{label} rate limit reached (HTTP 429); will retry.',
                code='rate_limited',
                params={'provider': label, 'status': status, 'retry_after': retry_after},
                http_status=status,
                retry_after=retry_after,
                body=body,
            )
        if status >= 500:
            server_error = {'provider': label, 'status': status}
            if safe_to_resend or status in self.unprocessed_statuses:
                raise RetryableError(f'{label} had a server error (HTTP {status}); will retry.', code='server_error',
                                     params=server_error, http_status=status, body=body)
            raise OutcomeUnknownError(
                f'{label} had a server error (HTTP {status}) after receiving the message: it may or may not have '
                'been accepted.',
                code='server_error_unknown', params=server_error, http_status=status, body=body,
                retry_may_duplicate=True,
            )
        error_params = {
            **(error_params or {}),
            'provider': label,
            'status': status,
            'provider_message': self._provider_message(response),
        }
        spec = (errors or {}).get(status) or ErrorSpec(
            code='refused', message='{provider} refused the request (HTTP {status}): {provider_message}')
        error_class = AccountError if spec.account_level else PermanentError
        raise error_class(spec.message.format_map(_KeepMissing(error_params)), code=spec.code, params=error_params,
                          http_status=status, body=body)

    def _send_http(self, method, url, **kwargs):
        """session.request, sent again once on a new connection when a reused keep-alive connection is closed or
        reset before any answer: the server almost always dropped it as idle meanwhile, without reading the request.
        Browsers resend in that case, POST included; any other failure is left to _request."""
        _connection_state.reused = False
        try:
            return self.session.request(method, url, **kwargs)
        except requests.ConnectionError as exc:
            if not (_connection_state.reused and _dropped_before_answer(exc)):
                raise
            _logger.debug('%s %s %s: reused connection dropped (%s), sending again', self.code, method, url,
                          type(exc).__name__)
        _connection_state.fresh = True
        try:
            return self.session.request(method, url, **kwargs)
        finally:
            _connection_state.fresh = False

    def _json_answer(self, response, *, on_garbage, refusal_message=None):
        """The JSON object of a 2xx answer: an unreadable body raises `on_garbage(...)`, and `success: false` is a
        refusal even with HTTP 200 (its reason: `refusal_message(response)`, by default `_provider_message`)."""
        label, status = self.provider_label, response.status_code
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise on_garbage(f'{label} answered with an unreadable body.', code='unreadable_answer',
                             params={'provider': label, 'status': status}, http_status=status, body=response.text)
        if body.get('success') is False:
            provider_message = (refusal_message or self._provider_message)(response)
            raise PermanentError(f'{label} refused the request: {provider_message or "no reason given"}',
                                 code='refused',
                                 params={'provider': label, 'status': status, 'provider_message': provider_message},
                                 http_status=status, body=response.text)
        return body

    @staticmethod
    def _provider_message(response):
        try:
            data = response.json()
        except ValueError:
            data = None
        if isinstance(data, dict):
            for key in ('message', 'error', 'detail'):
                if data.get(key) and isinstance(data[key], str):
                    return data[key]
        return (response.text or response.reason or '').strip()[:200]

    # --- API of a provider client -----------------------------------------------------------------------------

    def send(self, msg):
        """Send one OutboundMessage, return a SendResult."""
        raise NotImplementedError

    def get_status(self, provider_ref):
        """Return the StatusResult of a previously sent message (only where `supports_status`)."""
        raise NotImplementedError

    def test_connection(self):
        """Return a ConnectionResult (the English success sentence, code 'connection_ok'); raise ProviderError
        on failure."""
        raise NotImplementedError

    def lookup(self, idempotency_key):
        """Only where `can_lookup_by_idempotency_key`: after a crash mid-send, ask the provider whether it has
        a message with our key. Return its SendResult, or None if it never received it (safe to send)."""
        raise NotImplementedError
