"""Wazzup (api.wazzup24.com, API v3 and WAuth) simulator, strict to the provider's documents
(shared/provider-docs/wazzup-api-v3.md, wazzup-wauth.md) as the project reads them (the Wazzup contract).

What the documents say, enforced: `Authorization: Bearer <key>` on every route but `POST /v3/connect` (its
`secret` is in the body); the publisher's developer key opens the marketplace routes (`POST|PATCH
/v3/marketplace`, `POST /v3/wauth`), a customer's apiKey (the `data` of /v3/connect) the others. WAuth: a
registered crmCode, an install that issues a signed `state` naming crmCode and accountId, `/v3/connect` that
checks the state and the secret and answers the new apiKey; the crmKey given there comes back as
`Authorization: Bearer <crmKey>` on every webhook. `PATCH /v3/webhooks` test-POSTs `{"test": true}` and needs
200 (else `testPostNotPassed` with the status received), answers `{ ok }` (not JSON); webhook bodies use the
document's §4 field names. Bulk routes (users, contacts, deals, pipelines) upsert by id, at most 100 items
(`TOO_MANY_ENTITIES`); a pipeline's id and name and its stages' are at most 100 characters, and `stages`, when
given, is a non-empty list (`stages: []` is the documented error). `POST /v3/message`:
channel, text xor contentUri, text limits per transport, a WhatsApp chatId of 10 to 15 digits, a crmMessageId used
once per customer (`repeatedCrmMessageId`), `201 {messageId, chatId}`. More than 500 requests in 5 s per key: 429.

Where the documents are silent we chose, and say so:
- The developer key opens only the marketplace routes and a customer key only the customer routes (401 across):
  a client that sends one for the other fails here as it would talk to the wrong Wazzup account.
- One registration per developer key, kept under its crmCode: POST /v3/marketplace again updates it (the document:
  "to update crmCode, authRedirectUri, secret"), moving it to a new crmCode if the code changed; a crmCode another
  developer holds is refused ("unique within Wazzup"). A non-empty authRedirectUri (or wauth `domain`) must be an
  http(s) URL. PATCH before any POST is refused (validationError).
- `POST /v3/wauth` answers `{"redirectUri": ...}` (the page Wazzup would send the customer to, `state` added to its
  query); `authRedirectUri` wins over `domain`. Each install makes a new customer account, with the channels of
  `install_channels` (one active WhatsApp channel unless a test changes it).
- The state: base64url(JSON {crmCode, accountId, iat}) "." hex HMAC-SHA256 with a key of this simulator; valid
  10 minutes (simulated clock), once; a failed /v3/connect does not use it up. `name` is required like crmKey;
  the validation of the body comes before the state, the state before the secret.
- PATCH /v3/webhooks: a subscription key left out keeps its value (PATCH), an unknown key (`tepmplateStatus`,
  `templateStatuses`) or a value that is not a boolean is a validationError; no answer to the test POST is
  `testPostNotPassed` with `data: null`. Its `{ ok }` goes out as `application/json` (a client that parses it
  fails). Until set, GET answers `webhooksUri: null`.
- Error bodies `{error, description[, data]}`: camelCase codes on the WAuth/webhook routes (as the documents
  write them), UPPER_SNAKE on the data and message routes (the RU table); a missing or ill-typed field of
  /v3/message is INVALID_MESSAGE_DATA with `data.fields`, a chatType its channel's transport does not carry
  WRONG_TRANSPORT, a contentUri that is not http(s) MESSAGE_DOWNLOAD_CONTENT_ERROR; `data.fields` lists paths
  such as `[0].contactData[0].chatId`. 401 `unauthorized`, 429 `TOO_MANY_REQUESTS`, unknown path 404, another
  method on a known path 405. A body must be JSON sent as application/json.
- Text length is counted in characters (code points); text limits per channel transport: whatsapp 10 000, wapi,
  tgapi and telegram 4 096, instagram 1 000, others unchecked. The 429 window is fixed: it starts with a key's
  first request and the count resets 5 s later.
- Webhooks are JSON.stringify-like bytes (UTF-8, no spaces), POSTed synchronously by the test helpers, which
  return what the CRM answered; a delivery needs the webhooks URI set and its subscription on. `createContact` /
  `createDeal` answered 200 with a valid entity store it, as Wazzup links the chat to it.
"""

import base64
import binascii
import copy
import hashlib
import hmac
import json
import re
import secrets
import threading
import uuid
from urllib.parse import urlsplit, urlunsplit

from .intech import is_http_url, iso_ms, post_bytes
from .server import ProviderSimulator, SimulatedClock

DEMO_DEVELOPER_KEY = 'demo-wazzup-developer-key'
DEMO_CRM_CODE = 'odoo-notify-rules'
DEMO_SECRET = 'demo-wazzup-wauth-secret'
DEMO_API_KEY = '7a2c0d5e9b1f4e3a8c6d2b0f1e9a7c35'  # the demo customer account (already connected)
# its crmKey: `make run`'s demo Wazzup account keeps its SHA-256 (demo/notify_demo.xml), so that the webhooks of the
# simulator reach the demo Odoo once its set-up registered them
DEMO_CRM_KEY = 'demo-wazzup-crm-key-of-the-demo-odoo'
DEMO_CHANNEL_ID = '3f6c9a2e-1b7d-4c8e-9f05-7d2a41b6e803'
DEMO_STATUS_SECONDS = (1, 5, 30)  # `make run`: sent, delivered, read this long after a message was accepted

CRM_CODE_RE = re.compile(r'[A-Za-z0-9_-]{1,50}')
WHATSAPP_CHAT_ID_RE = re.compile(r'[0-9]{10,15}')
API_KEY_RE = re.compile(r'[0-9a-f]{32}')
STATE_TTL = 10 * 60  # ours: the document gives no lifetime
WEBHOOKS_URI_MAX = 200
WEBHOOK_TIMEOUT = 30  # the document: a webhook must be answered 200 within 30 s
BATCH_MAX = 100
DEFAULT_RATE_LIMIT = (500, 5.0)  # the document: more than 500 requests in 5 s answers 429
SUBSCRIPTIONS = ('messagesAndStatuses', 'contactsAndDealsCreation', 'channelsUpdates', 'templateStatus')
FIRST_ACCOUNT_ID = 40000001
TRANSPORTS = ('whatsapp', 'wapi', 'instagram', 'tgapi', 'telegram', 'vk', 'avito', 'viber', 'max', 'maxbot')
CHANNEL_STATES = ('active', 'init', 'disabled', 'phoneUnavailable', 'qr', 'openElsewhere', 'notEnoughMoney',
                  'foreignphone', 'unauthorized', 'waitForPassword', 'qridle', 'blocked', 'onModeration', 'rejected')
CHAT_TYPE_OF_TRANSPORT = {'whatsapp': 'whatsapp', 'wapi': 'whatsapp', 'instagram': 'instagram', 'tgapi': 'telegram',
                          'telegram': 'telegram', 'vk': 'vk', 'avito': 'avito', 'viber': 'viber', 'max': 'max',
                          'maxbot': 'max'}
GROUP_CHAT_TYPES = {'whatsapp': 'whatsgroup', 'tgapi': 'telegroup', 'max': 'maxgroup'}
CHAT_TYPES = ('whatsapp', 'whatsgroup', 'viber', 'instagram', 'telegram', 'telegroup', 'vk', 'avito', 'max',
              'maxgroup')
TEXT_LIMITS = {'whatsapp': 10000, 'wapi': 4096, 'tgapi': 4096, 'telegram': 4096, 'instagram': 1000}
MESSAGE_STATUSES = ('sent', 'delivered', 'read', 'error', 'edited')
TEMPLATE_STATUSES = ('APPROVED', 'PENDING', 'REJECTED', 'PAUSED', 'DISABLED')
REPEATED_CRM_MESSAGE_ID = 'You have already sent message with the same crmMessageId'
CONTENT_TYPES = {'image': ('jpg', 'jpeg', 'png', 'gif', 'webp'), 'audio': ('mp3', 'ogg', 'oga', 'opus', 'm4a', 'wav'),
                 'video': ('mp4', 'mov', 'webm', '3gp')}
INSTALL_CHANNELS = ({'transport': 'whatsapp', 'plain_id': '221770000000', 'state': 'active'},)

# (field, kind, max length, required) of the bulk routes' items; kinds: str (non-empty when required), id (str or
# int), bool, ids, contactData, any (the users' phone: an invalid one is dropped, not refused)
USER_FIELDS = (('id', 'str', 200, True), ('name', 'str', 200, True), ('phone', 'any', None, False))
CONTACT_FIELDS = (('id', 'str', 100, True), ('responsibleUserId', 'str', 100, True), ('name', 'str', 200, True),
                  ('contactData', 'contactData', None, True), ('uri', 'str', 200, False))
DEAL_FIELDS = (('id', 'id', 100, True), ('responsibleUserId', 'str', 100, True), ('name', 'str', 200, True),
               ('uri', 'str', 200, True), ('contacts', 'ids', None, True), ('closed', 'bool', None, True))
PIPELINE_FIELDS = (('id', 'id', 100, True), ('name', 'str', 100, True), ('stages', 'stages', None, False))
STAGE_FIELDS = (('id', 'id', 100, True), ('name', 'str', 100, True))
BULK_ROUTES = {'/v3/users': ('users', USER_FIELDS), '/v3/contacts': ('contacts', CONTACT_FIELDS),
               '/v3/deals': ('deals', DEAL_FIELDS), '/v3/pipelines': ('pipelines', PIPELINE_FIELDS)}

# path -> method -> (who may call: 'developer' | 'customer' | None, handler name)
ROUTES = {
    '/v3/marketplace': {'POST': ('developer', '_register'), 'PATCH': ('developer', '_set_name_and_logo')},
    '/v3/wauth': {'POST': ('developer', '_wauth')},
    '/v3/connect': {'POST': (None, '_connect')},
    '/v3/webhooks': {'PATCH': ('customer', '_set_webhooks'), 'GET': ('customer', '_get_webhooks')},
    '/v3/channels': {'GET': ('customer', '_channels')},
    '/v3/users': {'POST': ('customer', '_bulk')},
    '/v3/contacts': {'POST': ('customer', '_bulk')},
    '/v3/deals': {'POST': ('customer', '_bulk')},
    '/v3/pipelines': {'POST': ('customer', '_bulk'), 'GET': ('customer', '_get_pipelines')},
    '/v3/message': {'POST': ('customer', '_message')},
}
NO_BODY = object()  # a GET's payload; also: no `data` in an error body


def seed_demo(sim):
    """Demo data used by `python -m simulator` and by the tests: the publisher's developer key and its marketplace
    registration (no authRedirectUri: an install names its domain), and one connected customer account (with the
    demo crmKey) with an active WhatsApp channel. Saved as the baseline `reset` returns to."""
    sim.add_developer(DEMO_DEVELOPER_KEY)
    sim.register(DEMO_DEVELOPER_KEY, DEMO_CRM_CODE, DEMO_SECRET)
    sim.add_account(api_key=DEMO_API_KEY, crm_key=DEMO_CRM_KEY, name='Demo customer', crm_code=DEMO_CRM_CODE)
    sim.add_channel(DEMO_API_KEY, channel_id=DEMO_CHANNEL_ID)
    sim.save_baseline()
    return sim


def _json_bytes(payload):
    """What Node's JSON.stringify writes: UTF-8, no spaces."""
    return json.dumps(payload, ensure_ascii=False, separators=(',', ':')).encode('utf-8')


def _answer(status, payload):
    return status, {'Content-Type': 'application/json; charset=utf-8'}, _json_bytes(payload)


def _error(status, code, description=None, data=NO_BODY):
    """Wazzup's error body; `data` is left out unless given (None included: `data: null`)."""
    payload = {'error': code}
    if description is not None:
        payload['description'] = description
    if data is not NO_BODY:
        payload['data'] = data
    return _answer(status, payload)


def _b64url(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b'=').decode()


def _unb64url(text):
    return base64.urlsafe_b64decode(text + '=' * (-len(text) % 4))


def _non_empty(value):
    return isinstance(value, str) and bool(value.strip())


def _with_state(uri, state):
    """`uri` with `state=` added to its query (after the query it already has)."""
    parts = urlsplit(uri)
    query = f'{parts.query}&state={state}' if parts.query else f'state={state}'
    return urlunsplit((parts.scheme, parts.netloc, parts.path or '/', query, parts.fragment))


def _content_type_of(uri):
    extension = urlsplit(uri).path.rpartition('.')[2].lower()
    return next((kind for kind, extensions in CONTENT_TYPES.items() if extension in extensions), 'document')


def _field_errors(item, fields, prefix):
    """Paths of the fields of one bulk item that are missing, ill-typed or too long."""
    errors = []
    for name, kind, max_length, required in fields:
        path = f'{prefix}.{name}'
        if name not in item or item[name] is None:
            if required:
                errors.append(path)
            continue
        value = item[name]
        if kind == 'any':
            continue
        if kind == 'str':
            valid = _non_empty(value) if required else isinstance(value, str)
        elif kind == 'id':
            valid = _non_empty(value) or (isinstance(value, int) and not isinstance(value, bool))
        elif kind == 'bool':
            valid = isinstance(value, bool)
        elif kind == 'ids':
            valid = isinstance(value, list) and all(
                _non_empty(v) or (isinstance(v, int) and not isinstance(v, bool)) for v in value)
        elif kind == 'stages':  # the document: omit `stages` when none, `stages: []` errors
            errors.extend(_stages_errors(value, path))
            continue
        else:  # contactData
            errors.extend(_contact_data_errors(value, path))
            continue
        if not valid or (max_length and len(str(value)) > max_length):
            errors.append(path)
    return errors


def _stages_errors(value, path):
    if not isinstance(value, list) or not value:
        return [path]
    errors = []
    for index, stage in enumerate(value):
        if isinstance(stage, dict):
            errors.extend(_field_errors(stage, STAGE_FIELDS, f'{path}[{index}]'))
        else:
            errors.append(f'{path}[{index}]')
    return errors


def _contact_data_errors(value, path):
    if not isinstance(value, list) or not value:
        return [path]
    errors = []
    for index, entry in enumerate(value):
        entry_path = f'{path}[{index}]'
        if not isinstance(entry, dict):
            errors.append(entry_path)
            continue
        if entry.get('chatType') not in CHAT_TYPES:
            errors.append(f'{entry_path}.chatType')
        telegram_alias = entry.get('chatType') == 'telegram' and (
            _non_empty(entry.get('username')) or _non_empty(entry.get('phone')))
        if not _non_empty(entry.get('chatId')) and not telegram_alias:
            errors.append(f'{entry_path}.chatId')
    return errors


class WazzupSimulator(SimulatedClock, ProviderSimulator):
    name = 'wazzup'

    def __init__(self):
        super().__init__()
        self._state_key = secrets.token_bytes(32)  # signs the states; a state of another simulator does not verify
        self.developers = set()  # developer keys (the publisher's own Wazzup key)
        self.registrations = {}  # crmCode -> {crmCode, developer_key, authRedirectUri, secret, published, crmName,
        #                                      logo}
        self.customers = {}  # accountId -> customer account (see _new_account), connected or not
        self.accounts = {}  # apiKey -> the same account, once connected
        self.states = {}  # state -> {crmCode, accountId, iat, used, api_key}: every state issued
        self.webhook_log = []  # every POST to a webhooksUri: {api_key, kind, uri, body, raw, headers, status, answer}
        self.install_channels = copy.deepcopy(list(INSTALL_CHANNELS))
        self.rate_limit = DEFAULT_RATE_LIMIT
        self.webhook_timeout = WEBHOOK_TIMEOUT
        self.status_progress = None  # seconds after acceptance of (sent, delivered, read) webhooks; None: off
        self._next_account_id = FIRST_ACCOUNT_ID
        self._windows = {}  # key -> [window start, requests in it]
        self._timers = []
        self._stop_statuses = threading.Event()
        self._baseline = self._snapshot()

    # --- configuration and assertions -------------------------------------------------------------------------

    def _snapshot(self):
        return copy.deepcopy((self.developers, self.registrations, self.customers, self.accounts, self.states,
                              self._next_account_id))

    def save_baseline(self):
        """What `reset` returns to: developer keys, registrations, accounts (channels, data, webhooks, messages),
        states, as they are now. `seed_demo` saves one; a test class that seeds more calls this again."""
        with self.lock:
            self._baseline = self._snapshot()

    def reset(self):
        """Back to the baseline; forget requests, faults, webhook log, rate windows, clock, pending status
        webhooks; default switches (rate_limit, webhook_timeout, status_progress, install_channels)."""
        with self.lock:
            result = super().reset()
            self._stop_statuses.set()
            self._stop_statuses = threading.Event()
            for timer in self._timers:
                timer.cancel()
            self._timers.clear()
            (self.developers, self.registrations, self.customers, self.accounts, self.states,
             self._next_account_id) = copy.deepcopy(self._baseline)
            self.webhook_log.clear()
            self._windows.clear()
            self.clock_offset = 0.0
            self.rate_limit = DEFAULT_RATE_LIMIT
            self.webhook_timeout = WEBHOOK_TIMEOUT
            self.status_progress = None
            self.install_channels = copy.deepcopy(list(INSTALL_CHANNELS))
        return result

    def add_developer(self, developer_key):
        with self.lock:
            self.developers.add(developer_key)

    def register(self, developer_key, crm_code, secret, auth_redirect_uri=''):
        """What POST /v3/marketplace stores, without HTTP nor checks."""
        with self.lock:
            self.registrations[crm_code] = {
                'crmCode': crm_code, 'developer_key': developer_key, 'authRedirectUri': auth_redirect_uri or '',
                'secret': secret, 'published': False, 'crmName': None, 'logo': None}

    def registration(self, crm_code):
        return self.registrations.get(crm_code)

    def publish(self, crm_code):
        """Wazzup's reviewer published the module: its name and logo can no longer be PATCHed."""
        with self.lock:
            self.registrations[crm_code]['published'] = True

    def _new_account(self, crm_code):
        account_id = self._next_account_id
        self._next_account_id += 1
        account = {
            'account_id': account_id, 'crm_code': crm_code, 'api_key': None, 'crm_key': None, 'name': None,
            'channels': {},  # channelId -> {channelId, transport, plainId, state}, in the order added
            'users': {}, 'contacts': {}, 'deals': {}, 'pipelines': {},  # id (as text) -> the item as uploaded
            'webhooks': {'webhooksUri': None, 'subscriptions': dict.fromkeys(SUBSCRIPTIONS, False)},
            'sent': [],  # accepted messages, in order
            'sent_by_crm_message_id': {},  # crmMessageId -> the same message
        }
        self.customers[account_id] = account
        return account

    def add_account(self, api_key=None, crm_key=None, name='Customer', crm_code=None):
        """A connected customer account, as if WAuth had run (no channel: see add_channel); returns its apiKey."""
        with self.lock:
            account = self._new_account(crm_code)
            account.update(api_key=api_key or secrets.token_hex(16), crm_key=crm_key, name=name)
            self.accounts[account['api_key']] = account
            return account['api_key']

    def account_of(self, api_key):
        try:
            return self.accounts[api_key]
        except KeyError:
            raise KeyError(f'no connected Wazzup account with apiKey {api_key!r}') from None

    def sent_messages(self, api_key):
        with self.lock:
            return list(self.account_of(api_key)['sent'])

    def add_channel(self, api_key, transport='whatsapp', plain_id='221770000000', state='active', channel_id=None):
        """A channel of a customer account; returns its channelId."""
        if transport not in TRANSPORTS:
            raise ValueError(f'unknown transport {transport!r}, expected one of {TRANSPORTS}')
        if state not in CHANNEL_STATES:
            raise ValueError(f'unknown channel state {state!r}, expected one of {CHANNEL_STATES}')
        with self.lock:
            return self._add_channel(self.account_of(api_key), transport, plain_id, state, channel_id)

    @staticmethod
    def _add_channel(account, transport, plain_id, state, channel_id=None):
        channel_id = channel_id or str(uuid.uuid4())
        account['channels'][channel_id] = {'channelId': channel_id, 'transport': transport, 'plainId': plain_id,
                                           'state': state}
        return channel_id

    def set_channel_state(self, api_key, channel_id, state, notify=True):
        """Change a channel's state; with `notify`, and the channelsUpdates subscription on, POST the
        `channelsUpdates` webhook and return (status, answer text); otherwise return None."""
        if state not in CHANNEL_STATES:
            raise ValueError(f'unknown channel state {state!r}, expected one of {CHANNEL_STATES}')
        with self.lock:
            account = self.account_of(api_key)
            account['channels'][channel_id]['state'] = state
            subscribed = account['webhooks']['webhooksUri'] and account['webhooks']['subscriptions']['channelsUpdates']
        if not (notify and subscribed):
            return None
        item = {'channelId': channel_id, 'state': state, 'timestamp': int(self.now() * 1000)}
        return self._deliver(api_key, {'channelsUpdates': [item]}, 'channelsUpdates', 'channelsUpdates')

    def configure_webhooks(self, api_key, uri, **subscriptions):
        """What a successful PATCH /v3/webhooks stores, without HTTP nor the test POST."""
        unknown = set(subscriptions) - set(SUBSCRIPTIONS)
        if unknown:
            raise ValueError(f'unknown subscriptions {sorted(unknown)}, expected some of {SUBSCRIPTIONS}')
        with self.lock:
            webhooks = self.account_of(api_key)['webhooks']
            webhooks['webhooksUri'] = uri
            webhooks['subscriptions'].update(subscriptions)

    # --- WAuth ------------------------------------------------------------------------------------------------

    def _sign(self, payload_part):
        return hmac.new(self._state_key, payload_part.encode(), hashlib.sha256).hexdigest()

    def _issue_state(self, crm_code, account_id):
        iat = int(self.now())
        payload_part = _b64url(_json_bytes({'crmCode': crm_code, 'accountId': account_id, 'iat': iat}))
        state = f'{payload_part}.{self._sign(payload_part)}'
        self.states[state] = {'crmCode': crm_code, 'accountId': account_id, 'iat': iat, 'used': False,
                              'api_key': None}
        return state

    def _verified_state(self, state):
        """The claims of a state this simulator issued, unexpired and unused; None otherwise."""
        payload_part, dot, signature = state.partition('.')
        if not dot or not hmac.compare_digest(self._sign(payload_part).encode(), signature.encode('utf-8', 'replace')):
            return None
        try:
            claims = json.loads(_unb64url(payload_part))
        except (ValueError, binascii.Error):
            return None
        issued = self.states.get(state)
        if not isinstance(claims, dict) or issued is None or issued['used']:
            return None
        if self.now() - claims.get('iat', 0) >= STATE_TTL:
            return None
        return claims

    def install(self, crm_code, domain=None):
        """What POST /v3/wauth does (a customer clicks Connect in the marketplace): a new customer account, a
        state for it; returns the URL Wazzup redirects the customer to (`state` in its query)."""
        with self.lock:
            registration = self.registrations.get(crm_code)
            if registration is None:
                raise ValueError(f'no marketplace registration for crmCode {crm_code!r}')
            target = registration['authRedirectUri'] or domain
            if not target:
                raise ValueError('no authRedirectUri registered and no domain given')
            account = self._new_account(crm_code)
            for channel in self.install_channels:
                self._add_channel(account, channel['transport'], channel['plain_id'], channel['state'])
            return _with_state(target, self._issue_state(crm_code, account['account_id']))

    # --- HTTP -------------------------------------------------------------------------------------------------

    def handle(self, method, path, query, headers, body):
        methods = ROUTES.get(path.rstrip('/') or '/')
        if methods is None:
            return _error(404, 'NOT_FOUND', 'Unknown route')
        if method not in methods:
            status, answer_headers, payload = _error(405, 'METHOD_NOT_ALLOWED', f'{method} is not allowed here')
            return status, {**answer_headers, 'Allow': ', '.join(methods)}, payload
        audience, handler_name = methods[method]
        with self.lock:
            key = None
            if audience is not None:
                key = self._bearer(headers)
                known = self.developers if audience == 'developer' else self.accounts
                if key not in known:
                    return _error(401, 'unauthorized', 'Authorization: Bearer <key> is missing or unknown')
                if self._rate_limited(key):
                    limit, window = self.rate_limit
                    return _error(429, 'TOO_MANY_REQUESTS', f'More than {limit} requests in {window:g} seconds')
        payload = NO_BODY if method == 'GET' else self._json_body(headers, body)
        return getattr(self, handler_name)(key, payload, path.rstrip('/'))

    @staticmethod
    def _bearer(headers):
        scheme, _, token = (headers.get('Authorization') or '').partition(' ')
        return token if scheme.lower() == 'bearer' and token else None

    def _rate_limited(self, key):
        limit, window = self.rate_limit
        now = self.now()
        current = self._windows.get(key)
        if current is None or now >= current[0] + window:
            current = self._windows[key] = [now, 0]
        current[1] += 1
        return current[1] > limit

    @staticmethod
    def _json_body(headers, body):
        """The parsed JSON body, or None when it is not JSON sent as application/json."""
        if 'application/json' not in (headers.get('Content-Type') or '').lower():
            return None
        try:
            return json.loads(body.decode('utf-8'))
        except (UnicodeDecodeError, ValueError, RecursionError):
            return None

    # --- marketplace and WAuth routes -------------------------------------------------------------------------

    def _register(self, developer_key, payload, _path):
        if not isinstance(payload, dict):
            return _error(400, 'validationError', 'A JSON object is expected')
        crm_code, secret = payload.get('crmCode'), payload.get('secret')
        redirect = payload.get('authRedirectUri')
        if not isinstance(crm_code, str) or not CRM_CODE_RE.fullmatch(crm_code):
            return _error(400, 'validationError', 'crmCode: 1 to 50 Latin letters, digits, hyphens or underscores')
        if redirect not in (None, '') and not is_http_url(redirect):
            return _error(400, 'validationError', 'authRedirectUri: an http(s) URL, or empty')
        if not _non_empty(secret):
            return _error(400, 'validationError', 'secret is required')
        with self.lock:
            taken = self.registrations.get(crm_code)
            if taken is not None and taken['developer_key'] != developer_key:
                return _error(400, 'validationError', 'crmCode is already used by another integration')
            mine = next((r for r in self.registrations.values() if r['developer_key'] == developer_key), None)
            if mine is not None:
                del self.registrations[mine['crmCode']]
            self.registrations[crm_code] = dict(mine or {'published': False, 'crmName': None, 'logo': None},
                                                crmCode=crm_code, developer_key=developer_key,
                                                authRedirectUri=redirect or '', secret=secret)
        return _answer(200, {'ok': True})

    def _set_name_and_logo(self, developer_key, payload, _path):
        with self.lock:
            registration = next((r for r in self.registrations.values() if r['developer_key'] == developer_key),
                                None)
            if registration is None:
                return _error(400, 'validationError', 'Register the integration first (POST /v3/marketplace)')
            if registration['published']:
                return _error(400, 'alreadyPublished', 'The integration is published: contact support')
        if not isinstance(payload, dict):
            return _error(400, 'validationError', 'A JSON object is expected')
        logo = payload.get('logo')
        if not _non_empty(payload.get('crmName')):
            return _error(400, 'validationError', 'crmName is required')
        if not isinstance(logo, dict) or not isinstance(logo.get('name'), str) or \
                not logo['name'].lower().endswith('.svg'):
            return _error(400, 'validationError', 'logo.name: the name of an .svg file')
        try:
            content = base64.b64decode(logo.get('content') or '', validate=True)
        except (TypeError, ValueError, binascii.Error):
            content = b''
        if b'<svg' not in content:
            return _error(400, 'validationError', 'logo.content: a base64-encoded SVG file')
        with self.lock:
            registration.update(crmName=payload['crmName'], logo={'name': logo['name'], 'content': content})
        return _answer(200, {'ok': True})

    def _wauth(self, developer_key, payload, _path):
        if not isinstance(payload, dict):
            return _error(400, 'validationError', 'A JSON object is expected')
        crm_code, domain = payload.get('type'), payload.get('domain')
        if domain not in (None, '') and not is_http_url(domain):
            return _error(400, 'validationError', 'domain: the full link to the CRM account, with its protocol')
        with self.lock:
            registration = self.registrations.get(crm_code) if isinstance(crm_code, str) else None
            if registration is None or registration['developer_key'] != developer_key:
                return _error(400, 'validationError', 'type: unknown crmCode')
            if not registration['authRedirectUri'] and not domain:
                return _error(400, 'validationError', 'No authRedirectUri registered: domain is required')
            return _answer(200, {'redirectUri': self.install(crm_code, domain)})

    def _connect(self, _key, payload, _path):
        if not isinstance(payload, dict):
            return _error(400, 'validationError', 'A JSON object is expected')
        missing = [field for field in ('state', 'secret', 'crmKey', 'name') if not _non_empty(payload.get(field))]
        if missing:
            return _error(400, 'validationError', f'Required: {", ".join(missing)}')
        with self.lock:
            claims = self._verified_state(payload['state'])
            registration = claims and self.registrations.get(claims.get('crmCode'))
            account = claims and self.customers.get(claims.get('accountId'))
            if not registration or not account:
                return _error(400, 'invalidState', 'The state is invalid, expired or already used')
            if not hmac.compare_digest(registration['secret'].encode(), payload['secret'].encode()):
                return _error(401, 'invalidSecret', 'The secret does not match the integration')
            api_key = secrets.token_hex(16)
            account.update(api_key=api_key, crm_key=payload['crmKey'], name=payload['name'])
            self.accounts[api_key] = account
            self.states[payload['state']].update(used=True, api_key=api_key)
        return _answer(200, {'data': api_key})

    # --- webhooks ---------------------------------------------------------------------------------------------

    def _set_webhooks(self, api_key, payload, _path):
        if not isinstance(payload, dict):
            return _error(400, 'validationError', 'A JSON object is expected')
        uri = payload.get('webhooksUri')
        if not isinstance(uri, str) or len(uri) > WEBHOOKS_URI_MAX or not is_http_url(uri):
            return _error(400, 'uriNotValid', f'webhooksUri: an http(s) URL of at most {WEBHOOKS_URI_MAX} characters')
        subscriptions = payload.get('subscriptions', {})
        if not isinstance(subscriptions, dict):
            return _error(400, 'validationError', 'subscriptions: an object is expected')
        wrong = sorted(key for key, value in subscriptions.items()
                       if key not in SUBSCRIPTIONS or not isinstance(value, bool))
        if wrong:
            return _error(400, 'validationError', f'subscriptions: unknown key or not a boolean: {", ".join(wrong)}')
        with self.lock:
            crm_key = self.account_of(api_key)['crm_key']
        status = self._post(api_key, uri, crm_key, {'test': True}, 'test')['status']
        if status != 200:
            return _error(400, 'testPostNotPassed', 'The test POST to webhooksUri was not answered 200', data=status)
        with self.lock:
            webhooks = self.account_of(api_key)['webhooks']
            webhooks['webhooksUri'] = uri
            webhooks['subscriptions'].update(subscriptions)
        return 200, {'Content-Type': 'application/json; charset=utf-8'}, b'{ ok }'

    def _get_webhooks(self, api_key, _payload, _path):
        with self.lock:
            webhooks = self.account_of(api_key)['webhooks']
            subscriptions = {key: 'true' if value else 'false' for key, value in webhooks['subscriptions'].items()}
            return _answer(200, {'webhooksUri': webhooks['webhooksUri'], 'subscriptions': subscriptions})

    def _post(self, api_key, uri, crm_key, body, kind, raw=None, headers=None):
        """POST one webhook (outside the lock: the CRM may call us while answering); log it and return the log
        entry (`status` None when no answer came, `answer` then says why)."""
        raw = _json_bytes(body) if raw is None else raw
        sent = {'Content-Type': 'application/json'}
        if crm_key:
            sent['Authorization'] = f'Bearer {crm_key}'
        for name, value in (headers or {}).items():
            sent = {k: v for k, v in sent.items() if k.lower() != name.lower()}
            if value is not None:
                sent[name] = value
        status, answer = post_bytes(uri, raw, sent, timeout=self.webhook_timeout)
        entry = {'api_key': api_key, 'kind': kind, 'uri': uri, 'body': body, 'raw': raw, 'headers': sent,
                 'status': status, 'answer': answer, 'at': self.now()}
        with self.lock:
            self.webhook_log.append(entry)
        return entry

    def _deliver(self, api_key, body, kind, subscription=None, raw=None, headers=None):
        """POST a webhook of a connected account to its webhooks URI; return (status, answer text)."""
        return self._deliver_entry(api_key, body, kind, subscription, raw, headers)[:2]

    def _deliver_entry(self, api_key, body, kind, subscription=None, raw=None, headers=None):
        with self.lock:
            account = self.account_of(api_key)
            webhooks = account['webhooks']
            if not webhooks['webhooksUri']:
                raise RuntimeError('Wazzup sends webhooks only once PATCH /v3/webhooks set their URI')
            if subscription and not webhooks['subscriptions'][subscription]:
                raise RuntimeError(f'the {subscription} subscription is off: Wazzup would not send {kind}')
            uri, crm_key = webhooks['webhooksUri'], account['crm_key']
        entry = self._post(api_key, uri, crm_key, body, kind, raw=raw, headers=headers)
        return entry['status'], entry['answer'], entry

    def _channel_for(self, account, channel_id):
        if channel_id is not None:
            return account['channels'][channel_id]
        channel = next(iter(account['channels'].values()), None)
        if channel is None:
            raise ValueError('the account has no channel')
        return channel

    def deliver_inbound(self, api_key, chat_id, text=None, content_uri=None, channel_id=None, is_echo=False,
                        author_name=None, message_id=None, contact_name=None):
        """POST a `messages` webhook: a message the customer's client wrote (or, `is_echo`, one sent from the
        phone or Wazzup's chat); return (status, answer text)."""
        if author_name is not None and not is_echo:
            raise ValueError('authorName comes only with isEcho (the document)')
        with self.lock:
            channel = self._channel_for(self.account_of(api_key), channel_id)
        message = {
            'messageId': message_id or str(uuid.uuid4()),
            'channelId': channel['channelId'],
            'chatType': CHAT_TYPE_OF_TRANSPORT[channel['transport']],
            'chatId': chat_id,
            'dateTime': iso_ms(self.now()),
            'type': 'text' if text is not None else (_content_type_of(content_uri) if content_uri else 'unsupported'),
            'status': 'sent' if is_echo else 'inbound',
            'isEcho': is_echo,
            'contact': {'name': contact_name or chat_id, 'avatarUri': f'https://store.wazzup24.com/avatars/{chat_id}'},
        }
        if text is not None:
            message['text'] = text
        if content_uri is not None:
            message['contentUri'] = content_uri
        if is_echo:
            message['sentFromApp'] = True
            if author_name is not None:
                message['authorName'] = author_name
        return self._deliver(api_key, {'messages': [message]}, 'messages', 'messagesAndStatuses')

    def deliver_status(self, api_key, message_id, status, error=None):
        """POST a `statuses` webhook about an outgoing message; `error` (a code, or {error, description}) only
        with status 'error'. Return (status, answer text)."""
        if status not in MESSAGE_STATUSES:
            raise ValueError(f'unknown status {status!r}, expected one of {MESSAGE_STATUSES}')
        if error is not None and status != 'error':
            raise ValueError('error comes only with status "error" (the document)')
        item = {'messageId': message_id, 'timestamp': iso_ms(self.now()), 'status': status}
        if status == 'error':
            error = error or 'UNKNOWN_ERROR'
            item['error'] = error if isinstance(error, dict) else {'error': error, 'description': f'{error}'}
        with self.lock:
            for message in self.account_of(api_key)['sent']:
                if message['messageId'] == message_id:
                    message['status'] = status
        return self._deliver(api_key, {'statuses': [item]}, 'statuses', 'messagesAndStatuses')

    def _deliver_create(self, api_key, kind, body, bucket, fields):
        """POST createContact / createDeal; a 200 answer that is a valid entity is stored (upserted)."""
        status, answer, entry = self._deliver_entry(api_key, {kind: body}, kind, 'contactsAndDealsCreation')
        try:
            entity = json.loads(answer) if status is not None else None
        except ValueError:
            entity = None
        valid = status == 200 and isinstance(entity, dict) and not _field_errors(entity, fields, '')
        with self.lock:
            entry['entity_valid'] = valid
            if valid:
                self.account_of(api_key)[bucket][str(entity['id'])] = entity
        return status, entity

    def deliver_create_contact(self, api_key, chat_id, name='', responsible_user_id='1', chat_type='whatsapp',
                               source='auto'):
        """POST a `createContact` webhook; return (status, the parsed JSON answer or None)."""
        body = {'responsibleUserId': responsible_user_id, 'name': name or chat_id,
                'contactData': [{'chatType': chat_type, 'chatId': chat_id}], 'source': source}
        return self._deliver_create(api_key, 'createContact', body, 'contacts', CONTACT_FIELDS)

    def deliver_create_deal(self, api_key, contact_ids, responsible_user_id='1', source='byUser'):
        """POST a `createDeal` webhook; return (status, the parsed JSON answer or None)."""
        body = {'responsibleUserId': responsible_user_id, 'contacts': list(contact_ids), 'source': source}
        return self._deliver_create(api_key, 'createDeal', body, 'deals', DEAL_FIELDS)

    def deliver_template_status(self, api_key, template_guid, name, status):
        if status.upper() not in TEMPLATE_STATUSES:
            raise ValueError(f'unknown template status {status!r}, expected one of {TEMPLATE_STATUSES}')
        body = {'templateStatus': {'templateGuid': template_guid, 'name': name, 'status': status}}
        return self._deliver(api_key, body, 'templateStatus', 'templateStatus')

    def deliver_raw(self, api_key, body, headers=None):
        """POST any body (JSON-able, or str/bytes sent as they are) to the webhooks URI, whatever the
        subscriptions; `headers` add or replace headers (None removes one). Return (status, answer text)."""
        raw = None
        if isinstance(body, (str, bytes)):
            raw = body.encode('utf-8') if isinstance(body, str) else body
        return self._deliver(api_key, body, 'raw', raw=raw, headers=headers)

    # --- data routes ------------------------------------------------------------------------------------------

    def _channels(self, api_key, _payload, _path):
        with self.lock:
            return _answer(200, [dict(channel) for channel in self.account_of(api_key)['channels'].values()])

    def _bulk(self, api_key, payload, path):
        bucket, fields = BULK_ROUTES[path]
        if not isinstance(payload, list):
            return _error(400, 'VALIDATION_ERROR', 'An array is expected', data={'fields': []})
        if len(payload) > BATCH_MAX:
            return _error(400, 'TOO_MANY_ENTITIES', f'At most {BATCH_MAX} items per request')
        errors = []
        for index, item in enumerate(payload):
            if isinstance(item, dict):
                errors.extend(_field_errors(item, fields, f'[{index}]'))
            else:
                errors.append(f'[{index}]')
        if errors:
            return _error(400, 'VALIDATION_ERROR', 'Some fields are missing or invalid', data={'fields': errors})
        with self.lock:
            stored = self.account_of(api_key)[bucket]
            for item in payload:
                item = dict(item)
                if bucket == 'users' and not (isinstance(item.get('phone'), str)
                                              and WHATSAPP_CHAT_ID_RE.fullmatch(item['phone'])):
                    item.pop('phone', None)  # the document: an invalid phone is silently dropped
                stored[str(item['id'])] = item
        return 200, {}, b''

    def _get_pipelines(self, api_key, _payload, _path):
        with self.lock:
            return _answer(200, [copy.deepcopy(item) for item in self.account_of(api_key)['pipelines'].values()])

    # --- messages ---------------------------------------------------------------------------------------------

    def _message(self, api_key, payload, _path):
        if not isinstance(payload, dict):
            return _error(400, 'VALIDATION_ERROR', 'A JSON object is expected')
        refused = self._check_message(api_key, payload)
        if refused:
            return refused
        with self.lock:
            account = self.account_of(api_key)
            crm_message_id = payload.get('crmMessageId') or None
            if crm_message_id is not None and crm_message_id in account['sent_by_crm_message_id']:
                return _error(400, 'repeatedCrmMessageId', REPEATED_CRM_MESSAGE_ID)
            message = {'messageId': str(uuid.uuid4()), 'status': 'sent', 'at': self.now(),
                       **{key: payload.get(key) for key in ('channelId', 'chatType', 'chatId', 'text', 'contentUri',
                                                            'crmMessageId', 'crmUserId')}}
            account['sent'].append(message)
            if crm_message_id is not None:
                account['sent_by_crm_message_id'][crm_message_id] = message
            if self.status_progress:
                self._schedule_statuses(api_key, message['messageId'])
        return _answer(201, {'messageId': message['messageId'], 'chatId': message['chatId']})

    def _check_message(self, api_key, payload):
        chat_type, chat_id = payload.get('chatType'), payload.get('chatId')
        wrong = [field for field in ('channelId', 'chatType') if not _non_empty(payload.get(field))]
        telegram_alias = chat_type == 'telegram' and (_non_empty(payload.get('username'))
                                                      or _non_empty(payload.get('phone')))
        if not _non_empty(chat_id) and not telegram_alias:
            wrong.append('chatId')
        if chat_type is not None and chat_type not in CHAT_TYPES:
            wrong.append('chatType')
        wrong += [field for field in ('text', 'contentUri', 'crmMessageId', 'crmUserId')
                  if payload.get(field) is not None and not isinstance(payload[field], str)]
        if wrong:
            return _error(400, 'INVALID_MESSAGE_DATA', 'Some fields are missing or invalid',
                          data={'fields': sorted(set(wrong))})
        with self.lock:
            channel = self.account_of(api_key)['channels'].get(payload['channelId'])
            channel = dict(channel) if channel else None
        if channel is None:
            return _error(400, 'CHANNEL_NOT_FOUND', 'No such channel in this account')
        if channel['state'].lower() != 'active':
            return _error(400, 'MESSAGE_CHANNEL_UNAVAILABLE', f'The channel is {channel["state"]}')
        transport = channel['transport']
        if chat_type not in (CHAT_TYPE_OF_TRANSPORT[transport], GROUP_CHAT_TYPES.get(transport)):
            return _error(400, 'WRONG_TRANSPORT', f'A {transport} channel does not send to {chat_type}')
        text, content_uri = payload.get('text') or None, payload.get('contentUri') or None
        if (text is None) == (content_uri is None):
            return _error(400, 'MESSAGE_ONLY_TEXT_OR_CONTENT', 'Send either text or contentUri')
        limit = TEXT_LIMITS.get(transport)
        if text is not None and limit is not None and len(text) > limit:
            return _error(400, 'MESSAGE_TEXT_TOO_LONG', f'At most {limit} characters on {transport}',
                          data={'maxLength': limit})
        if content_uri is not None and not is_http_url(content_uri):
            return _error(400, 'MESSAGE_DOWNLOAD_CONTENT_ERROR', 'contentUri: an http(s) URL is expected')
        if chat_type == 'whatsapp' and not WHATSAPP_CHAT_ID_RE.fullmatch(chat_id or ''):
            return _error(400, 'BAD_CONTACT', 'chatId: the number in international format, digits only')
        return None

    def _schedule_statuses(self, api_key, message_id):
        self._timers = [timer for timer in self._timers if timer.is_alive()]
        for status, delay in zip(('sent', 'delivered', 'read'), self.status_progress, strict=False):
            timer = threading.Timer(delay, self._auto_status, args=(api_key, message_id, status,
                                                                    self._stop_statuses))
            timer.daemon = True
            self._timers.append(timer)
            timer.start()

    def _auto_status(self, api_key, message_id, status, stop):
        if stop.is_set():
            return
        try:
            self.deliver_status(api_key, message_id, status)
        except (KeyError, RuntimeError):
            return  # forgotten by a reset, or no webhooks to send it to
