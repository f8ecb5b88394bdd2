"""Chinqit (sms.chinqit.com, Mauritania) SMS and OTP client, written against the provider's API reference
(shared/provider-docs/chinqit-sms-otp-api.md): one POST to send an SMS, two to send and verify an OTP.
Authentication is the X-API-Key header. No ping endpoint, no status endpoint, no idempotency key, no callback.

Server errors: the document asks to retry 429, 500 and 502. A 500 may come after Chinqit queued the message (or
generated and sent the OTP), and without an idempotency key a resend may duplicate it: a 500 on any of the three
POSTs stays an OutcomeUnknownError (retry_may_duplicate=True) and the account's policy (or the OTP engine) decides.
502 means the request did not go through (a gateway, or Chinqit's WhatsApp provider): retried.
"""

import json
import re
from dataclasses import dataclass

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
from .phone import InvalidPhoneError, to_mauritanian_e164

LABEL = 'Chinqit'
PRODUCTION_URL = 'https://sms.chinqit.com'
SEND_PATH = '/messages/send'
OTP_SEND_PATH = '/otp/send'
OTP_VERIFY_PATH = '/otp/verify'

OTP_CHANNELS = ('sms', 'whatsapp')
OTP_LANGUAGES = ('fr', 'en', 'ar')
OTP_DEFAULT_LANGUAGE = 'fr'  # the document's default
OTP_DEFAULT_EXPIRES_IN = 600  # "valide pendant 10 minutes", when the answer does not say
# Google's SMS Retriever app hash: 11 characters of base64 (the document only says "11 caractères").
APP_HASH_RE = re.compile(r'[A-Za-z0-9+/]{11}')
OTP_CODE_RE = re.compile(r'[0-9]{6}')

# HTTP status -> ErrorSpec(code, English message); BaseClient._request lists the placeholders.
ERRORS = {
    400: ErrorSpec(code='refused', message='Chinqit refused the request: {provider_message}'),
    401: ErrorSpec(code='missing_api_key', account_level=True,
                   message='Chinqit says the API key is missing: check the API key of the provider account.'),
    403: ErrorSpec(code='credentials', account_level=True,
                   message='Chinqit refused the API key: check the API key of the provider account.'),
    404: ErrorSpec(code='refused', message='Chinqit: resource not found (HTTP 404): {provider_message}'),
}
# The 'credentials' sentence of tools/provider_errors.py then speaks of the API key alone (there is no secret).
ERROR_PARAMS = {'api_key_only': True}
CONNECTION_OK = 'Connection OK: Chinqit accepted the API key.'


@dataclass
class OtpSendResult:
    message_id: str
    expires_in: int  # seconds


def otp_language(lang):
    """Odoo's 'fr_FR' / 'ar_001' / 'en_US' (or 'fr', 'en', 'ar') -> Chinqit's fr|en|ar; anything else -> 'fr'."""
    code = str(lang or '').replace('-', '_').split('_')[0].lower()
    return code if code in OTP_LANGUAGES else OTP_DEFAULT_LANGUAGE


def _envelope(text):
    """Chinqit's error envelope {"success": false, "message": ..., "errors": [...]} as a dict, else None."""
    try:
        data = json.loads(text or '')
    except ValueError:
        return None
    if isinstance(data, dict) and data.get('success') is False and isinstance(data.get('message'), str):
        return data
    return None


def _error_strings(data):
    """The `errors` array's texts (strings, or objects with a message, as validators write them)."""
    errors = data.get('errors') if isinstance(data, dict) else None
    texts = []
    for item in errors if isinstance(errors, list) else ():
        text = item.get('message') or item.get('msg') if isinstance(item, dict) else item
        if text:
            texts.append(str(text))
    return texts


class ChinqitClient(BaseClient):
    code = 'chinqit'
    provider_label = LABEL
    channels = ('sms', 'whatsapp')  # WhatsApp for OTP codes only: a plain message goes by SMS
    can_lookup_by_idempotency_key = False  # the API has no idempotency key and no search
    deduplicates_by_idempotency_key = False
    supports_status = False  # the document has no status endpoint (nor callback)
    supports_otp = True
    # "Limitation de débit, envoi d'OTP, par numéro de téléphone par clé API": (window in seconds, sends allowed).
    # Enforced before the call by notify.otp.request, so a person is told when to retry instead of meeting a 429.
    otp_send_limits = ((60, 3), (3600, 10), (86400, 20))
    # The document has no test mode nor sandbox: 'test' also points at production.
    default_base_urls = {'production': PRODUCTION_URL, 'test': PRODUCTION_URL}

    def __init__(self, base_url, credentials, **kwargs):
        super().__init__(base_url, credentials, **kwargs)
        self.api_key = (self.credentials.get('api_key') or '').strip()
        if not self.api_key:
            raise AccountError('Chinqit: the API key is required.', code='missing_api_key',
                               params={'provider': LABEL})

    def _auth_headers(self, method, path):
        return {'Content-Type': 'application/json', 'X-API-Key': self.api_key}

    @staticmethod
    def _provider_message(response):
        """Chinqit's `message`, followed by its `errors` array when it has one."""
        data = _envelope(response.text)
        if data is None:
            return BaseClient._provider_message(response)
        details = _error_strings(data)
        return data['message'] + (': ' + '; '.join(details) if details else '')

    def _request(self, method, path, **kwargs):
        """BaseClient._request, where a 404 outside Chinqit's JSON envelope (a web server's page, a mistyped path)
        means that the base URL does not lead to Chinqit: the account's fault, not the message's."""
        kwargs['error_params'] = {**ERROR_PARAMS, **(kwargs.get('error_params') or {})}
        try:
            return super()._request(method, path, **kwargs)
        except PermanentError as exc:
            if exc.http_status != 404 or _envelope(exc.body) is not None:
                raise
            raise self._not_provider_url(404, exc.body) from exc

    @staticmethod
    def _recipient(raw):
        """'+222XXXXXXXX', or a PermanentError before anything is sent."""
        try:
            return to_mauritanian_e164(raw)
        except InvalidPhoneError as exc:
            params = {'provider': LABEL, 'number': raw or ''}
            if exc.code == 'not_mauritanian':
                raise PermanentError(f'Chinqit only sends to Mauritanian numbers: {exc}',
                                     code='not_mauritanian_recipient', params=params) from None
            raise PermanentError(str(exc), code='bad_mauritanian_recipient', params=params) from None

    @staticmethod
    def _check_channel(channel, allowed):
        if channel not in allowed:
            raise PermanentError(f'Chinqit cannot send this on the channel "{channel}" (only {", ".join(allowed)}).',
                                 code='channel_not_supported', params={'provider': LABEL, 'channel': str(channel)})

    def _body(self, response, *, on_garbage):
        """The JSON object of a 2xx answer, with its messageId; `success: false` is a refusal even with HTTP 200."""
        status = response.status_code
        body = self._json_answer(response, on_garbage=on_garbage)
        if not body.get('messageId'):
            raise on_garbage('Chinqit answered without a message reference.', code='no_reference',
                             params={'provider': LABEL, 'status': status}, http_status=status, body=response.text)
        return body

    @staticmethod
    def _maybe_accepted(text, **kwargs):
        return OutcomeUnknownError(text + ' The message may or may not have been accepted.', **kwargs)

    # --- messages ---------------------------------------------------------------------------------------------

    def send(self, msg):
        self._check_channel(msg.channel, ('sms',))
        if not (msg.body or '').strip():
            raise PermanentError('Chinqit: the message has no text.', code='empty_body', params={'provider': LABEL})
        payload = {'message': msg.body, 'phoneNumber': self._recipient(msg.recipient_e164)}
        response = self._request('POST', SEND_PATH, json=payload, idempotent=False, errors=ERRORS)
        body = self._body(response, on_garbage=self._maybe_accepted)
        return SendResult(
            provider_ref=str(body['messageId']),
            status='sent',
            provider_status='queued' if body.get('queued') is True else 'accepted',
            cost=None,
            currency=None,
            raw=body,
            scheduled_at=None,
        )

    def get_status(self, provider_ref):
        raise NotImplementedError('Chinqit has no status endpoint: a message stays "sent" once Chinqit queued it.')

    def test_connection(self):
        """The document has no ping. We POST an EMPTY body to /messages/send: Chinqit checks the API key first (401
        missing, 403 invalid), then refuses the missing fields with 400 in its JSON envelope; nothing is sent and
        no OTP attempt of anyone is used. That the key is checked before the body is our reading of the document:
        to confirm once against production."""
        try:
            # idempotent: an empty request cannot send anything, so a 5xx is simply retryable
            response = self._request('POST', SEND_PATH, json={}, idempotent=True, errors=ERRORS)
        except AccountError:
            raise
        except PermanentError as exc:
            if exc.http_status == 400 and _envelope(exc.body) is not None:
                return self._connection_ok()
            if exc.http_status == 404 or _envelope(exc.body) is None:
                raise self._not_provider_url(exc.http_status, exc.body) from exc
            raise
        if _envelope(response.text) is not None:  # refused with HTTP 200: the key was accepted all the same
            return self._connection_ok()
        raise self._not_provider_url(response.status_code, response.text)

    def _connection_ok(self):
        return ConnectionResult(CONNECTION_OK, code='connection_ok', params={'provider': LABEL, 'url': self.base_url})

    # --- OTP --------------------------------------------------------------------------------------------------

    def send_otp(self, phone_e164, *, channel='sms', language=None, app_hash=None):
        """Ask Chinqit to generate a 6-digit code and send it; return OtpSendResult. Chinqit keeps the code: we
        never see it. `app_hash` is the Android app's SMS Retriever hash, appended to the SMS on its own line."""
        self._check_channel(channel, OTP_CHANNELS)
        payload = {'phoneNumber': self._recipient(phone_e164), 'channel': channel, 'language': otp_language(language)}
        if app_hash:
            if channel != 'sms' or not APP_HASH_RE.fullmatch(str(app_hash)):
                raise PermanentError(
                    'Chinqit: the SMS Retriever hash must be exactly 11 characters (letters, digits, + or /) and '
                    'only goes with the SMS channel.', code='bad_app_hash', params={'provider': LABEL})
            payload['hash'] = app_hash
        try:
            response = self._request('POST', OTP_SEND_PATH, json=payload, idempotent=False, errors=ERRORS)
        except RetryableError as exc:
            data = _envelope(exc.body)
            if exc.http_status != 502 or channel != 'whatsapp' or data is None:
                raise
            raise RetryableError(
                f'Chinqit could not send through WhatsApp (HTTP 502): {data["message"]}',
                code='whatsapp_provider_error',
                params={'provider': LABEL, 'status': 502, 'provider_message': data['message']}, http_status=502,
                body=exc.body,
            ) from exc
        body = self._body(response, on_garbage=self._maybe_accepted)
        expires_in = body.get('expiresIn')
        if isinstance(expires_in, bool) or not isinstance(expires_in, int) or expires_in <= 0:
            expires_in = OTP_DEFAULT_EXPIRES_IN
        return OtpSendResult(message_id=str(body['messageId']), expires_in=expires_in)

    def verify_otp(self, phone_e164, code, *, channel='sms'):
        """Ask Chinqit whether `code` is the OTP it sent to the number; return OtpVerifyResult.

        Not idempotent: a wrong code uses one of the 3 attempts, a right one consumes the OTP. A wrong, expired or
        unknown code is an answer (verified False), not an error; the document does not say whether "Invalid OTP"
        comes with HTTP 200 or 400: both are read. A 400 with an `errors` list is a refusal of the request.
        """
        self._check_channel(channel, OTP_CHANNELS)
        code = str(code or '').strip()
        if not OTP_CODE_RE.fullmatch(code):
            raise PermanentError('Chinqit: an OTP code is exactly 6 digits.', code='bad_otp_format',
                                 params={'provider': LABEL})
        payload = {'phoneNumber': self._recipient(phone_e164), 'otp': code, 'channel': channel}
        try:
            response = self._request('POST', OTP_VERIFY_PATH, json=payload, idempotent=False, errors=ERRORS)
        except PermanentError as exc:
            data = _envelope(exc.body)
            if exc.http_status != 400 or data is None or _error_strings(data):
                raise
            return self._verify_result(data)
        try:
            data = response.json()
        except ValueError:
            data = None
        success = data.get('success') if isinstance(data, dict) else None
        if success is not False and (success is not True or 'verified' not in data):
            # the code may or may not have been right (and consumed): the OTP engine must not let the user in
            status = response.status_code
            raise OutcomeUnknownError('Chinqit answered the OTP check with an unreadable body.',
                                      code='unreadable_answer', params={'provider': LABEL, 'status': status},
                                      http_status=status, body=response.text)
        if success is False and _error_strings(data):
            self._body(response, on_garbage=OutcomeUnknownError)  # raises the refusal
        return self._verify_result(data)

    def send_otp_message(self, outbound):
        """The OTP engine's delegated send: Chinqit generates the code. Verification is by number (check_otp)."""
        result = self.send_otp(outbound.recipient_e164, channel=outbound.channel, language=outbound.language)
        return SendResult(provider_ref=result.message_id, status='sent', provider_status='otp_sent', cost=None,
                          currency=None, raw={'messageId': result.message_id, 'expiresIn': result.expires_in},
                          scheduled_at=None)

    def check_otp(self, provider_ref, phone_e164, code, *, channel='sms'):
        """Chinqit checks a code by number and channel; `provider_ref` is not needed."""
        return self.verify_otp(phone_e164, code, channel=channel)

    @staticmethod
    def _verify_result(data):
        retries_left = data.get('retriesLeft')
        if isinstance(retries_left, bool) or not isinstance(retries_left, int) or retries_left < 0:
            retries_left = None
        return OtpVerifyResult(
            verified=data.get('success') is True and data.get('verified') is True,
            retries_left=retries_left,
            message=str(data.get('message') or ''),
        )
