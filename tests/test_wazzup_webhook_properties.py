"""Property-based tests of Wazzup's webhook route (hypothesis), over real HTTP.

POST /notify_rules/wazzup/webhook is public: anybody can send it anything, and a delivery carrying the right
`Authorization: Bearer <crmKey>` moves our messages, creates contacts and changes channel states. For arbitrary
bodies (JSON of any shape; near-valid `messages`, `statuses`, `createContact`, `createDeal`, `channelsUpdates`,
`templateStatus` deliveries naming our real messages and channel; raw bytes, invalid UTF-8, more than the 1 MiB
the route reads, empty) and Authorization headers (missing, other schemes, wrong keys, near misses of the key,
the key's stored hash, the right key with the scheme in any case):
- never a 5xx, always a JSON answer;
- a request without the right Bearer key is answered 401 (or 413 when too large) and writes nothing: digest of
  notify_inbound_event, of notify_message, of the Wazzup channels' states, and the counts of res_partner and
  mail_message;
- any request answered other than 200 writes nothing either;
- with the right key, a body that is not a JSON object is answered 400; a delivery of messages, statuses and
  channel updates whose texts PostgreSQL can store is answered 200, a `createContact` answered 200 gives the
  entity the contract asks for;
- with the right key, every status item (messageId, status) is applied at most once: a status the route has
  not seen adds its one event, one it has seen adds none, and a repeated delivery of the same body (Wazzup
  re-sends what was not answered in time) adds no event and writes nothing.

The expected answers are computed from how each request was built and from the contract
(/tmp/h/wazzup_contract.md, ../shared/provider-docs/wazzup-api-v3.md), not from the route's code.
"""

import json
import math
import os
import re
import tempfile

from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir

from odoo.tests import HttpCase, tagged

from ..controllers.wazzup_webhook import MAX_BODY_BYTES
from ..models.notify_provider_account_wazzup import crm_key_hash

# Hypothesis keeps caches in a directory of the current one (the checkout): keep them out of the repository.
set_hypothesis_home_dir(os.path.join(tempfile.gettempdir(), "notify_rules_hypothesis"))
SETTINGS = settings(max_examples=150, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
ROUTE = "/notify_rules/wazzup/webhook"
CRM_KEY = "Zq3-crm-key-of-this-odoo_7f1c9a0b4d6e8f20"
API_KEY = "7a2c0d5e9b1f4e3a8c6d2b0f1e9a7c35"
CHANNEL = "3f6c9a2e-1b7d-4c8e-9f05-7d2a41b6e803"
NUMBER = "221772457199"
MESSAGES = 4  # sent messages of the class; bodies name them by the placeholders @m0 .. @m3
PLACEHOLDER_RE = re.compile(r"@m([0-3])")
SURROGATE_RE = re.compile("[\ud800-\udfff]")
STATUS_WORDS = ("sent", "delivered", "read", "error")  # the contract's statuses of our messages (edited: no move)
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
JSON = "application/json"
# Digests: equal before and after = nothing written.
WATCHED = (
    ("notify_inbound_event", "SELECT count(*), md5(coalesce(string_agg(t::text, ',' ORDER BY t.id), '')) "
                             "FROM notify_inbound_event t"),
    ("notify_message", "SELECT count(*), md5(coalesce(string_agg(t::text, ',' ORDER BY t.id), '')) "
                       "FROM notify_message t"),
    ("notify_wazzup_channel", "SELECT count(*), md5(coalesce(string_agg(concat_ws('|', t.id, t.state, "
                              "t.provider_state, t.active), ',' ORDER BY t.id), '')) FROM notify_wazzup_channel t"),
    ("res_partner", "SELECT count(*), max(id) FROM res_partner"),
    ("mail_message", "SELECT count(*), max(id) FROM mail_message"),
)


def weighted(*choices):
    """A choice between strategies with weights: (weight, strategy) pairs."""
    return st.sampled_from([strategy for weight, strategy in choices for _ in range(weight)]).flatmap(lambda s: s)


# what a header may hold; `requests` refuses to send a value that starts with white space, Latin-1's too (U+0085,
# U+00A0): such a header never reaches the route
HEADER_TEXT = st.text(st.characters(min_codepoint=0x21, max_codepoint=0xFF), max_size=40).filter(
    lambda value: not value[:1].isspace())
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=8,
)
JUNK = st.one_of(st.integers(), st.booleans(), st.none(), st.floats(allow_nan=False), JSON_VALUES)
MESSAGE_IDS = weighted(
    (8, st.sampled_from([f"@m{i}" for i in range(MESSAGES)])),  # our real messages
    (1, st.sampled_from([" @m0", "@m1\n", "@m2@m2", "@M3", ""])),  # near misses
    (2, st.uuids().map(str)),  # well formed, unknown to us
    (1, st.text(max_size=60)), (1, st.text(min_size=190, max_size=260)), (1, JUNK),
)
STATUSES = weighted(
    (8, st.sampled_from(STATUS_WORDS)),
    (2, st.sampled_from(["edited", "Delivered", "READ", "inbound", "", " sent", "failed"])),
    (1, st.text(max_size=20)), (1, JUNK),
)
ERRORS = st.fixed_dictionaries({}, optional={
    "error": weighted((3, st.sampled_from(["BAD_CONTACT", "24_HOURS_EXCEEDED", "SPAM", "UNKNOWN_ERROR"])), (1, JUNK)),
    "description": weighted((3, st.sampled_from(["No WhatsApp on this number", "Spam"])), (1, JUNK)),
    "data": JUNK})
STATUS_FIELDS = {"messageId": MESSAGE_IDS, "timestamp": weighted((3, st.just("2026-12-02T08:00:01.000Z")), (1, JUNK)),
                 "status": STATUSES}
STATUS_ITEMS = weighted(
    (6, st.fixed_dictionaries(STATUS_FIELDS, optional={"error": ERRORS})),
    (2, st.fixed_dictionaries({}, optional=dict(STATUS_FIELDS, error=JUNK, extra=JUNK))),  # fields missing, more
    (1, JUNK),
)
CHAT_IDS = weighted((4, st.sampled_from([NUMBER, "221771112233", "79011112233"])),
                    (1, st.from_regex(r"[0-9]{0,20}", fullmatch=True)), (1, st.text(max_size=30)), (1, JUNK))
MESSAGE_FIELDS = {
    "messageId": MESSAGE_IDS, "channelId": weighted((4, st.just(CHANNEL)), (1, st.text(max_size=40))),
    "chatType": weighted((4, st.just("whatsapp")), (1, st.sampled_from(["telegram", "instagram", "vk"])), (1, JUNK)),
    "chatId": CHAT_IDS, "dateTime": weighted((3, st.just("2026-12-02T08:00:00.002Z")), (1, JUNK)),
    "type": weighted((3, st.sampled_from(["text", "image", "document", "unsupported"])), (1, JUNK)),
    "status": weighted((4, st.just("inbound")), (1, STATUSES)),
    "text": weighted((3, st.text(max_size=80)), (1, JUNK)),
    "contentUri": weighted((2, st.just("https://store.wazzup24.com/photo.jpg")), (1, JUNK)),
    "isEcho": weighted((3, st.booleans()), (1, JUNK)),
    "authorName": JUNK, "isEdited": st.booleans(), "isDeleted": st.booleans(),
    "contact": weighted((3, st.fixed_dictionaries({}, optional={"name": st.text(max_size=30),
                                                                "avatarUri": st.text(max_size=30)})), (1, JUNK)),
}
MESSAGE_ITEMS = weighted(
    (4, st.fixed_dictionaries({key: MESSAGE_FIELDS[key] for key in ("messageId", "channelId", "chatType", "chatId",
                                                                    "status", "text")},
                              optional={key: MESSAGE_FIELDS[key] for key in ("dateTime", "type", "contentUri",
                                                                             "isEcho", "authorName", "isEdited",
                                                                             "isDeleted", "contact")})),
    (2, st.fixed_dictionaries({}, optional=MESSAGE_FIELDS)),
    (1, JUNK),
)
CONTACT_DATA = st.lists(weighted(
    (4, st.fixed_dictionaries({"chatType": st.just("whatsapp"), "chatId": CHAT_IDS})),
    (1, st.fixed_dictionaries({}, optional={"chatType": JUNK, "chatId": CHAT_IDS})), (1, JUNK)), max_size=3)
CREATE_CONTACT = st.fixed_dictionaries({}, optional={
    "responsibleUserId": weighted((3, st.just("1")), (1, JUNK)), "name": weighted((3, st.text(max_size=40)), (1, JUNK)),
    "contactData": weighted((4, CONTACT_DATA), (1, JUNK)), "source": st.sampled_from(["auto", "byUser"])})
CREATE_DEAL = st.fixed_dictionaries({}, optional={
    "responsibleUserId": weighted((3, st.just("1")), (1, JUNK)),
    "contacts": weighted((3, st.lists(st.sampled_from(["@partner", "1", "999999999"]), max_size=3)), (1, JUNK)),
    "source": st.sampled_from(["auto", "byUser"])})
CHANNEL_STATES = st.sampled_from(["active", "disabled", "qr", "phoneUnavailable", "openElsewhere", "notEnoughMoney",
                                  "unauthorized", "ACTIVE", "somethingNew"])
CHANNEL_UPDATES = weighted(
    (4, st.fixed_dictionaries({"channelId": weighted((4, st.just(CHANNEL)), (1, st.uuids().map(str))),
                               "state": weighted((4, CHANNEL_STATES), (1, JUNK))},
                              optional={"timestamp": st.integers(), "tier": st.just("TIER_1K")})),
    (1, JUNK),
)
TEMPLATE_STATUS = st.fixed_dictionaries({}, optional={
    "templateGuid": weighted((3, st.uuids().map(str)), (1, JUNK)), "name": st.text(max_size=20),
    "status": weighted((3, st.sampled_from(["APPROVED", "rejected", "PENDING"])), (1, JUNK))})
SEQUENCES = weighted((6, st.lists(STATUS_ITEMS, max_size=6)), (1, JUNK))
DELIVERIES = weighted(  # near-valid bodies, as the contract's §Webhooks writes them
    (6, st.fixed_dictionaries({"statuses": SEQUENCES})),
    (3, st.fixed_dictionaries({"messages": weighted((6, st.lists(MESSAGE_ITEMS, max_size=4)), (1, JUNK))})),
    (2, st.fixed_dictionaries({}, optional={"messages": st.lists(MESSAGE_ITEMS, max_size=3), "statuses": SEQUENCES})),
    (2, st.fixed_dictionaries({"createContact": weighted((5, CREATE_CONTACT), (1, JUNK))})),
    (1, st.fixed_dictionaries({"createDeal": weighted((5, CREATE_DEAL), (1, JUNK))})),
    (2, st.fixed_dictionaries({"channelsUpdates": weighted((5, st.lists(CHANNEL_UPDATES, max_size=3)), (1, JUNK))})),
    (1, st.fixed_dictionaries({"templateStatus": weighted((5, TEMPLATE_STATUS), (1, JUNK))})),
    (1, st.fixed_dictionaries({"test": weighted((3, st.just(True)), (1, JUNK))})),
    (1, st.fixed_dictionaries({"statuses": st.lists(st.fixed_dictionaries(STATUS_FIELDS), min_size=50,
                                                    max_size=150)})),  # a large batch
    (1, st.dictionaries(st.sampled_from(["messages", "statuses", "createContact", "createDeal", "channelsUpdates",
                                         "templateStatus", "test", "other"]), JUNK, max_size=4)),
)
# (kind, value, extra): how the body's bytes are made from `value` (see TestWazzupWebhookProperties.raw_body)
BODIES = weighted(
    (10, DELIVERIES.map(lambda value: ("js", value, None))),  # as Wazzup writes it: UTF-8, no spaces
    (2, DELIVERIES.map(lambda value: ("python", value, None))),  # Python's json.dumps: other bytes, same object
    (1, st.tuples(DELIVERIES, st.sampled_from([b"\n", b" ", b"x", b"\x00", b"\xff", b"}"])).map(
        lambda pair: ("suffix", pair[0], pair[1]))),
    (1, DELIVERIES.map(lambda value: ("latin1", value, None))),  # invalid UTF-8 where the text is not ASCII
    (2, JSON_VALUES.map(lambda value: ("js", value, None))),  # JSON of any shape
    (1, st.binary(max_size=300).map(lambda raw: ("raw", raw, None))),
    (1, st.tuples(DELIVERIES, st.integers(min_value=MAX_BODY_BYTES + 1, max_value=2 * MAX_BODY_BYTES)).map(
        lambda pair: ("padded", pair[0], pair[1]))),
    (1, st.just(("raw", b"", None))),
)
SCHEMES = st.sampled_from(["Bearer", "bearer", "BEARER", "bEaReR"])
# (kind, detail): the Authorization header; only "right" carries the right key
AUTHORIZATIONS = weighted(
    (10, st.tuples(st.just("right"), st.tuples(SCHEMES, st.sampled_from([" ", " ", "  "])))),
    (1, st.just(("missing", None))),
    (1, st.tuples(st.just("scheme"), st.sampled_from(["Basic", "Token", "Bearer:", "Bearerx", "Digest", ""]))),
    (1, st.tuples(st.just("wrong_key"), weighted(
        (2, st.sampled_from(["", CRM_KEY.upper(), CRM_KEY[:-1], CRM_KEY + "x", " ", crm_key_hash(CRM_KEY), API_KEY,
                             CRM_KEY.replace("-", "_"), "x" * 600])),
        (1, HEADER_TEXT.filter(lambda key: key.strip() != CRM_KEY))))),
    (1, st.tuples(st.just("raw"), HEADER_TEXT.filter(lambda value: CRM_KEY not in value))),
    (1, st.just(("key_alone", None))),
)
CONTENT_TYPES = weighted(
    (8, st.sampled_from([JSON, "application/json; charset=utf-8"])),
    (1, st.none()),
    (1, st.sampled_from(["text/plain", "application/octet-stream", "application/x-www-form-urlencoded"])),
)
RIGHT = ("right", ("Bearer", " "))


def status(message_id="@m0", word="delivered", **values):
    return dict({"messageId": message_id, "timestamp": "2026-12-02T08:00:01.000Z", "status": word}, **values)


def storable(value):
    """Whether PostgreSQL can keep a JSON value: no NUL nor lone surrogate in a text, no number its json type
    refuses (Python reads 1e999 as infinity, and the non-standard Infinity and NaN)."""
    if isinstance(value, str):
        return "\x00" not in value and not SURROGATE_RE.search(value)
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, list):
        return all(storable(item) for item in value)
    if isinstance(value, dict):
        return all(storable(key) and storable(item) for key, item in value.items())
    return True


@tagged("post_install", "-at_install")
class TestWazzupWebhookProperties(HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.account = cls.env["notify.provider.account"].create({
            "name": "Wazzup properties", "provider": "wazzup", "environment": "sandbox",
            "base_url": "http://127.0.0.1:9/wazzup", "wazzup_api_key": API_KEY,
            "wazzup_crm_key_hash": crm_key_hash(CRM_KEY)})
        cls.channel = cls.env["notify.wazzup.channel"].create({
            "provider_account_id": cls.account.id, "channel_id": CHANNEL, "transport": "whatsapp",
            "plain_id": "221770000000", "state": "active"})
        cls.account.wazzup_channel_id = cls.channel
        cls.partner = cls.env["res.partner"].create({"name": "Awa Ndiaye", "mobile": "+221 77 245 71 99"})
        cls.messages = cls.env["notify.message"].create([{
            "provider_account_id": cls.account.id, "recipient_e164": "+" + NUMBER, "body": f"Bonjour {index}",
            "channel": "whatsapp", "state": "sent", "provider_ref": f"9b0c7d3e-41f6-4a2b-8c5d-00000000000{index}",
            "sent_at": "2026-12-02 08:00:00"} for index in range(MESSAGES)])
        cls.env.cr.flush()
        cls.refs = {f"@m{i}": message.provider_ref for i, message in enumerate(cls.messages)}
        cls.refs["@partner"] = str(cls.partner.id)

    # ---- building a request -------------------------------------------------------------------------------
    def resolve(self, value):
        """The placeholders of our messages (and contact) replaced by their ids, anywhere in the body."""
        if isinstance(value, str):
            value = value.replace("@partner", self.refs["@partner"])
            return PLACEHOLDER_RE.sub(lambda match: self.refs[match.group()], value)
        if isinstance(value, list):
            return [self.resolve(item) for item in value]
        if isinstance(value, dict):
            return {key: self.resolve(item) for key, item in value.items()}
        return value

    def raw_body(self, body):
        kind, value, extra = body
        if kind == "raw":
            return value
        value = self.resolve(value)
        if kind == "python":
            return json.dumps(value).encode()
        if kind == "padded":  # a delivery grown past the limit by one more field
            value = dict(value, pad="")
            value["pad"] = "x" * max(0, extra - len(self.js(value)))
        if kind == "latin1":
            return self.js(value).decode().encode("latin-1", "replace")
        return self.js(value) + (extra if kind == "suffix" else b"")

    @staticmethod
    def js(value):
        """Wazzup's bytes (JSON.stringify): UTF-8, no spaces; a lone surrogate goes out as JSON.stringify writes it,
        escaped."""
        return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8", "backslashreplace")

    @staticmethod
    def authorization(kind, detail):
        if kind == "right":
            scheme, separator = detail
            return f"{scheme}{separator}{CRM_KEY}"
        return {
            "missing": lambda: None,
            "scheme": lambda: f"{detail} {CRM_KEY}".strip(),
            "wrong_key": lambda: f"Bearer {detail}",
            "raw": lambda: detail,
            "key_alone": lambda: CRM_KEY,
        }[kind]()

    # ---- observing ------------------------------------------------------------------------------------------
    def snapshot(self):
        self.env.flush_all()
        digest = {}
        for name, query in WATCHED:
            self.env.cr.execute(query)
            digest[name] = self.env.cr.fetchone()
        return digest

    def status_keys(self):
        self.env.cr.execute(
            "SELECT external_id FROM notify_inbound_event WHERE source = 'wazzup' AND action = 'status'")
        return {row[0] for row in self.env.cr.fetchall()}

    def post(self, raw, headers):
        response = self.opener.post(f"{self.base_url()}{ROUTE}", data=raw, headers=headers, timeout=60,
                                    allow_redirects=False)
        self.assertLess(response.status_code, 500, response.text[:500])
        self.assertTrue(response.headers.get("Content-Type", "").startswith("application/json"),
                        f"{response.status_code} {response.headers.get('Content-Type')}: {response.text[:300]}")
        answer = response.json()
        self.env.invalidate_all()
        return response.status_code, answer

    # ---- the properties ---------------------------------------------------------------------------------------
    @SETTINGS
    @given(body=BODIES, authorization=AUTHORIZATIONS, content_type=CONTENT_TYPES)
    # accepted: statuses of our messages (one of them twice in the delivery), in any scheme case
    @example(body=("js", {"statuses": [status("@m0"), status("@m0"), status("@m1", "read")]}, None),
             authorization=RIGHT, content_type=JSON)
    @example(body=("js", {"statuses": [status("@m2", "error", error={"error": "BAD_CONTACT", "description": "No WA"})]},
                   None), authorization=("right", ("bearer", "  ")), content_type=None)
    @example(body=("js", {"statuses": [status("@m3", "edited"), status("unknown-to-us", "read")]}, None),
             authorization=("right", ("BEARER", " ")), content_type=JSON)
    @example(body=("js", {"messages": [{"messageId": "in-1", "channelId": CHANNEL, "chatType": "whatsapp",
                                        "chatId": NUMBER, "status": "inbound", "text": "Bonjour"}],
                          "statuses": [status("@m1", "delivered")]}, None), authorization=RIGHT, content_type=JSON)
    @example(body=("js", {"createContact": {"responsibleUserId": "1", "name": "Moussa Diop", "source": "auto",
                                            "contactData": [{"chatType": "whatsapp", "chatId": "221775556677"}]}},
                   None), authorization=RIGHT, content_type=JSON)
    @example(body=("js", {"createDeal": {"responsibleUserId": "1", "contacts": ["@partner"], "source": "byUser"}},
                   None), authorization=RIGHT, content_type=JSON)
    @example(body=("js", {"channelsUpdates": [{"channelId": CHANNEL, "state": "phoneUnavailable", "timestamp": 1}]},
                   None), authorization=RIGHT, content_type=JSON)
    @example(body=("js", {"templateStatus": {"templateGuid": "t-1", "name": "x", "status": "approved"}}, None),
             authorization=RIGHT, content_type=JSON)
    @example(body=("js", {"test": True}, None), authorization=RIGHT, content_type=JSON)
    # the same deliveries without the right key
    @example(body=("js", {"statuses": [status("@m0", "read")]}, None), authorization=("missing", None),
             content_type=JSON)
    @example(body=("js", {"statuses": [status("@m0", "read")]}, None), authorization=("scheme", "Basic"),
             content_type=JSON)
    @example(body=("js", {"statuses": [status("@m0", "read")]}, None), authorization=("key_alone", None),
             content_type=JSON)
    @example(body=("js", {"statuses": [status("@m0", "read")]}, None),
             authorization=("wrong_key", crm_key_hash(CRM_KEY)), content_type=JSON)
    @example(body=("js", {"statuses": [status("@m0", "read")]}, None), authorization=("wrong_key", CRM_KEY.upper()),
             content_type=JSON)
    @example(body=("js", {"statuses": [status("@m0", "read")]}, None), authorization=("wrong_key", "x" * 600),
             content_type=JSON)
    @example(body=("js", {"channelsUpdates": [{"channelId": CHANNEL, "state": "disabled"}]}, None),
             authorization=("wrong_key", ""), content_type=JSON)
    @example(body=("js", {"createContact": {"responsibleUserId": "1", "name": "Intrus",
                                            "contactData": [{"chatType": "whatsapp", "chatId": "221770001122"}]}},
                   None), authorization=("wrong_key", CRM_KEY + "x"), content_type=JSON)
    # bodies with the right key: not an object, invalid UTF-8, too large, empty, ill-typed sections
    @example(body=("js", [status("@m0")], None), authorization=RIGHT, content_type=JSON)
    @example(body=("js", "statuses", None), authorization=RIGHT, content_type=JSON)
    @example(body=("latin1", {"statuses": [status("@m0", "read", note="é")]}, None), authorization=RIGHT,
             content_type=JSON)
    @example(body=("raw", b"\xff\xfe{}", None), authorization=RIGHT, content_type=JSON)
    @example(body=("raw", b"", None), authorization=RIGHT, content_type=JSON)
    @example(body=("padded", {"statuses": [status("@m0", "read")]}, MAX_BODY_BYTES + 1), authorization=RIGHT,
             content_type=JSON)
    @example(body=("padded", {"statuses": [status("@m0", "read")]}, MAX_BODY_BYTES + 1),
             authorization=("missing", None), content_type=JSON)
    @example(body=("js", {"statuses": 5}, None), authorization=RIGHT, content_type=JSON)
    @example(body=("js", {"messages": True, "channelsUpdates": 1.5}, None), authorization=RIGHT, content_type=JSON)
    @example(body=("js", {"statuses": "@m0"}, None), authorization=RIGHT, content_type=JSON)
    @example(body=("js", {"createContact": {"contactData": 1}}, None), authorization=RIGHT, content_type=JSON)
    @example(body=("js", {"createContact": {"contactData": [{"chatType": "whatsapp", "chatId": ["221775556677"]}],
                                            "name": {"first": "x"}}}, None), authorization=RIGHT, content_type=JSON)
    def test_webhook(self, body, authorization, content_type):
        status_code, answer = self.check(body, authorization, content_type)
        event(f"{status_code} {sorted(answer)[:3] if isinstance(answer, dict) else type(answer).__name__}")
        event(f"sent: authorization {authorization[0]}, body {body[0]}")

    def test_values_postgresql_cannot_store(self):
        """JSON may carry a NUL or a lone surrogate (escaped: the body is valid UTF-8 JSON), or a number too large
        for a float (1e999), which PostgreSQL cannot store: a delivery with the right key holding one must still be
        answered (200, or 400 as malformed, writing nothing), never with a 5xx that Wazzup would re-send."""
        ref = self.refs["@m3"]
        for raw in (b'{"statuses":[{"messageId":"%s","status":"read","timestamp":1e999}]}' % ref.encode(),
                    b'{"statuses":[{"messageId":"%s","status":"sent","timestamp":-Infinity}]}' % ref.encode(),
                    b'{"channelsUpdates":[{"channelId":"%s","state":"qr","timestamp":NaN}]}' % CHANNEL.encode()):
            with self.subTest(raw=raw):
                self.check(("raw", raw, None), RIGHT, JSON)
        for value in ({"statuses": [status("@m0\x00")]}, {"statuses": [status("@m1", "read", note="\ud800")]},
                      {"statuses": [status("@m2", "error", error={"error": "X", "description": "\x00"})]},
                      {"messages": [{"messageId": "in-\udfff", "chatId": NUMBER, "text": "a"}]},
                      {"messages": [{"messageId": "in-2", "chatId": NUMBER, "text": "\x00"}]},
                      {"channelsUpdates": [{"channelId": CHANNEL, "state": "qr\x00"}]},
                      {"templateStatus": {"templateGuid": "\x00", "status": "APPROVED"}},
                      {"createContact": {"name": "A\x00", "contactData": [{"chatType": "whatsapp",
                                                                           "chatId": "221775550000"}]}}):
            with self.subTest(value=value):
                self.check(("js", value, None), RIGHT, JSON)

    def check(self, body, authorization, content_type):
        """One request (and, when it was accepted, its repeat), and every property of the answers and of what
        they wrote; returns (status, answer)."""
        raw = self.raw_body(body)
        headers = {}
        if content_type is not None:
            headers["Content-Type"] = content_type
        header = self.authorization(*authorization)
        if header is not None:
            headers["Authorization"] = header
        right = authorization[0] == "right"
        before, keys_before = self.snapshot(), self.status_keys()
        code, answer = self.post(raw, headers)
        if len(raw) > MAX_BODY_BYTES:
            self.assertEqual(code, 413, answer)
        elif not right:
            self.assertEqual(code, 401, answer)
        if code != 200:
            self.assertEqual(self.snapshot(), before, f"{code} {answer}: a rejected request wrote something")
        if not right or len(raw) > MAX_BODY_BYTES:
            return code, answer
        form = (content_type or "").split(";")[0].strip().lower() in FORM_TYPES
        try:
            value = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            value = None
        if form:  # Odoo reads a form body as fields before the route: what the route then sees is not known here
            self.assertIn(code, (200, 400), answer)
        elif not isinstance(value, dict):
            self.assertEqual(code, 400, f"{value!r} is not a JSON object, but was answered {code} {answer}")
        elif not storable(value):
            self.assertIn(code, (200, 400), answer)
        elif not {"createContact", "createDeal", "test"} & set(value):
            self.assertEqual(code, 200, f"a delivery with the right key was refused: {answer}")
        if code != 200:
            return code, answer
        if not form and isinstance(value, dict):
            self.check_statuses(value, keys_before)
            self.check_entity(value, answer)
        # Wazzup re-sends a delivery it thinks lost: the same body again changes nothing
        after = self.snapshot()
        again, answer_again = self.post(raw, headers)
        self.assertEqual(again, 200, answer_again)
        self.assertEqual(self.snapshot(), after, "a repeated delivery wrote something")
        if isinstance(value, dict) and isinstance(value.get("createContact"), dict):
            self.assertEqual(answer_again.get("id"), answer.get("id"), "a repeated createContact made another")
        return code, answer

    def check_statuses(self, value, keys_before):
        """Each (messageId, status) of the contract's statuses is recorded once: the new ones now, the known ones
        never again; nothing else becomes a status event."""
        keys_after = self.status_keys()
        self.assertLessEqual(keys_before, keys_after)
        added = keys_after - keys_before
        items = value.get("statuses") if isinstance(value.get("statuses"), list) else []
        items = [item for item in items if isinstance(item, dict)]
        if not storable(value):  # kept in some storable form (NUL replaced...): at most one event per item
            self.assertLessEqual(len(added), len(items), "more status events than items in the delivery")
            return
        possible = {f"{str(item.get('messageId'))[:200]}:{str(item.get('status'))[:64]}" for item in items}
        self.assertLessEqual(added, possible, "status events that no item of the delivery carried")
        if {"createContact", "createDeal"} & set(value) or value.get("test") is True:
            return  # those arrive alone (the contract): their statuses, if any, may be ignored
        required = {f"{item['messageId']}:{item['status']}" for item in items
                    if isinstance(item.get("messageId"), str) and item["messageId"].strip()
                    and len(item["messageId"]) <= 200 and item.get("status") in STATUS_WORDS}
        self.assertEqual(required - keys_before, required & added,
                         "a status of the delivery was not recorded, or a known one was recorded again")

    def check_entity(self, value, answer):
        """An accepted createContact is answered with the entity Wazzup stores (the contract's CRUD shape)."""
        if not isinstance(value.get("createContact"), dict):
            return
        self.assertIsInstance(answer.get("id"), str)
        self.assertTrue(answer["id"])
        self.assertIsInstance(answer.get("name"), str)
        self.assertIsInstance(answer.get("uri"), str)
        self.assertIsInstance(answer.get("contactData"), list)
        self.assertTrue(answer["contactData"])
        partner = self.env["res.partner"].browse(int(answer["id"])).exists()
        self.assertTrue(partner, "the contact answered does not exist")
