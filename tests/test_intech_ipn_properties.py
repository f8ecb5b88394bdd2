"""Property-based tests of Intech's IPN route (hypothesis), over real HTTP.

POST /notify_rules/intech/ipn/<account id> is public: anybody can send it anything, and a signed IPN moves money
states. For arbitrary bodies (any JSON, near-valid IPNs naming our real operations with random statuses, raw
bytes, invalid UTF-8, more than 64 KiB, empty), headers (Timestamp missing, garbage, in seconds, stale, in the
future, huge; Hmac-Signature missing, garbage, made with the right or a wrong secret, in upper or lower hex, for
another body or timestamp), content types and account ids (the Intech account, a WAP account, none):
- never a 5xx, always a JSON answer;
- a request that is not correctly signed for that account, or not fresh, is answered 401, 400 or 413 and writes
  nothing (digest of the callbacks, the operations, the outbox and the operations' chatter);
- a correctly signed, fresh JSON object naming an externalTransactionId is answered 200 and stores exactly one
  callback; one without it (or not an object, not UTF-8 JSON) is answered 400 and stores nothing;
- the operations' state machine holds whatever arrives: a final state never changes (never back to pending), an
  operation is settled at most once (one 'applied' callback; its chatter note comes from the cron).
A body sent as a form (urlencoded, multipart) is read by Odoo as form fields before the route runs, which then
sees no body or part of it: of such a request only the first two properties are asked. A correctly signed body
whose JSON text carries a NUL or a lone surrogate (which PostgreSQL cannot store) may be kept or refused as
malformed (400), never answered 5xx.

The expected answers are computed from how each request was built (the contract, ../shared/provider-docs), not
from the route's code: signatures are made with the simulator's own JSON.stringify and HMAC.
"""

import json
import os
import re
import tempfile
import time

from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir
from werkzeug.http import parse_options_header

from odoo.tests import HttpCase, tagged

from ..controllers.intech_ipn import MAX_BODY_BYTES
from .common import NotifySimulatorMixin
from .money_common import create_intech_account
from .simulator.intech import (
    DEMO_API_KEY,
    DEMO_HMAC_SECRET,
    DEMO_SECRET_KEY,
    IPN_MESSAGES,
    intech_signature,
    js_stringify,
)

# Hypothesis keeps caches in a directory of the current one (the checkout): keep them out of the repository.
set_hypothesis_home_dir(os.path.join(tempfile.gettempdir(), "notify_rules_hypothesis"))
SETTINGS = settings(max_examples=180, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
SEQUENCE_SETTINGS = settings(max_examples=40, deadline=None, database=None,
                             suppress_health_check=[HealthCheck.too_slow])
SERVICE = "WAVE_SN_API_CASH_IN"
PHONE = "772457199"
OPERATIONS = 6  # pending operations of the class; bodies name them by the placeholders @op0 .. @op5
PLACEHOLDER_RE = re.compile(r"@op([0-5])")
SURROGATE_RE = re.compile("[\ud800-\udfff]")
FINAL_STATES = ("done", "failed", "cancelled")
CANONICAL = {"SUCCESS": "done", "FAILED": "failed", "PENDING": "pending"}  # the contract's three IPN statuses
RESULTS = ("applied", "duplicate", "ignored", "conflict", "unknown_operation", "unknown_status")
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
MINUTE_MS = 60 * 1000
# Row digests: equal before and after = nothing written. The operations' chatter catches a conflict's note.
WATCHED = (
    ("notify_money_callback", "SELECT count(*), md5(coalesce(string_agg(t::text, ',' ORDER BY t.id), '')) "
                              "FROM notify_money_callback t"),
    ("notify_money_operation", "SELECT count(*), md5(coalesce(string_agg("
                               "concat_ws('|', t.id, t.state, t.needs_review, t.provider_ref, t.state_source, "
                               "t.provider_status, t.state_reason, t.done_at, t.post_process_due), ',' "
                               "ORDER BY t.id), '')) FROM notify_money_operation t"),
    ("notify_message", "SELECT count(*), md5(coalesce(string_agg(t::text, ',' ORDER BY t.id), '')) "
                       "FROM notify_message t"),
    ("operation chatter", "SELECT count(*), max(id) FROM mail_message WHERE model = 'notify.money.operation'"),
)
STATE_TRACKING = """
    SELECT m.res_id, count(*), count(*) FILTER (WHERE v.old_value_char = %s)
      FROM mail_tracking_value v
      JOIN mail_message m ON m.id = v.mail_message_id
      JOIN ir_model_fields f ON f.id = v.field_id
     WHERE m.model = 'notify.money.operation' AND f.model = 'notify.money.operation' AND f.name = 'state'
  GROUP BY m.res_id
"""


def weighted(*choices):
    """A choice between strategies with weights: (weight, strategy) pairs."""
    return st.sampled_from([strategy for weight, strategy in choices for _ in range(weight)]).flatmap(lambda s: s)


ASCII = st.characters(min_codepoint=0x21, max_codepoint=0x7E)  # what an HTTP header value may start with
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=8,
)
JUNK = st.one_of(st.integers(), st.booleans(), st.none(), st.floats(allow_nan=False), JSON_VALUES)
EXTERNAL_IDS = weighted(
    (8, st.sampled_from([f"@op{i}" for i in range(OPERATIONS)])),  # our real operations
    (1, st.sampled_from([" @op0", "@op1\n", "@op2@op2", "@OP3", ""])),  # near misses
    (1, st.uuids().map(lambda u: u.hex)),  # well formed, unknown to us
    (1, st.text(max_size=80)), (1, st.text(ASCII, min_size=250, max_size=300)), (1, JUNK),
)
STATUSES = weighted(
    (8, st.sampled_from(["SUCCESS", "FAILED", "PENDING"])),
    (2, st.sampled_from(["success", "Successful", "COMPLETED", "ERROR", "CANCELLED", "", " SUCCESS ", "EN_COURS"])),
    (1, st.text(max_size=20)), (1, JUNK),
)
TRANSACTION_IDS = weighted((4, st.from_regex(r"ITX[0-9A-F]{12}", fullmatch=True)), (1, st.integers()), (1, JUNK))
MESSAGES = weighted((4, st.sampled_from(sorted(IPN_MESSAGES.values()))), (1, st.text(max_size=60)), (1, JUNK))
IPN_FIELDS = {  # the contract's IPN body, in its key order
    "transactionId": TRANSACTION_IDS,
    "externalTransactionId": EXTERNAL_IDS,
    "codeService": weighted((4, st.just(SERVICE)), (1, st.text(max_size=30))),
    "phone": weighted((4, st.just(PHONE)), (1, st.text(max_size=15))),
    "amount": weighted((4, st.integers(min_value=1, max_value=10**7)), (1, JUNK)),
    "status": STATUSES,
    "message": MESSAGES,
    "date": weighted((4, st.just("2026-12-02T10:15:30.123Z")), (1, JUNK)),
}
IPNS = weighted(
    (5, st.fixed_dictionaries(IPN_FIELDS)),
    (2, st.fixed_dictionaries({}, optional=dict(IPN_FIELDS, extra=JUNK))),  # fields missing, one more
    (1, st.fixed_dictionaries({"success": st.booleans(), "data": st.fixed_dictionaries(IPN_FIELDS)})),  # wrapped
)
# (kind, value, extra): how the body's bytes are made from `value` (see TestIntechIpnProperties.raw_body)
BODIES = weighted(
    (10, IPNS.map(lambda value: ("js", value, None))),  # as Intech writes it: JSON.stringify
    (2, IPNS.map(lambda value: ("python", value, None))),  # Python's json.dumps: other bytes, same object
    (1, st.tuples(IPNS, st.sampled_from([b"\n", b" ", b"x", b"\x00", b"\xff", b"}"])).map(
        lambda pair: ("suffix", pair[0], pair[1]))),
    (1, IPNS.map(lambda value: ("latin1", value, None))),  # invalid UTF-8 where the text is not ASCII
    (2, JSON_VALUES.map(lambda value: ("js", value, None))),
    (1, st.binary(max_size=300).map(lambda raw: ("raw", raw, None))),
    (1, st.tuples(IPNS, st.integers(min_value=MAX_BODY_BYTES + 1, max_value=3 * MAX_BODY_BYTES)).map(
        lambda pair: ("padded", pair[0], pair[1]))),
    (1, st.just(("raw", b"", None))),
)
# (kind, detail): the Timestamp header, made at sending time from the clock
TIMESTAMPS = weighted(
    (10, st.integers(min_value=-4 * MINUTE_MS - 30000, max_value=50000).map(lambda offset: ("fresh", offset))),
    (1, st.just(("missing", None))),
    (1, st.integers(min_value=5 * MINUTE_MS + 5000, max_value=10**12).map(lambda age: ("stale", age))),
    (1, st.integers(min_value=MINUTE_MS + 5000, max_value=10**12).map(lambda ahead: ("future", ahead))),
    (1, st.text(ASCII, max_size=20).map(lambda text: ("text", text))),
    (1, st.from_regex(r"[1-9][0-9]{16,40}", fullmatch=True).map(lambda text: ("text", text))),
    (1, st.sampled_from(["{}.0", "+{}", "-{}", "{}ms", "0x{:x}", "{}e0"]).map(lambda fmt: ("format", fmt))),
    (1, st.just(("seconds", None))),
)
HEX_CASES = st.sampled_from(["lower", "upper"])
# (kind, hex case, detail): the Hmac-Signature header
SIGNATURES = weighted(
    (10, st.tuples(st.just("right"), HEX_CASES, st.sampled_from(["raw", "raw", "stringify"]))),
    (1, st.just(("missing", None, None))),
    (1, st.tuples(st.just("wrong_secret"), HEX_CASES, weighted(
        (2, st.sampled_from(["", DEMO_HMAC_SECRET + " ", DEMO_HMAC_SECRET.upper(), DEMO_API_KEY, DEMO_SECRET_KEY])),
        (1, st.text(max_size=30).filter(lambda secret: secret != DEMO_HMAC_SECRET))))),
    (1, st.tuples(st.just("garbage"), st.none(), weighted(
        (1, st.from_regex(r"[0-9a-f]{0,63}|[0-9a-f]{65,70}", fullmatch=True)),
        (1, st.text(ASCII, max_size=80))))),
    (1, st.tuples(st.sampled_from(["other_body", "other_timestamp"]), HEX_CASES, st.none())),
)
JSON = "application/json"
CONTENT_TYPES = weighted(
    (8, st.sampled_from([JSON, "application/json; charset=utf-8", "application/json;charset=UTF-8"])),
    (1, st.none()),
    (1, st.sampled_from(["text/plain", "application/octet-stream", "application/x-www-form-urlencoded",
                         "multipart/form-data; boundary=x", "Application/X-WWW-Form-Urlencoded; charset=utf-8"])),
    (1, st.text(ASCII, min_size=1, max_size=40)),
)
INTECH, OTHER = ("intech", None), ("other", None)
ACCOUNTS = weighted(
    (8, st.just(INTECH)), (1, st.just(OTHER)),
    (1, st.one_of(st.just(0), st.integers(min_value=10**6, max_value=10**30)).map(lambda id_: ("missing", id_))),
)
FRESH, RIGHT = ("fresh", 0), ("right", "lower", "raw")


def ipn(external_id="@op0", status="SUCCESS", **values):
    """An IPN as the contract writes it, for the operation named by a placeholder."""
    return dict({"transactionId": "ITX0123456789AB", "externalTransactionId": external_id, "codeService": SERVICE,
                 "phone": PHONE, "amount": 1500, "status": status, "message": IPN_MESSAGES.get(status, "?"),
                 "date": "2026-12-02T10:15:30.123Z"}, **values)


def first(body, key):
    """The contract's fields are read in the object, else in its `data` object (our documented reading)."""
    if body.get(key) not in (None, ""):
        return body[key]
    data = body.get("data")
    return data.get(key) if isinstance(data, dict) else None


def storable(value):
    """Whether PostgreSQL can keep every text of a JSON value (no NUL, no lone surrogate)."""
    if isinstance(value, str):
        return "\x00" not in value and not SURROGATE_RE.search(value)
    if isinstance(value, list):
        return all(storable(item) for item in value)
    if isinstance(value, dict):
        return all(storable(key) and storable(item) for key, item in value.items())
    return True


@tagged("post_install", "-at_install")
class TestIntechIpnProperties(NotifySimulatorMixin, HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.start_simulator()
        cls.intech = create_intech_account(cls.env, cls.simulator, cls.base_url(), name="Intech IPN properties")
        cls.service = cls.env["notify.intech.service"].search(
            [("code", "=", SERVICE), ("provider_account_id", "=", cls.intech.id)])
        cls.other = cls.create_wap_account(cls.env)  # a real account, of another provider
        cls.operations = cls.env["notify.money.operation"]
        for index in range(OPERATIONS):
            cls.operations |= cls.make_operation(cls.env, 1000 + index)
        cls.env.cr.flush()  # the HTTP requests read the database, and the tracking is written at flush
        cls.ids_by_placeholder = {f"@op{i}": op.external_id for i, op in enumerate(cls.operations)}

    def setUp(self):
        super().setUp()
        self.final = {}  # operation id -> the final state it was seen in (each test starts from the class set-up)

    @classmethod
    def make_operation(cls, env, amount):
        operation = env["notify.money.operation"].create({
            "provider_account_id": cls.intech.id, "service_id": cls.service.id, "phone": PHONE, "amount": amount})
        operation.action_request()  # pending; never dispatched: only IPNs move it
        return operation

    # ---- building a request ---------------------------------------------------------------------------
    def resolve(self, value):
        """The placeholders of our operations replaced by their externalTransactionId, anywhere in the body."""
        if isinstance(value, str):
            return PLACEHOLDER_RE.sub(lambda match: self.ids_by_placeholder[match.group()], value)
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
        if kind == "padded":  # an IPN grown past the limit by one more field
            value = dict(value, pad="")
            value["pad"] = "x" * max(0, extra - len(js_stringify(value).encode()))
        text = js_stringify(value)
        if kind == "latin1":
            return text.encode("latin-1", "replace")
        return text.encode() + (extra if kind == "suffix" else b"")

    @staticmethod
    def timestamp(kind, detail):
        now_ms = int(time.time() * 1000)
        return {
            "fresh": lambda: str(now_ms + (detail or 0)),
            "missing": lambda: None,
            "stale": lambda: str(now_ms - detail),
            "future": lambda: str(now_ms + detail),
            "text": lambda: detail,
            "format": lambda: detail.format(now_ms),
            "seconds": lambda: str(now_ms // 1000),
        }[kind]()

    @staticmethod
    def signed_text(raw, target):
        """What a signature is made over: the raw text, or JSON.stringify of the object it holds."""
        text = raw.decode("utf-8", "replace")
        if target == "stringify":
            try:
                value = json.loads(raw.decode("utf-8"))
            except ValueError:
                return text
            if isinstance(value, (dict, list)):
                return js_stringify(value)
        return text

    def signature(self, signature, raw, timestamp):
        kind, case, detail = signature
        ts = timestamp or str(int(time.time() * 1000))
        if kind == "missing":
            return None
        if kind == "garbage":
            return detail
        secret = detail if kind == "wrong_secret" else DEMO_HMAC_SECRET
        text = self.signed_text(raw, "raw" if kind != "right" else detail)
        if kind == "other_body":
            text += "x"
        if kind == "other_timestamp":
            ts = str(int(ts) + 1) if ts.isdigit() else ts + "1"
        digest = intech_signature(secret, "POST", ts, text)
        return digest.upper() if case == "upper" else digest

    def account_id(self, account):
        kind, detail = account
        return {"intech": self.intech.id, "other": self.other.id}.get(kind, detail)

    # ---- observing ------------------------------------------------------------------------------------
    def snapshot(self):
        self.env.flush_all()
        digest = {}
        for name, query in WATCHED:
            self.env.cr.execute(query)
            digest[name] = self.env.cr.fetchone()
        return digest

    def operation_rows(self):
        self.env.cr.execute("SELECT id, state, needs_review FROM notify_money_operation WHERE provider_account_id = %s",
                            [self.intech.id])
        return {row[0]: row[1:] for row in self.env.cr.fetchall()}

    def new_callbacks(self, after_id):
        self.env.cr.execute("SELECT external_id, operation_id, result, raw_body FROM notify_money_callback "
                            "WHERE id > %s ORDER BY id", [after_id])
        return self.env.cr.fetchall()

    def last_callback_id(self):
        self.env.cr.execute("SELECT coalesce(max(id), 0) FROM notify_money_callback")
        return self.env.cr.fetchone()[0]

    def check_state_machine(self, before):
        """Whatever came: a final state stays as it is, an operation is settled once."""
        after = self.operation_rows()
        for op_id, (state, _review) in after.items():
            if before.get(op_id, ("draft",))[0] in FINAL_STATES or op_id in self.final:
                self.assertEqual(state, self.final.get(op_id, before[op_id][0]),
                                 f"operation {op_id} left its final state for {state}")
            if state in FINAL_STATES:
                self.final.setdefault(op_id, state)
        self.env.cr.execute("SELECT operation_id, count(*) FROM notify_money_callback WHERE result = 'applied' "
                            "AND operation_id IS NOT NULL GROUP BY operation_id HAVING count(*) > 1")
        self.assertEqual(self.env.cr.fetchall(), [], "an operation was settled by two callbacks")
        pending_label = dict(self.env["notify.money.operation"]._fields["state"]._description_selection(
            self.env))["pending"]
        self.env.cr.execute(STATE_TRACKING, [pending_label])
        self.tracked = {op_id: (moves, settled) for op_id, moves, settled in self.env.cr.fetchall()}
        for op_id, (moves, settled) in self.tracked.items():
            if op_id in after:
                self.assertLessEqual((moves, settled), (2, 1), f"operation {op_id}: {moves} tracked state moves, "
                                                               f"{settled} from pending")
        return after

    def post(self, account_id, raw, headers):
        response = self.opener.post(f"{self.base_url()}/notify_rules/intech/ipn/{account_id}", data=raw,
                                    headers=headers, timeout=60, allow_redirects=False)
        self.assertLess(response.status_code, 500, response.text[:500])
        self.assertTrue(response.headers.get("Content-Type", "").startswith("application/json"),
                        f"{response.status_code} {response.headers.get('Content-Type')}: {response.text[:300]}")
        answer = response.json()
        self.assertEqual(answer.get("status"), "ok" if response.status_code == 200 else "rejected", answer)
        return response.status_code, answer

    # ---- the properties -------------------------------------------------------------------------------
    @SETTINGS
    @given(body=BODIES, timestamp=TIMESTAMPS, signature=SIGNATURES, content_type=CONTENT_TYPES, account=ACCOUNTS)
    # accepted: as Intech sends it, in upper hex, Python's spacing signed over JSON.stringify, a trailing newline
    @example(body=("js", ipn("@op0"), None), timestamp=FRESH, signature=RIGHT, content_type=JSON, account=INTECH)
    @example(body=("js", ipn("@op1", "FAILED"), None), timestamp=FRESH, signature=("right", "upper", "raw"),
             content_type=None, account=INTECH)
    @example(body=("python", ipn("@op2"), None), timestamp=("fresh", -4 * MINUTE_MS),
             signature=("right", "lower", "stringify"), content_type=JSON, account=INTECH)
    @example(body=("suffix", ipn("@op2", "PENDING"), b"\n"), timestamp=("fresh", 50000), signature=RIGHT,
             content_type="text/plain", account=INTECH)
    @example(body=("js", ipn("@op0", "FAILED"), None), timestamp=FRESH, signature=RIGHT, content_type=JSON,
             account=INTECH)  # contradicts a final state: kept, flagged
    @example(body=("js", ipn(), None), timestamp=FRESH, signature=RIGHT, content_type=JSON, account=INTECH)
    @example(body=("js", ipn("unknown-to-us"), None), timestamp=FRESH, signature=RIGHT, content_type=JSON,
             account=INTECH)
    # Timestamp: missing, stale, future, not digits, huge, formatted, in seconds
    @example(body=("js", ipn("@op3"), None), timestamp=("missing", None), signature=RIGHT, content_type=JSON,
             account=INTECH)
    @example(body=("js", ipn("@op3"), None), timestamp=("stale", 6 * MINUTE_MS), signature=RIGHT,
             content_type=JSON, account=INTECH)
    @example(body=("js", ipn("@op3"), None), timestamp=("future", 5 * MINUTE_MS), signature=RIGHT,
             content_type=JSON, account=INTECH)
    @example(body=("js", ipn("@op3"), None), timestamp=("text", "now"), signature=RIGHT, content_type=JSON,
             account=INTECH)
    @example(body=("js", ipn("@op3"), None), timestamp=("text", "9" * 40), signature=RIGHT, content_type=JSON,
             account=INTECH)
    @example(body=("js", ipn("@op3"), None), timestamp=("format", "{}.0"), signature=RIGHT, content_type=JSON,
             account=INTECH)
    @example(body=("js", ipn("@op3"), None), timestamp=("seconds", None), signature=RIGHT, content_type=JSON,
             account=INTECH)
    # Hmac-Signature: missing, garbage, another secret, another body, another timestamp
    @example(body=("js", ipn("@op3"), None), timestamp=FRESH, signature=("missing", None, None), content_type=JSON,
             account=INTECH)
    @example(body=("js", ipn("@op3"), None), timestamp=FRESH, signature=("garbage", None, "abc123def456789..."),
             content_type=JSON, account=INTECH)
    @example(body=("js", ipn("@op3"), None), timestamp=FRESH, signature=("wrong_secret", "lower", "votre_cle"),
             content_type=JSON, account=INTECH)
    @example(body=("js", ipn("@op3"), None), timestamp=FRESH, signature=("wrong_secret", "lower", DEMO_API_KEY),
             content_type=JSON, account=INTECH)
    @example(body=("js", ipn("@op3"), None), timestamp=FRESH, signature=("other_body", "lower", None),
             content_type=JSON, account=INTECH)
    @example(body=("js", ipn("@op3"), None), timestamp=FRESH, signature=("other_timestamp", "upper", None),
             content_type=JSON, account=INTECH)
    # accounts: another provider's, none
    @example(body=("js", ipn("@op3"), None), timestamp=FRESH, signature=RIGHT, content_type=JSON, account=OTHER)
    @example(body=("js", ipn("@op3"), None), timestamp=FRESH, signature=RIGHT, content_type=JSON,
             account=("missing", 0))
    @example(body=("js", ipn("@op3"), None), timestamp=FRESH, signature=RIGHT, content_type=JSON,
             account=("missing", 10**30))
    # bodies, correctly signed: invalid UTF-8, too large, empty, not an object, no reference, read as a form
    @example(body=("latin1", ipn("@op3"), None), timestamp=FRESH, signature=RIGHT, content_type=JSON,
             account=INTECH)
    @example(body=("padded", ipn("@op3"), 2 * MAX_BODY_BYTES), timestamp=FRESH, signature=RIGHT,
             content_type=JSON, account=INTECH)
    @example(body=("padded", ipn("@op3"), MAX_BODY_BYTES + 1), timestamp=FRESH, signature=RIGHT,
             content_type=None, account=("missing", 0))
    @example(body=("raw", b"", None), timestamp=FRESH, signature=RIGHT, content_type=JSON, account=INTECH)
    @example(body=("raw", b"\xff\xfe{}", None), timestamp=FRESH, signature=RIGHT, content_type=JSON,
             account=INTECH)
    @example(body=("js", [ipn("@op3")], None), timestamp=FRESH, signature=RIGHT, content_type=JSON, account=INTECH)
    @example(body=("js", "@op3", None), timestamp=FRESH, signature=RIGHT, content_type=JSON, account=INTECH)
    @example(body=("js", {"status": "SUCCESS", "data": {"status": "SUCCESS"}}, None), timestamp=FRESH,
             signature=RIGHT, content_type=JSON, account=INTECH)
    @example(body=("js", ipn(42), None), timestamp=FRESH, signature=RIGHT, content_type=JSON, account=INTECH)
    @example(body=("js", ipn("   "), None), timestamp=FRESH, signature=RIGHT, content_type=JSON, account=INTECH)
    @example(body=("js", ipn("@op3"), None), timestamp=FRESH, signature=RIGHT,
             content_type="application/x-www-form-urlencoded", account=INTECH)
    def test_ipn(self, body, timestamp, signature, content_type, account):
        status, answer = self.check(body, timestamp, signature, content_type, account)
        event(f"{status} {answer.get('detail')}")
        for sent in (f"Timestamp {timestamp[0]}", f"signature {signature[0]}", f"account {account[0]}",
                     f"body {body[0]}"):
            event(f"sent: {sent}")

    def test_ipn_text_postgresql_cannot_store(self):
        """JSON may carry a NUL or a lone surrogate (escaped, so the body is valid UTF-8 JSON, and JSON.stringify
        signs it), which PostgreSQL cannot store: a correctly signed IPN holding one must still be answered (200
        and kept, or 400 as malformed, writing nothing), never with a 5xx that Intech would re-send forever."""
        for value in (ipn("@op4\x00"), ipn("@op4\ud800"), ipn("@op4", message="\x00"),
                      ipn("@op4", transactionId="ITX\udfff"), ipn("@op5", status="SUC\x00CESS"),
                      ipn("@op5", extra={"\x00": "\udc80"})):
            with self.subTest(value=value):
                self.check(("js", value, None), FRESH, RIGHT, JSON, INTECH)

    def check(self, body, timestamp, signature, content_type, account):
        """One request, and every property of its answer and of what it wrote; returns (status, answer)."""
        raw = self.raw_body(body)
        ts = self.timestamp(*timestamp)
        headers = {}
        if content_type is not None:
            headers["Content-Type"] = content_type
        if ts is not None:
            headers["Timestamp"] = ts
        sig = self.signature(signature, raw, ts)
        if sig is not None:
            headers["Hmac-Signature"] = sig
        # A form body is read by Odoo as form fields before the route runs: what the route then sees is not known
        # here (werkzeug consumes the stream), so such a request may be rejected whatever its signature.
        form = parse_options_header(content_type or "")[0].lower() in FORM_TYPES
        signed = account == INTECH and timestamp[0] == "fresh" and signature[0] == "right"

        before, rows_before, last_id = self.snapshot(), self.operation_rows(), self.last_callback_id()
        status, answer = self.post(self.account_id(account), raw, headers)
        callbacks = self.new_callbacks(last_id)
        if len(raw) > MAX_BODY_BYTES:
            self.assertEqual(status, 413, answer)
        elif not signed:
            self.assertIn(status, (400, 401), answer)
        if status != 200:
            self.assertEqual(self.snapshot(), before, f"{status} {answer}: a rejected request wrote something")
            self.check_state_machine(rows_before)
        if not signed or len(raw) > MAX_BODY_BYTES:
            return status, answer
        try:
            value = json.loads(raw.decode("utf-8"))
        except ValueError:
            value = None
        external_id = first(value, "externalTransactionId") if isinstance(value, dict) else None
        named = isinstance(external_id, str) and bool(external_id.strip()) and len(external_id) <= 64
        if form:
            self.assertIn(status, (200, 400, 401), answer)
        elif not isinstance(external_id, str) or not external_id.strip():
            self.assertEqual(status, 400, f"{value!r} names no operation, but was answered {status} {answer}")
        elif named and storable(value):
            self.assertEqual(status, 200, f"a correctly signed IPN of {external_id!r} was refused: {answer}")
        elif named:  # text PostgreSQL cannot store: kept some way, or refused as malformed
            self.assertIn(status, (200, 400), answer)
        if status != 200:
            return status, answer
        self.assertEqual(len(callbacks), 1, "a verified IPN is kept exactly once")
        external_id = external_id.strip()
        kept_id, operation_id, result, kept_body = callbacks[0]
        self.assertEqual((result, kept_body), (answer["detail"], raw.decode("utf-8")))
        if storable(value):
            self.assertEqual(kept_id, external_id)
        self.assertIn(result, RESULTS)
        operation = self.operations.filtered(lambda op: op.external_id == external_id)
        self.assertEqual(operation_id, operation.id or None)
        if not operation:
            self.assertEqual(result, "unknown_operation")
        rows_after = self.check_state_machine(rows_before)
        status_read = first(value, "status")
        news = CANONICAL.get(status_read) if isinstance(status_read, str) else None
        if operation and news:
            was, now = rows_before[operation.id][0], rows_after[operation.id][0]
            if was == "pending" and news != "pending":
                self.assertEqual((result, now), ("applied", news))
            else:
                self.assertNotEqual(result, "applied")
                self.assertEqual(now, was)
        return status, answer

    @SEQUENCE_SETTINGS
    @given(events=st.lists(st.tuples(
        st.integers(min_value=0, max_value=1),
        st.sampled_from(["SUCCESS", "FAILED", "PENDING", "SUCCESS", "FAILED", "success", "ERROR", "EN_COURS", ""]),
        HEX_CASES), min_size=1, max_size=6))
    @example(events=[(0, "SUCCESS", "lower"), (0, "SUCCESS", "lower"), (0, "PENDING", "lower"),
                     (0, "FAILED", "upper"), (1, "PENDING", "lower"), (1, "FAILED", "lower"), (1, "SUCCESS", "lower")])
    @example(events=[(0, "", "lower"), (0, "EN_COURS", "lower"), (0, "ERROR", "lower"), (0, "success", "lower")])
    def test_state_machine(self, events):
        """Signed IPNs of fresh pending operations, in any order and repeated: each is answered 200 and kept,
        the first final news settles the operation, nothing after it moves it (a contradiction is flagged)."""
        pair = self.operations.browse()
        for amount in (501, 502):
            pair |= self.make_operation(self.env, amount)
        self.env.cr.flush()
        for index, status, case in events:
            operation = pair[index]
            before, last_id = self.operation_rows(), self.last_callback_id()
            raw = js_stringify(dict(ipn(operation.external_id, status), message="…")).encode()
            ts = str(int(time.time() * 1000))
            signature = intech_signature(DEMO_HMAC_SECRET, "POST", ts, raw.decode())
            code, answer = self.post(self.intech.id, raw, {
                "Content-Type": JSON, "Timestamp": ts,
                "Hmac-Signature": signature.upper() if case == "upper" else signature})
            self.assertEqual(code, 200, answer)
            (callback,) = self.new_callbacks(last_id)
            self.assertEqual(callback[1:3], (operation.id, answer["detail"]))
            after = self.check_state_machine(before)
            was, (now, review) = before[operation.id][0], after[operation.id]
            news = CANONICAL.get(status)
            if status == "":
                self.assertEqual((answer["detail"], now, review), ("unknown_status", was, True))
            elif was == "pending" and news in ("done", "failed"):
                self.assertEqual((answer["detail"], now), ("applied", news))
                operation.invalidate_recordset(["post_process_due"])
                self.assertTrue(operation.post_process_due, "the settlement is carried to the chatter by the cron")
            elif was in FINAL_STATES and news in ("done", "failed") and news != was:
                self.assertEqual((answer["detail"], now, review), ("conflict", was, True))
            elif news:
                self.assertIn(answer["detail"], ("duplicate", "ignored"))
                self.assertEqual(now, was)
