"""Property-based tests of the served OTP API (hypothesis), over real HTTP.

For arbitrary bodies (any JSON, near-valid objects, raw bytes, oversized), content types and keys (none, wrong,
right, of a user outside the group), on the three routes:
- never a 5xx, and always a JSON answer whose status and body are those the OpenAPI document declares;
- a refused request (4xx, 503) writes nothing (digest of the OTP tables, the outbox and the inbound events);
- with the right key and a JSON body, the controller agrees with the document's request schema: an object the
  schema accepts is never refused as a bad field, and one it refuses is answered 400 naming a field it has.
"""

import json
import os
import tempfile

import jsonschema
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir

from odoo.tests import HttpCase, tagged

from ..controllers.otp_api import MAX_BODY_BYTES
from .test_otp_api import OTP, VERIFY, WEBHOOK, OtpApiMixin

# Hypothesis keeps caches in a directory of the current one (the checkout): keep them out of the repository.
set_hypothesis_home_dir(os.path.join(tempfile.gettempdir(), "notify_rules_hypothesis"))
EXAMPLES = 200
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
FORM_TYPES = ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x")



def weighted(*choices):
    """A choice between strategies with weights: (weight, strategy) pairs. (one_of leans to its first branches
    and sampled_from picks uniformly: the weights are repetitions in a sampled list.)"""
    return st.sampled_from([strategy for weight, strategy in choices for _ in range(weight)]).flatmap(lambda s: s)


# Mostly the right key and JSON: the fields and the engine must be reached often, not only the first checks
KEYS = weighted(
    (6, st.just(("right", None))), (1, st.sampled_from([("none", None), ("empty", None), ("outsider", None)])),
    (1, st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=60).map(
        lambda key: ("wrong", key))),
)
RIGHT = ("right", None)
JSON = "application/json"
CONTENT_TYPES = weighted(
    (6, st.sampled_from(["application/json", "application/json; charset=utf-8", None, "application/problem+json"])),
    (1, st.sampled_from(["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"])),
)
# Any JSON value
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=8,
)
JUNK = st.one_of(st.text(max_size=40), st.integers(), st.booleans(), st.none(), JSON_VALUES)

PHONES = weighted(
    (4, st.from_regex(r"\+2376[5-9][0-9]{7}", fullmatch=True)),  # Cameroonian mobiles: sent
    (2, st.from_regex(r"\+237\.6[5-9][0-9]{7}", fullmatch=True)),  # the same, as WHMCS writes them
    (1, st.from_regex(r"6[5-9][0-9]{7}", fullmatch=True)),  # local, read in Cameroon
    (1, st.from_regex(r"\+[1-9][0-9]{5,14}", fullmatch=True)),  # E.164 of any country: mostly refused by the engine
    (1, st.from_regex(r"\+[1-9][0-9]{0,3}\.[0-9]{4,14}", fullmatch=True)),
    (1, st.from_regex(r"[0-9]{4,17}", fullmatch=True)),
    (2, st.from_regex(r"[0-9+. \n-]{0,22}", fullmatch=True)),  # near misses
    (3, st.from_regex(r"\+?[0-9]{1,8}[ .\n-][0-9]{2,10}\n?", fullmatch=True)),
    (1, JUNK),
)
PURPOSES = weighted((4, st.sampled_from(["login", "verification"])),
                    (1, st.sampled_from(["odoo_login", "Odoo_Login", "", "log in", "x" * 65])),
                    (2, st.from_regex(r"[A-Za-z0-9_.:-]{1,70}", fullmatch=True)), (1, JUNK))
CODES = weighted((5, st.from_regex(r"[0-9]{4,10}", fullmatch=True)),
                 (1, st.sampled_from(["123", "12345678901", "12a456", " 123456", "\uff11\uff12\uff13\uff14"])),
                 (1, JUNK))
OTP_IDS = weighted((3, st.just("challenge")), (3, st.uuids().map(str)), (1, st.uuids().map(lambda u: str(u).upper())),
                   (1, st.from_regex(r"[0-9a-fA-F-]{30,40}", fullmatch=True)), (1, JUNK))
ACTIONS = weighted((4, st.just("InvoiceCreated")), (1, st.sampled_from(["InvoicePaid", "invoicecreated", ""])),
                   (1, JUNK))
WHMCS_IDS = weighted(
    (3, st.integers(min_value=1, max_value=50)), (2, st.from_regex(r"[0-9]{1,3}", fullmatch=True)),  # duplicates too
    (1, st.integers(min_value=-5, max_value=10**19)), (1, st.from_regex(r"[0-9]{0,20}", fullmatch=True)), (1, JUNK),
)


def objects(fields):
    """Objects with every field (most often), or each field present or not, plus sometimes an unknown field."""
    return weighted((3, st.fixed_dictionaries(fields)),
                    (2, st.fixed_dictionaries({}, optional=dict(fields, extra=JUNK))))


def as_body(value):
    return json.dumps(value).encode(), value


def bodies(fields):
    """(raw bytes, the JSON value sent or None)."""
    as_json = weighted((6, objects(fields)), (1, JSON_VALUES)).map(as_body)
    raw = st.binary(max_size=200).map(lambda b: (b, None))
    oversized = st.integers(min_value=MAX_BODY_BYTES + 1, max_value=MAX_BODY_BYTES * 3).map(
        lambda n: (b"{" + b" " * (n - 2) + b"}", None))
    return weighted((8, as_json), (1, raw), (1, oversized))


@tagged("post_install", "-at_install")
class TestOtpApiProperties(OtpApiMixin, HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_otp_api()
        cls.company.notify_otp_resend_cooldown = 0  # successes too, not only cooldowns
        cls.request_validators = {path: jsonschema.Draft4Validator(cls.request_schema(path))
                                  for path in (OTP, VERIFY, WEBHOOK)}
        cls.request_fields = {path: set(cls.request_schema(path, resolve=True)["properties"])
                              for path in (OTP, VERIFY, WEBHOOK)}
        # a real challenge whose id the verify route will sometimes be given
        cls.challenge = cls.env["notify.otp"]._notify_request("login", "+237690000900", company=cls.company)

    def check(self, path, raw, value, content_type, key):
        """One request and every property of its answer."""
        which, wrong_key = key
        headers = {}
        if content_type is not None:
            headers["Content-Type"] = content_type
        if which != "none":
            headers["X-API-Key"] = {"empty": "", "right": self.api_key, "outsider": self.outsider_key,
                                    "wrong": wrong_key}[which]
        before = self.snapshot()
        response = self.opener.post(self.base_url() + path, data=raw, headers=headers, timeout=30,
                                    allow_redirects=False)
        status = response.status_code
        self.assertLess(status, 500, response.text[:500])
        answer = self.documented(response, path)  # JSON, documented status and body
        event(f"{status} {answer.get('field') or answer.get('reason') or answer.get('code') or ''}".strip())
        if status >= 400:
            self.assertEqual(self.snapshot(), before, f"{status} {answer}: a refused request stored something")
        # the checks come in this order: size, key, Content-Type, JSON object, fields
        if len(raw) > MAX_BODY_BYTES:
            self.assertEqual((status, answer.get("field")), (400, "body"))
        elif which in ("none", "empty"):
            self.assertEqual((status, answer.get("field")), (401, "X-API-Key"))
        elif which in ("wrong", "outsider"):
            self.assertEqual((status, answer.get("field")), (403, "X-API-Key"))
        elif content_type in FORM_TYPES:
            self.assertEqual((status, answer.get("field")), (400, "Content-Type"))
        elif not isinstance(value, dict):
            self.assertEqual((status, answer.get("field")), (400, "body"))
        else:
            errors = list(self.request_validators[path].iter_errors(value))
            bad_field = status == 400 and "reason" not in answer
            if errors:
                self.assertTrue(bad_field, f"{value!r} breaks the document's schema ({errors[0].message}) but was "
                                           f"answered {status} {answer}")
                self.assertIn(answer["field"], self.request_fields[path])
            else:
                self.assertFalse(bad_field, f"{value!r} is a valid request of the document but was refused: {answer}")
        return status, answer

    @SETTINGS
    @given(body=bodies({"phone": PHONES, "purpose": PURPOSES}), content_type=CONTENT_TYPES, key=KEYS)
    @example(body=as_body({"phone": "690 000 901", "purpose": "login"}), content_type=JSON, key=RIGHT)
    @example(body=as_body({"phone": "+237690000902\n", "purpose": "login"}), content_type=JSON, key=RIGHT)
    @example(body=as_body({"phone": "+237.690000903", "purpose": "ODOO_login"}), content_type=JSON, key=RIGHT)
    @example(body=as_body({"phone": 237690000904, "purpose": "login"}), content_type=JSON, key=RIGHT)
    @example(body=as_body({"phone": "+237.690000905", "purpose": "login"}), content_type=JSON, key=RIGHT)
    def test_otp_request(self, body, content_type, key):
        raw, value = body
        events = self.env["notify.otp"].sudo().search_count([])
        status, answer = self.check(OTP, raw, value, content_type, key)
        self.assertEqual(self.env["notify.otp"].sudo().search_count([]), events + (status == 200))
        if status == 200:
            self.assertEqual(self.env["notify.otp"].sudo().search([], limit=1, order="id desc").public_id,
                             answer["otpId"])

    @SETTINGS
    @given(content_type=CONTENT_TYPES, key=KEYS, body=bodies({"otp_id": OTP_IDS, "otp": CODES}))
    @example(body=as_body({"otp_id": "challenge", "otp": "000000"}), content_type=JSON, key=RIGHT)
    @example(body=as_body({"otp_id": "challenge", "otp": "00000\n"}), content_type=JSON, key=RIGHT)
    @example(body=as_body({"otp_id": "0B6F2F0E-54A4-4C1E-9D43-54B8F1F4A2C7", "otp": "1234"}), content_type=JSON,
             key=RIGHT)
    def test_otp_verify(self, body, content_type, key):
        raw, value = body
        if isinstance(value, dict) and value.get("otp_id") == "challenge":
            value = dict(value, otp_id=self.challenge.public_id)
            raw = json.dumps(value).encode()
        status, answer = self.check(VERIFY, raw, value, content_type, key)
        if status == 200 and value["otp_id"].lower() != self.challenge.public_id:
            self.assertEqual(answer, {"valid": False, "reason": "OTP not found", "code": "unknown_challenge"})
        if status == 200 and value["otp_id"].lower() == self.challenge.public_id:
            self.assertIn(answer["code"], ("invalid_code", "too_many_attempts"))

    @SETTINGS
    @given(content_type=CONTENT_TYPES, key=KEYS,
           body=bodies({"action": ACTIONS, "invoiceid": WHMCS_IDS, "userid": WHMCS_IDS}))
    @example(body=as_body({"action": "InvoiceCreated", "invoiceid": "0", "userid": 1}), content_type=JSON, key=RIGHT)
    @example(body=as_body({"action": "InvoiceCreated", "invoiceid": 7.0, "userid": 1}), content_type=JSON, key=RIGHT)
    @example(body=as_body({"action": "InvoiceCreated", "invoiceid": "007", "userid": "8"}), content_type=JSON,
             key=RIGHT)
    def test_whmcs_webhook(self, body, content_type, key):
        raw, value = body
        Event = self.env["notify.inbound.event"].sudo()
        events = Event.search_count([])
        status, answer = self.check(WEBHOOK, raw, value, content_type, key)
        if status == 200:
            self.assertEqual(Event.search_count([]), events + (not answer["duplicate"]))
            event = Event.search([("external_id", "=", str(int(value["invoiceid"])))])
            self.assertEqual(len(event), 1)
            if not answer["duplicate"]:
                self.assertEqual(event.payload, {"action": "InvoiceCreated", "invoiceid": int(value["invoiceid"]),
                                                 "userid": int(value["userid"])})
