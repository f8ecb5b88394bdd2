"""Wazzup client (WhatsApp and other messengers, Wazzup API v3), written against the provider's documents
(shared/provider-docs/wazzup-api-v3.md and wazzup-wauth.md).

What the documents say, applied:
- Base `https://api.wazzup24.com/v3`, JSON, `Authorization: Bearer <apiKey>` everywhere except `POST /v3/connect`
  (the marketplace secret is in its body). The apiKey is the `data` of /v3/connect.
- Sending: `POST /v3/message` with channelId, chatType, chatId, text or contentUri, and `crmMessageId` = our
  idempotency key: Wazzup refuses a repeated crmMessageId with 400 `repeatedCrmMessageId`, so a resend after a lost
  answer is safe (deduplicates_by_idempotency_key) and that refusal means "already sent" (the spelling
  REPEATED_CRM_MESSAGE_ID of the RU table is accepted too: codes are compared normalised).
- Bulk routes (users, contacts, deals, pipelines) take at most 100 items per request; a pipeline without stages
  leaves `stages` out (`stages: []` is an error).
- Rate limit: 429 beyond 500 requests in 5 s.

How we read what they do not say (the README's "Wazzup: how we read its documents" says the same):
- The answer of /v3/message is unconfirmed (`201 {messageId, chatId}`): any 2xx with a messageId is accepted; a
  2xx without one is an unknown outcome, and since the crmMessageId makes a resend safe, the dispatcher retries.
- `PATCH /v3/webhooks` answers `{ ok }`, which is not JSON: any 2xx is success.
- chatId of WhatsApp: the number's digits with the country code (`79011112233`), from E.164.
- Text limits (newer pages vary): WhatsApp 10 000, Instagram 1 000, WABA and Telegram 4 096 characters, checked
  before sending.
- Error bodies are `{error, description, data?}` or empty: the code is read in `error`, compared normalised
  (`repeatedCrmMessageId` = `REPEATED_CRM_MESSAGE_ID`).
"""

import re
import secrets
import uuid
from dataclasses import dataclass

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
from .phone import InvalidPhoneError, to_e164

LABEL = 'Wazzup'
PRODUCTION_URL = 'https://api.wazzup24.com'
BATCH_MAX = 100
CRM_CODE_RE = re.compile(r'[A-Za-z0-9_-]{1,50}')
WEBHOOKS_URI_MAX = 200
# transport of a channel (GET /v3/channels) -> chatType of its messages
CHAT_TYPES = {'whatsapp': 'whatsapp', 'wapi': 'whatsapp', 'instagram': 'instagram', 'tgapi': 'telegram',
              'telegram': 'telegram', 'vk': 'vk', 'avito': 'avito', 'viber': 'viber'}
TEXT_LIMITS = {'whatsapp': 10000, 'wapi': 4096, 'instagram': 1000, 'tgapi': 4096, 'telegram': 4096}
DEFAULT_TEXT_LIMIT = 4096
# message / status words of the webhooks -> our states
STATUS_STATES = {'sent': 'sent', 'delivered': 'delivered', 'read': 'read', 'error': 'failed'}
CREDENTIALS_ERROR = ErrorSpec(code='credentials', account_level=True,
                              message='Wazzup refused the API key (HTTP {status}): connect the account again.')
ERRORS = {401: CREDENTIALS_ERROR, 403: CREDENTIALS_ERROR}
ERROR_PARAMS = {'api_key_only': True}


def normalised_code(code):
    """'repeatedCrmMessageId' and 'REPEATED_CRM_MESSAGE_ID' -> 'repeatedcrmmessageid'."""
    return re.sub(r'[^a-z0-9]', '', str(code or '').lower())


def chat_id_of(phone_e164):
    """WhatsApp's chatId: the number's digits with the country code."""
    return to_e164(phone_e164)[1:]


def new_crm_key():
    """The key Wazzup sends back in `Authorization: Bearer` with every webhook: ours, random, shown to nobody."""
    return secrets.token_urlsafe(32)


@dataclass
class Channel:
    channel_id: str
    transport: str
    plain_id: str
    state: str


def _error_of(exc):
    """(normalised code, description) of a ProviderError's JSON body, ('', '') if none."""
    import json  # noqa: PLC0415 - only for errors

    try:
        data = json.loads(exc.body or '')
    except ValueError:
        return '', ''
    if not isinstance(data, dict):
        return '', ''
    return normalised_code(data.get('error')), str(data.get('description') or data.get('error') or '')[:300]


class WazzupClient(BaseClient):
    code = 'wazzup'
    provider_label = LABEL
    channels = ('whatsapp',)
    can_lookup_by_idempotency_key = False
    deduplicates_by_idempotency_key = True  # crmMessageId: a repeat is refused, never sent twice
    supports_status = False  # statuses come by webhook
    default_base_urls = {'production': PRODUCTION_URL, 'test': PRODUCTION_URL}

    def __init__(self, base_url, credentials, **kwargs):
        super().__init__(base_url, credentials, **kwargs)
        self.api_key = (self.credentials.get('api_key') or '').strip()
        self.channel_id = (self.credentials.get('channel_id') or '').strip()
        self.transport = (self.credentials.get('transport') or 'whatsapp').strip()

    def _auth_headers(self, method, path):
        headers = {'Content-Type': 'application/json'}
        if self.api_key and path != '/v3/connect':
            headers['Authorization'] = f'Bearer {self.api_key}'
        return headers

    def _require_key(self):
        if not self.api_key:
            raise AccountError('Wazzup: the account is not connected (no API key).', code='wazzup_not_connected',
                               params={'provider': LABEL})

    def _call(self, method, path, *, json=None, idempotent):
        kwargs = {'json': json, 'idempotent': idempotent, 'errors': ERRORS, 'error_params': ERROR_PARAMS}
        return self._request(method, path, **kwargs)

    # --- WAuth and marketplace (the publisher's developer key is this client's api_key) ---------------------

    def connect(self, state, secret, crm_key, name):
        """POST /v3/connect: the customer confirmed in Odoo; returns the apiKey of their Wazzup account."""
        try:
            response = self._call('POST', '/v3/connect', json={'state': state, 'secret': secret, 'crmKey': crm_key,
                                                              'name': name}, idempotent=False)
        except RetryableError as exc:
            # /v3/connect has no crmMessageId: a lost answer may hide a connection Wazzup made
            if exc.code in ('unreachable', 'rate_limited') or exc.http_status in self.unprocessed_statuses:
                raise
            raise OutcomeUnknownError(exc.message, code=exc.code, params=exc.params, http_status=exc.http_status,
                                      body=exc.body) from exc
        try:
            data = response.json()
        except ValueError:
            data = None
        api_key = data.get('data') if isinstance(data, dict) else None
        if not isinstance(api_key, str) or not api_key.strip():
            raise PermanentError('Wazzup answered the connection without an API key.', code='unreadable_answer',
                                 params={'provider': LABEL, 'status': response.status_code}, body=response.text)
        return api_key.strip()

    def register_marketplace(self, crm_code, auth_redirect_uri, secret):
        if not CRM_CODE_RE.fullmatch(crm_code or ''):
            raise PermanentError('Wazzup: the CRM code is 1 to 50 Latin letters, digits, hyphens or underscores.',
                                 code='wazzup_bad_crm_code', params={'provider': LABEL})
        self._require_key()
        self._call('POST', '/v3/marketplace', json={'crmCode': crm_code, 'authRedirectUri': auth_redirect_uri or '',
                                                    'secret': secret}, idempotent=True)

    def update_marketplace(self, crm_name, logo_name, logo_base64):
        self._require_key()
        self._call('PATCH', '/v3/marketplace', json={'crmName': crm_name,
                                                     'logo': {'name': logo_name, 'content': logo_base64}},
                   idempotent=True)

    def test_install(self, crm_code, domain=None):
        """POST /v3/wauth: Wazzup simulates a customer installing the integration; returns its answer."""
        self._require_key()
        body = {'type': crm_code}
        if domain:
            body['domain'] = domain
        response = self._call('POST', '/v3/wauth', json=body, idempotent=True)
        try:
            return response.json()
        except ValueError:
            return {}

    # --- set-up after connecting ---------------------------------------------------------------------------

    def set_webhooks(self, uri, *, messages=True, contacts_and_deals=True, channels=True, templates=True):
        """PATCH /v3/webhooks (Wazzup test-POSTs `{"test": true}` to the URI before saving)."""
        self._require_key()
        if len(uri) > WEBHOOKS_URI_MAX:
            raise PermanentError(f'Wazzup: the webhook URL is longer than {WEBHOOKS_URI_MAX} characters.',
                                 code='wazzup_uri_too_long', params={'provider': LABEL})
        self._call('PATCH', '/v3/webhooks', json={'webhooksUri': uri, 'subscriptions': {
            'messagesAndStatuses': messages, 'contactsAndDealsCreation': contacts_and_deals,
            'channelsUpdates': channels, 'templateStatus': templates}}, idempotent=True)

    def get_channels(self):
        self._require_key()
        response = self._call('GET', '/v3/channels', json=None, idempotent=True)
        try:
            data = response.json()
        except ValueError:
            data = None
        if not isinstance(data, list):
            raise self._not_provider_url(response.status_code, response.text)
        return [Channel(channel_id=str(item.get('channelId')), transport=str(item.get('transport') or ''),
                        plain_id=str(item.get('plainId') or ''), state=str(item.get('state') or '').lower())
                for item in data if isinstance(item, dict) and item.get('channelId')]

    def upload(self, kind, items):
        """POST /v3/users|contacts|deals|pipelines in batches of 100 (upsert by id: a batch sent again is
        harmless). Returns the number of requests made."""
        if kind not in ('users', 'contacts', 'deals', 'pipelines'):
            raise ValueError(kind)
        self._require_key()
        if kind == 'pipelines':
            # the document: "omit `stages` if none; `stages: []` errors"
            items = [{k: v for k, v in item.items() if k != 'stages' or v} for item in items]
        requests_made = 0
        for start in range(0, len(items), BATCH_MAX):
            self._call('POST', f'/v3/{kind}', json=items[start:start + BATCH_MAX], idempotent=True)
            requests_made += 1
        return requests_made

    def test_connection(self):
        channels = self.get_channels()
        active = sum(1 for channel in channels if channel.state == 'active')
        return ConnectionResult(f'Connection OK: Wazzup accepted the API key ({active} of {len(channels)} channels '
                                'active).', code='wazzup_connection_ok',
                                params={'provider': LABEL, 'active': active, 'count': len(channels)})

    # --- messages ------------------------------------------------------------------------------------------

    def send(self, msg):
        """One text message of the outbox, through the account's channel, to the recipient's WhatsApp."""
        self._require_key()
        if not self.channel_id:
            raise AccountError('Wazzup: the account has no channel to send through.', code='wazzup_no_channel',
                               params={'provider': LABEL})
        text = (msg.body or '').strip()
        if not text:
            raise PermanentError('Wazzup: the message has no text.', code='empty_body', params={'provider': LABEL})
        limit = TEXT_LIMITS.get(self.transport, DEFAULT_TEXT_LIMIT)
        if len(text) > limit:
            raise PermanentError(f'Wazzup: the text is {len(text)} characters long, over the {limit} this channel '
                                 'takes.', code='wazzup_text_too_long',
                                 params={'provider': LABEL, 'length': len(text), 'limit': limit})
        try:
            chat_id = chat_id_of(msg.recipient_e164)
        except InvalidPhoneError as exc:
            raise PermanentError(str(exc), code='bad_recipient',
                                 params={'provider': LABEL, 'number': msg.recipient_e164 or ''}) from None
        payload = {'channelId': self.channel_id, 'chatType': CHAT_TYPES.get(self.transport, 'whatsapp'),
                   'chatId': chat_id, 'text': text, 'crmMessageId': msg.idempotency_key}
        try:
            response = self._call('POST', '/v3/message', json=payload, idempotent=False)
        except PermanentError as exc:
            code, description = _error_of(exc)
            if exc.http_status == 400 and code == 'repeatedcrmmessageid':
                # sent before (our earlier attempt whose answer was lost): not sent again, and known as sent
                return SendResult(provider_ref='', status='sent', provider_status='repeatedCrmMessageId',
                                  cost=None, currency=None, raw={'error': 'repeatedCrmMessageId'},
                                  scheduled_at=None)
            if description and not isinstance(exc, AccountError):
                raise PermanentError(f'Wazzup refused the message: {description}', code='refused',
                                     params={'provider': LABEL, 'status': exc.http_status,
                                             'provider_message': description},
                                     http_status=exc.http_status, body=exc.body) from None
            raise
        try:
            data = response.json()
        except ValueError:
            data = None
        message_id = data.get('messageId') if isinstance(data, dict) else None
        if not message_id:
            # Wazzup may have taken it, but the resend carries the same crmMessageId (repeatedCrmMessageId if it
            # did): retried, as the module docstring says, instead of held for a person by the account's policy.
            raise RetryableError('Wazzup answered without a message id; will retry.', code='unreadable_answer',
                                 params={'provider': LABEL, 'status': response.status_code},
                                 http_status=response.status_code, body=response.text)
        return SendResult(provider_ref=str(message_id), status='sent', provider_status='sent', cost=None,
                          currency=None, raw=data, scheduled_at=None)

    def get_status(self, provider_ref):
        raise NotImplementedError('Wazzup has no status call: its webhooks tell.')


def status_result(item):
    """A `statuses[]` item of a webhook as a StatusResult (None when the status is not one we follow)."""
    state = STATUS_STATES.get(str(item.get('status') or '').lower())
    if state is None:
        return None
    error = item.get('error') if isinstance(item.get('error'), dict) else {}
    description = str(error.get('description') or error.get('error') or '')[:300]
    return StatusResult(
        status=state, provider_status=str(item.get('status'))[:64], raw=item,
        error=description or None,
        error_code='delivery_failed' if state == 'failed' else None,
        error_params={'provider': LABEL, 'provider_status': str(error.get('error') or 'error'),
                      'provider_message': description} if state == 'failed' else {},
    )


def new_message_uuid():
    return str(uuid.uuid4())
