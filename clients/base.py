"""Shared plumbing of the provider clients: one HTTP session, timeouts and error classification.

Every provider client turns an HTTP exchange into either a result dataclass or one of three errors, so the
dispatcher only has to decide between "retry later", "give up and show the message" and "ask a human".
"""

import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import NewConnectionError  # DNS failures subclass it in urllib3 2

_logger = logging.getLogger(__name__)

BODY_MAX_CHARS = 2000
NORMALIZED_STATES = ('sent', 'delivered', 'read', 'failed')


class ProviderError(Exception):
    """Base error: `message` is written for an administrator and never contains secrets."""

    def __init__(self, message, *, http_status=None, retry_after=None, body=None):
        super().__init__(message)
        self.message = message
        self.http_status = http_status
        self.retry_after = retry_after
        self.body = body[:BODY_MAX_CHARS] if body else body


class RetryableError(ProviderError):
    """The request was not processed (429, 5xx, connection refused, connect timeout): sending again is safe."""


class PermanentError(ProviderError):
    """The provider refused the request, or our configuration/input is wrong: retrying will not help."""


class OutcomeUnknownError(ProviderError):
    """The request may have reached the provider but we cannot know whether it was processed."""


@dataclass
class OutboundMessage:
    recipient_e164: str
    template_ref: str
    variables: dict
    scheduled_at: datetime | None  # aware UTC; a naive value is read as UTC (Odoo's convention)
    idempotency_key: str
    channel: str = 'whatsapp'


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
class StatusResult:
    status: str  # one of NORMALIZED_STATES
    provider_status: str
    raw: dict = field(default_factory=dict)
    cost: float | None = None
    currency: str | None = None
    error: str | None = None


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


def _sent_before_failure(exc):
    """True when the connection failed before any byte of the request left (refused, DNS, connect timeout)."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    todo, seen = [exc], set()
    while todo:
        cause = todo.pop()
        if cause is None or id(cause) in seen:
            continue
        seen.add(id(cause))
        if isinstance(cause, (NewConnectionError, ConnectionRefusedError)):
            return True
        todo += [getattr(cause, 'reason', None), cause.__cause__, cause.__context__]
        todo += [arg for arg in getattr(cause, 'args', ()) if isinstance(arg, BaseException)]
    return False


class BaseClient:
    """Base of every provider client; subclasses implement send/get_status/test_connection."""

    code = None
    can_lookup_by_idempotency_key = False
    default_base_urls = {}
    provider_label = 'The provider'

    def __init__(self, base_url, credentials, *, environment='production', timeout=10.0, pool_size=8):
        self.environment = environment
        self.base_url = (base_url or self.default_base_urls.get(environment) or '').rstrip('/')
        if not self.base_url:
            raise PermanentError(f'{self.provider_label}: no base URL configured for environment "{environment}".')
        self.credentials = dict(credentials or {})
        self.timeout = timeout
        self.session = requests.Session()
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=pool_size, max_retries=0)
        self.session.mount('http://', adapter)
        self.session.mount('https://', adapter)

    def close(self):
        self.session.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    # --- HTTP -------------------------------------------------------------------------------------------------

    def _auth_headers(self, method, path):
        """Headers added to every request (signatures); computed per call so timestamps are fresh."""
        return {}

    def _default_params(self):
        return {}

    def _request(self, method, path, *, json=None, params=None, headers=None, idempotent, errors=None):
        """Perform one call and classify the outcome; return the Response for 2xx, raise ProviderError otherwise.

        `errors` maps an HTTP status to the plain-words message to raise; `{message}` in it is replaced by the
        provider's own message.
        """
        url = self.base_url + path
        all_params = {**self._default_params(), **(params or {})}
        all_headers = {'Accept': 'application/json', **self._auth_headers(method, path), **(headers or {})}
        label = self.provider_label
        try:
            response = self.session.request(
                method, url, json=json, params=all_params or None, headers=all_headers, timeout=self.timeout
            )
        except requests.RequestException as exc:
            _logger.debug('%s %s %s -> %s', self.code, method, path, type(exc).__name__)
            if _sent_before_failure(exc):
                raise RetryableError(f'{label} could not be reached ({type(exc).__name__}); will retry.') from exc
            if idempotent:
                raise RetryableError(f'{label} did not answer in time ({type(exc).__name__}); will retry.') from exc
            raise OutcomeUnknownError(
                f'{label} did not answer ({type(exc).__name__}): the message may or may not have been accepted.'
            ) from exc
        status = response.status_code
        _logger.debug('%s %s %s -> %s', self.code, method, path, status)
        if 200 <= status < 300:
            return response
        provider_message = self._provider_message(response)
        body = response.text
        if status == 429:
            retry_after = parse_retry_after(response.headers.get('Retry-After'))
            raise RetryableError(
                f'{label} rate limit reached (HTTP 429); will retry.',
                http_status=status,
                retry_after=retry_after,
                body=body,
            )
        if status >= 500:
            message = f'{label} had a server error (HTTP {status}); will retry.'
            raise RetryableError(message, http_status=status, body=body)
        template = (errors or {}).get(status) or f'{label} refused the request (HTTP {status}): ' + '{message}'
        raise PermanentError(template.replace('{message}', provider_message), http_status=status, body=body)

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
        """Return the StatusResult of a previously sent message."""
        raise NotImplementedError

    def test_connection(self):
        """Return a plain-words success sentence; raise ProviderError on failure."""
        raise NotImplementedError
