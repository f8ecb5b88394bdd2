"""Wabek WhatsApp OTP client, written against the provider's page (shared/provider-docs/wabek-whatsapp-otp.md):
one POST asks Wabek to generate a 6-digit code and send it through the customer's connected WhatsApp instance,
one POST checks a code against the `otpId` it answered. Authentication is the X-API-Key header. Wabek keeps the
code (SHA-256 hashed, 10 minutes, one-time use): we never see it, so this client only carries one-time codes
(`send` refuses anything else).

How we read what the document does not say (the README's "Wabek: how we read its document" says the same):
- No common address: each customer runs Wabek on their own site (`https://your-site.netlify.app`), so the base
  URL is the account's and required in every environment (`default_base_urls` is empty). No test mode, no
  sandbox on Wabek's side, no status call, no callback, no idempotency key.
- Phone: the document shows E.164 with '+' (`+905551234567`): we send exactly that, after checking the number
  with phonenumbers; anything else is refused before any request. (The WHMCS example passes the number as the
  customer typed it: we do not rely on Wabek reading other forms.)
- Status codes are not documented. 401 and 403 both mean the API key was refused: the account pauses. 429 is
  retried after Retry-After. A 404 is Wabek's only in its own JSON (an object with `success` or `valid`):
  anything else (Netlify's "Page not found" page) means the base URL is wrong, and the account pauses. Other
  4xx are refusals, with Wabek's words when it gives some.
- Server errors: sending is not idempotent (a new code, a new WhatsApp message) nor is checking (a right code is
  used up), and there is no idempotency key: a 500, a 504 or a read timeout may come after Wabek acted, so they
  are OutcomeUnknownError (retry_may_duplicate=True). 503 and a gateway's 502 page prove nothing was processed:
  retried. But a 502 in JSON with `errorMessage` is how Netlify reports a function that timed out or crashed
  mid-way ("Task timed out after 10.01 seconds"): the code may already be on its way, so it is an unknown
  outcome too, not a retry.
- A verification `{"valid": false, "reason": ...}` is an answer, whether it comes with HTTP 200 or with a 4xx
  (not said): both are read. `valid` must be the JSON boolean true to verify; a 2xx without a boolean `valid`
  is an unknown outcome, never a success. The document counts no attempts: `retries_left` is always None, and
  limiting wrong attempts is the OTP engine's job.
- Connection test: the document has no harmless call. We check a code ("000000") against a random otp_id:
  nothing is sent to anybody and no one's code can be used up; a valid key gets `{"valid": false, ...}`.
"""

import json
import re
import uuid

from .base import (
    AccountError,
    BaseClient,
    ConnectionResult,
    ErrorSpec,
    OtpVerifyResult,
    OutcomeUnknownError,
    PermanentError,
    RetryableError,
    SendResult,
)
from .phone import InvalidPhoneError, to_e164

LABEL = 'Wabek'
OTP_PATH = '/api/v1/otp'
OTP_VERIFY_PATH = '/api/v1/otp-verify'
CHANNEL = 'whatsapp'
DEFAULT_PURPOSE = 'verification'  # the document's example
PURPOSE_MAX_CHARS = 64  # ours: the document shows one-word purposes ("verification", "login")
OTP_CODE_RE = re.compile(r'[0-9]{6}')  # "OTP Length: 6 digits"
# What a number may hold before it is read: digits, '+' and separators (phonenumbers would read letters as a
# keypad's digits: '+90 555 ABC DEFG' would become a valid Turkish number).
NUMBER_CHARS_RE = re.compile(r'[0-9+\s.\-()/]*')
CONNECTION_TEST_CODE = '000000'

CREDENTIALS_ERROR = ErrorSpec(code='credentials', account_level=True,
                              message='Wabek refused the API key (HTTP {status}): check the API key of the provider '
                                      'account.')
# HTTP status -> ErrorSpec(code, English message); BaseClient._request lists the placeholders.
ERRORS = {
    400: ErrorSpec(code='refused', message='Wabek refused the request: {provider_message}'),
    401: CREDENTIALS_ERROR,
    403: CREDENTIALS_ERROR,
    404: ErrorSpec(code='refused', message='Wabek: not found (HTTP 404): {provider_message}'),
}
# The 'credentials' sentence of tools/provider_errors.py then speaks of the API key alone (there is no secret).
ERROR_PARAMS = {'api_key_only': True}
CONNECTION_OK = 'Connection OK: Wabek accepted the API key.'


def _json_object(text):
    try:
        data = json.loads(text or '')
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _is_wabek_json(text):
    """Wabek's answers are JSON objects with `success` (sending) or `valid` (checking), both booleans."""
    data = _json_object(text)
    return data is not None and any(isinstance(data.get(key), bool) for key in ('success', 'valid'))


def _function_failure(text):
    """Netlify's report of a function that timed out or crashed after it started: a 502 with a JSON body such as
    {"errorMessage": "... Task timed out after 10.01 seconds"} (a gateway's own 502 is an HTML page)."""
    data = _json_object(text)
    return data is not None and bool(data.get('errorMessage'))


class WabekClient(BaseClient):
    code = 'wabek'
    provider_label = LABEL
    channels = (CHANNEL,)
    can_lookup_by_idempotency_key = False  # no idempotency key, no search
    deduplicates_by_idempotency_key = False
    supports_status = False  # no status call nor callback: a code Wabek accepted stays "sent"
    supports_otp = True
    sends_messages = False  # only the codes it generates itself
    # No common address, no test mode: every account gives its own site's URL (sandbox: the simulator's).
    default_base_urls = {}

    def __init__(self, base_url, credentials, **kwargs):
        super().__init__(base_url, credentials, **kwargs)
        self.api_key = (self.credentials.get('api_key') or '').strip()
        if not self.api_key:
            raise AccountError('Wabek: the API key is required.', code='missing_api_key', params={'provider': LABEL})

    def _auth_headers(self, method, path):
        return {'Content-Type': 'application/json', 'X-API-Key': self.api_key}

    @staticmethod
    def _provider_message(response):
        """Wabek's own words: `error`, `message` or (checking) `reason`; else the start of the body."""
        data = _json_object(response.text)
        for key in ('error', 'message', 'reason', 'errorMessage'):
            if data is not None and isinstance(data.get(key), str) and data[key]:
                return data[key]
        return BaseClient._provider_message(response)

    def _request(self, method, path, **kwargs):
        """BaseClient._request, where a 404 outside Wabek's JSON means the base URL does not lead to Wabek, and a
        Netlify function failure (502 with `errorMessage`) on a call that is not idempotent may come after Wabek
        acted."""
        kwargs['error_params'] = {**ERROR_PARAMS, **(kwargs.get('error_params') or {})}
        try:
            return super()._request(method, path, **kwargs)
        except RetryableError as exc:
            if exc.http_status != 502 or kwargs.get('idempotent') or not _function_failure(exc.body):
                raise
            raise OutcomeUnknownError(
                f'{LABEL} failed while handling the request (HTTP 502, {self._provider_message_of(exc.body)}): it '
                'may or may not have acted on it.',
                code='server_error_unknown', params={'provider': LABEL, 'status': 502}, http_status=502,
                body=exc.body, retry_may_duplicate=True,
            ) from exc
        except AccountError:
            raise
        except PermanentError as exc:
            if exc.http_status != 404 or _is_wabek_json(exc.body):
                raise
            raise self._not_provider_url(404, exc.body) from exc

    @staticmethod
    def _provider_message_of(text):
        data = _json_object(text) or {}
        return str(data.get('errorMessage') or data.get('error') or '')[:200]

    @staticmethod
    def _recipient(raw):
        """'+905551234567' (E.164, as the document's example), or a PermanentError before anything is sent."""
        try:
            if not isinstance(raw, str) or not NUMBER_CHARS_RE.fullmatch(raw):
                raise InvalidPhoneError(f"'{raw}' is not a phone number.", raw=str(raw or ''))
            return to_e164(raw)
        except InvalidPhoneError:
            raise PermanentError(f"Wabek: the number '{raw or ''}' is not a valid international (E.164) number.",
                                 code='bad_recipient', params={'provider': LABEL, 'number': raw or ''}) from None

    @staticmethod
    def _check_channel(channel):
        if channel != CHANNEL:
            raise PermanentError(f'Wabek cannot send this on the channel "{channel}" (only WhatsApp).',
                                 code='channel_not_supported', params={'provider': LABEL, 'channel': str(channel)})

    @staticmethod
    def _purpose(purpose):
        purpose = purpose or DEFAULT_PURPOSE
        purpose = purpose.strip() if isinstance(purpose, str) else ''
        if not purpose or len(purpose) > PURPOSE_MAX_CHARS:
            raise PermanentError(f'Wabek: the purpose of a code is a text of 1 to {PURPOSE_MAX_CHARS} characters.',
                                 code='bad_otp_purpose', params={'provider': LABEL, 'max': PURPOSE_MAX_CHARS})
        return purpose

    @staticmethod
    def _maybe_sent(text, **kwargs):
        return OutcomeUnknownError(text + ' The code may or may not have been sent.', **kwargs)

    # --- messages: none ---------------------------------------------------------------------------------------

    def send(self, msg):
        """Wabek sends only the codes it generates itself (send_otp_message); a rule's message cannot go through."""
        raise PermanentError('Wabek only sends the one-time codes it generates: it cannot send this message.',
                             code='otp_only', params={'provider': LABEL})

    def get_status(self, provider_ref):
        raise NotImplementedError('Wabek has no status endpoint: a code stays "sent" once Wabek accepted it.')

    # --- OTP --------------------------------------------------------------------------------------------------

    def send_otp_message(self, outbound):
        """Ask Wabek to generate a code and send it by WhatsApp; provider_ref is Wabek's otpId, which check_otp needs.
        `outbound.otp_purpose` (default "verification") is Wabek's `purpose`; the language is Wabek's own choice."""
        self._check_channel(outbound.channel)
        payload = {'phone': self._recipient(outbound.recipient_e164), 'purpose': self._purpose(outbound.otp_purpose)}
        response = self._request('POST', OTP_PATH, json=payload, idempotent=False, errors=ERRORS)
        status = response.status_code
        body = self._json_answer(response, on_garbage=self._maybe_sent)  # unreadable: unknown; success false: refused
        if body.get('success') is not True:
            provider_message = self._provider_message(response)
            raise PermanentError(f'Wabek did not confirm the code was sent: {provider_message or "no reason given"}',
                                 code='refused',
                                 params={'provider': LABEL, 'status': status, 'provider_message': provider_message},
                                 http_status=status, body=response.text)
        otp_id = body.get('otpId')
        if isinstance(otp_id, bool) or not isinstance(otp_id, (str, int)) or not str(otp_id).strip():
            # A code may have gone out, but without its otpId nobody can check it: the person asks for a new one.
            raise PermanentError('Wabek answered without the reference of the code (otpId).', code='no_reference',
                                 params={'provider': LABEL, 'status': status}, http_status=status,
                                 body=response.text)
        otp_id = str(otp_id).strip()
        return SendResult(provider_ref=otp_id, status='sent', provider_status='otp_sent', cost=None, currency=None,
                          raw=body, scheduled_at=None)

    def check_otp(self, provider_ref, phone_e164, code, *, channel=CHANNEL):
        """Ask Wabek whether `code` is the one of the otpId `provider_ref`; return OtpVerifyResult.

        Wabek checks by otpId: `phone_e164` is not sent. Not idempotent: a right code is used up. A wrong, expired,
        used or unknown code is an answer (verified False, Wabek's `reason` as message), with HTTP 200 or a 4xx."""
        self._check_channel(channel)
        otp_id = str(provider_ref or '').strip()
        if not otp_id:
            raise PermanentError('Wabek: there is no otpId to check this code against.', code='missing_otp_reference',
                                 params={'provider': LABEL})
        code = str(code or '').strip()
        if not OTP_CODE_RE.fullmatch(code):
            raise PermanentError('Wabek: an OTP code is exactly 6 digits.', code='bad_otp_format',
                                 params={'provider': LABEL})
        payload = {'otp_id': otp_id, 'otp': code}
        try:
            response = self._request('POST', OTP_VERIFY_PATH, json=payload, idempotent=False, errors=ERRORS)
        except AccountError:
            raise
        except PermanentError as exc:
            data = _json_object(exc.body)
            if data is None or data.get('valid') is not False:
                raise
            return self._verify_result(data)
        # the code may or may not have been right (and used up): the OTP engine must not let anyone in
        data = self._json_answer(response, on_garbage=OutcomeUnknownError)
        if not isinstance(data.get('valid'), bool):
            status = response.status_code
            raise OutcomeUnknownError('Wabek answered the OTP check without a verdict.', code='unreadable_answer',
                                      params={'provider': LABEL, 'status': status}, http_status=status,
                                      body=response.text)
        return self._verify_result(data)

    @staticmethod
    def _verify_result(data):
        reason = data.get('reason')
        return OtpVerifyResult(verified=data.get('valid') is True, retries_left=None,
                               message=str(reason) if reason else '')

    # --- connection -------------------------------------------------------------------------------------------

    def test_connection(self):
        """Check "000000" against a random otp_id: the key is accepted when Wabek answers with its verdict (any
        status but 401/403), refused on 401/403; anything that is not Wabek's verdict means the base URL is wrong.
        Nothing is sent to anybody, and a random otp_id cannot use up anyone's code."""
        payload = {'otp_id': str(uuid.uuid4()), 'otp': CONNECTION_TEST_CODE}
        try:
            # idempotent: checking an unknown otp_id changes nothing, so a 5xx is simply retryable
            response = self._request('POST', OTP_VERIFY_PATH, json=payload, idempotent=True, errors=ERRORS)
        except AccountError:
            raise
        except PermanentError as exc:
            if isinstance((_json_object(exc.body) or {}).get('valid'), bool):
                return self._connection_ok()
            raise self._not_provider_url(exc.http_status, exc.body) from exc
        if isinstance((_json_object(response.text) or {}).get('valid'), bool):
            return self._connection_ok()
        raise self._not_provider_url(response.status_code, response.text)

    def _connection_ok(self):
        return ConnectionResult(CONNECTION_OK, code='connection_ok', params={'provider': LABEL, 'url': self.base_url})
