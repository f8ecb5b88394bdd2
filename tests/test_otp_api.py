"""The served Wabek-compatible OTP API over real HTTP: the WHMCS hooks' calls, every bad input, the WHMCS webhook.

Every answer is checked against the OpenAPI document kept in the repository (static/api/otp_api.openapi.json):
its status must be documented for the route, and its body must match the documented schema. Every refused request
must leave the OTP tables, the outbox and the inbound events exactly as they were (a digest of their rows).
"""

import json
import re
from datetime import datetime, timedelta
from unittest.mock import patch

import jsonschema

from odoo.exceptions import ValidationError
from odoo.tests import HttpCase, new_test_user, tagged
from odoo.tools.misc import file_open

from ..controllers.otp_api import MAX_BODY_BYTES
from .common import PARTNER_TEMPLATE, NotifySimulatorMixin
from .simulator.wap import DEMO_OTP_AUTOMATION

OPENAPI_FILE = "notify_rules/static/api/otp_api.openapi.json"
OTP, VERIFY, WEBHOOK = "/api/v1/otp", "/api/v1/otp-verify", "/api/v1/whmcs-webhook"
ROUTES = (OTP, VERIFY, WEBHOOK)
# Tables a refused request must leave untouched (row digests compared), with the column that orders them
WATCHED_TABLES = {
    "notify_otp": "id", "notify_otp_attempt": "id", "notify_otp_lock": "key", "notify_message": "id",
    "notify_inbound_event": "id", "notify_otp_request": "id", "ir_cron_trigger": "id",
}
NO_KEY = object()
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def load_openapi():
    with file_open(OPENAPI_FILE, "rb") as handle:
        return json.load(handle)


def ecma_patterns(schema):
    """JSON Schema patterns are ECMA-262 regexes, where `$` is the end of the input; in Python's `re` (which
    jsonschema uses) it also matches before a final newline. Translate so that the test judges as ECMA does."""
    if isinstance(schema, dict):
        return {k: (v[:-1] + r"\Z" if k == "pattern" and v.endswith("$") else ecma_patterns(v))
                for k, v in schema.items()}
    if isinstance(schema, list):
        return [ecma_patterns(v) for v in schema]
    return schema


class OtpApiMixin(NotifySimulatorMixin):
    """A company in Cameroon with an OTP rule on the WAP simulator, an API user in the OTP API group with its key,
    an internal user outside the group with a key, and helpers that check every answer against the document."""

    @classmethod
    def setup_otp_api(cls):
        cls.start_simulator()
        env = cls.env
        cls.openapi = load_openapi()
        cls.company = env.ref("base.main_company")
        cls.company.write({"country_id": env.ref("base.cm").id})
        cls.wap = cls.create_wap_account(env, company_id=cls.company.id)
        cls.otp_rule = env["notify.rule"].create({
            "name": "Codes for WHMCS", "trigger": "on_otp_request", "action": "send_template",
            "provider_account_id": cls.wap.id, "channel": "whatsapp", "template_ref": DEMO_OTP_AUTOMATION,
            "company_id": cls.company.id,
        })
        cls.api_user = new_test_user(env, "whmcs_api", groups="base.group_user,notify_rules.group_notify_otp_api",
                                     company_id=cls.company.id)
        cls.api_key = cls.make_key(cls.api_user)
        cls.outsider = new_test_user(env, "whmcs_outsider", groups="base.group_user", company_id=cls.company.id)
        cls.outsider_key = cls.make_key(cls.outsider)

    @classmethod
    def make_key(cls, user, expiration_date=None, scope=None):
        return cls.env["res.users.apikeys"].with_user(user).sudo()._generate(scope, "WHMCS", expiration_date)

    # ---- requests and the document --------------------------------------------------------------------
    def post(self, path, body=None, *, raw=None, key=None, headers=None, content_type="application/json"):
        """POST over real HTTP. `body` is sent as JSON, `raw` as given; key None: the API user's, NO_KEY: none."""
        all_headers = {}
        if content_type is not None:
            all_headers["Content-Type"] = content_type
        if key is not NO_KEY:
            all_headers["X-API-Key"] = self.api_key if key is None else key
        all_headers.update(headers or {})
        data = raw if raw is not None else json.dumps(body).encode()
        return self.opener.post(self.base_url() + path, data=data, headers=all_headers, timeout=30,
                                allow_redirects=False)

    def response_schema(self, path, status, method="post"):
        responses = self.openapi["paths"][path][method]["responses"]
        self.assertIn(str(status), responses, f"{method.upper()} {path} answered {status}, not in the document")
        response = responses[str(status)]
        if "$ref" in response:
            response = self.openapi["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
        return response, {"allOf": [response["content"]["application/json"]["schema"]],
                          "components": self.openapi["components"]}

    @classmethod
    def request_schema(cls, path, resolve=False):
        schema = cls.openapi["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]
        if resolve:
            return cls.openapi["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
        return ecma_patterns({"allOf": [schema], "components": cls.openapi["components"]})

    def documented(self, response, path):
        """The answer's JSON body, after checking that its status, body and headers are the document's."""
        self.assertTrue(response.headers.get("Content-Type", "").startswith("application/json"),
                        f"{response.status_code} {response.headers.get('Content-Type')}: {response.text[:200]}")
        body = response.json()
        declared, schema = self.response_schema(path, response.status_code)
        jsonschema.Draft4Validator(schema).validate(body)
        if "Retry-After" in declared.get("headers", {}):
            self.assertRegex(response.headers.get("Retry-After", ""), r"^[1-9][0-9]*$")
            self.assertEqual(int(response.headers["Retry-After"]), body["retryAfter"])
        self.assertNotIn("session_id", response.headers.get("Set-Cookie", ""), "the API keeps no session")
        return body

    def call(self, path, body=None, status=200, **kwargs):
        response = self.post(path, body, **kwargs)
        self.assertEqual(response.status_code, status, response.text[:500])
        return self.documented(response, path)

    def snapshot(self):
        """A digest of every row of the watched tables: equal before and after = nothing written."""
        self.env.flush_all()
        digest = {}
        for table, order in WATCHED_TABLES.items():
            self.env.cr.execute(
                f"SELECT count(*), md5(coalesce(string_agg(t::text, ',' ORDER BY t.{order}), '')) FROM {table} t")
            digest[table] = self.env.cr.fetchone()
        return digest

    def refused(self, path, body=None, status=400, field=None, **kwargs):
        """A refused call: the status, the document's error body naming `field`, and nothing stored."""
        before = self.snapshot()
        answer = self.call(path, body, status=status, **kwargs)
        self.assertEqual(self.snapshot(), before, f"{path} {body!r}: a refused request stored something")
        self.assertIs(answer.get("success"), False)
        if field is not None:
            self.assertEqual(answer.get("field"), field, answer)
        return answer

    # ---- the OTP flow ---------------------------------------------------------------------------------
    def sent_code(self, e164):
        """The code the WAP simulator received for this number (after the dispatcher ran)."""
        self.env["notify.message"].sudo()._cron_dispatch()
        sent = [r["json"] for r in self.wap_sim.requests
                if r["method"] == "POST" and r["response_status"] == 200 and "code_otp" in r["json"]["variables"]
                and e164.endswith(str(r["json"]["recipient"]))]
        self.assertTrue(sent, f"the code message to {e164} must have reached WAP")
        return sent[-1]["variables"]["code_otp"]


@tagged("post_install", "-at_install")
class TestOtpApi(OtpApiMixin, HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_otp_api()

    # ---- the WHMCS hooks, unchanged -------------------------------------------------------------------
    def test_whmcs_login_hook_flow(self):
        """ClientLogin: WHMCS's "+CC.NUMBER" phone, purpose login → otpId; the code arrives on WhatsApp through
        the company's OTP rule; verify → valid once, then "OTP already used"."""
        answer = self.call(OTP, {"phone": "+237.690000101", "purpose": "login"})
        self.assertIs(answer["success"], True)
        self.assertRegex(answer["otpId"], UUID_RE)
        challenge = self.env["notify.otp"].sudo().search([("public_id", "=", answer["otpId"])])
        self.assertRecordValues(challenge, [{
            "purpose": "login", "recipient_e164": "+237690000101", "company_id": self.company.id,
            "rule_id": self.otp_rule.id, "client_ip": "127.0.0.1", "state": "pending",
        }])
        code = self.sent_code("+237690000101")
        self.assertRegex(code, r"^[0-9]{6}$")
        request = [r for r in self.wap_sim.requests if r["method"] == "POST"][-1]["json"]
        self.assertEqual((request["country"], str(request["reference"]), request["recipient"]),
                         ("CM", DEMO_OTP_AUTOMATION, "690000101"))

        self.assertEqual(self.call(VERIFY, {"otp_id": answer["otpId"], "otp": code}), {"valid": True})
        self.assertEqual(self.call(VERIFY, {"otp_id": answer["otpId"], "otp": code}),
                         {"valid": False, "reason": "OTP already used", "code": "used"})

    def test_other_phone_forms(self):
        for phone, e164 in (("+237690000102", "+237690000102"), ("690000103", "+237690000103"),
                            ("237690000104", "+237690000104")):
            with self.subTest(phone=phone):
                answer = self.call(OTP, {"phone": phone, "purpose": "verification"})
                challenge = self.env["notify.otp"].sudo().search([("public_id", "=", answer["otpId"])])
                self.assertEqual(challenge.recipient_e164, e164)

    def test_wrong_codes_then_locked(self):
        otp_id = self.call(OTP, {"phone": "+237690000105", "purpose": "login"})["otpId"]
        code = self.sent_code("+237690000105")
        wrong = "000000" if code != "000000" else "111111"
        for _attempt in range(2):
            self.assertEqual(self.call(VERIFY, {"otp_id": otp_id, "otp": wrong}),
                             {"valid": False, "reason": "Invalid OTP", "code": "invalid_code"})
        self.assertEqual(self.call(VERIFY, {"otp_id": otp_id, "otp": wrong}),
                         {"valid": False, "reason": "Too many attempts", "code": "too_many_attempts"})
        self.assertEqual(self.call(VERIFY, {"otp_id": otp_id, "otp": code}),
                         {"valid": False, "reason": "Too many attempts", "code": "too_many_attempts"},
                         "the right code no longer opens a locked challenge")

    def test_expired_and_replaced(self):
        first = self.call(OTP, {"phone": "+237690000106", "purpose": "login"})["otpId"]
        self.company.notify_otp_resend_cooldown = 0
        second = self.call(OTP, {"phone": "+237690000106", "purpose": "login"})["otpId"]
        self.assertEqual(self.call(VERIFY, {"otp_id": first, "otp": "123456"}),
                         {"valid": False, "reason": "OTP replaced by a newer one", "code": "replaced"})
        self.env["notify.otp"].sudo().search([("public_id", "=", second)]).expires_at = datetime(2000, 1, 1)
        self.assertEqual(self.call(VERIFY, {"otp_id": second, "otp": "123456"}),
                         {"valid": False, "reason": "OTP expired", "code": "expired"})

    def test_unknown_otp_id_and_uppercase(self):
        self.assertEqual(self.call(VERIFY, {"otp_id": "0b6f2f0e-54a4-4c1e-9d43-54b8f1f4a2c7", "otp": "123456"}),
                         {"valid": False, "reason": "OTP not found", "code": "unknown_challenge"})
        otp_id = self.call(OTP, {"phone": "+237690000107", "purpose": "login"})["otpId"]
        code = self.sent_code("+237690000107")
        self.assertEqual(self.call(VERIFY, {"otp_id": otp_id.upper(), "otp": code}), {"valid": True})

    def test_another_companys_challenge_is_not_found(self):
        other = self.env["res.company"].create({"name": "Other SARL", "country_id": self.env.ref("base.cm").id})
        other_user = new_test_user(self.env, "whmcs_other", groups="base.group_user,notify_rules.group_notify_otp_api",
                                   company_id=other.id)
        other_key = self.make_key(other_user)
        otp_id = self.call(OTP, {"phone": "+237690000108", "purpose": "login"})["otpId"]
        code = self.sent_code("+237690000108")
        before = self.snapshot()
        self.assertEqual(self.call(VERIFY, {"otp_id": otp_id, "otp": code}, key=other_key),
                         {"valid": False, "reason": "OTP not found", "code": "unknown_challenge"})
        self.assertEqual(self.snapshot(), before, "another company's key does not even count an attempt")
        self.refused(OTP, {"phone": "+237690000109", "purpose": "login"}, status=503, key=other_key)
        self.assertEqual(self.call(VERIFY, {"otp_id": otp_id, "otp": code}), {"valid": True})

    def test_login_challenges_are_not_served(self):
        """A challenge of Odoo's own login page is not the API's, whatever its id."""
        login_rule = self.otp_rule.copy({"name": "Login codes", "trigger": "on_login"})
        challenge = self.env["notify.otp"]._notify_request("odoo_login", "+237690000110", company=self.company)
        self.assertEqual(login_rule, challenge.rule_id)
        self.assertEqual(self.call(VERIFY, {"otp_id": challenge.public_id, "otp": "123456"}),
                         {"valid": False, "reason": "OTP not found", "code": "unknown_challenge"})
        for purpose in ("odoo_login", "ODOO_LOGIN"):
            answer = self.refused(OTP, {"phone": "+237690000111", "purpose": purpose}, field="purpose")
            self.assertIn("reserved", answer["error"])

    def test_brute_force_from_one_address_is_blocked(self):
        """20 wrong codes an hour from one address, across challenges (3 each): then 429 with Retry-After."""
        otp_ids = [self.call(OTP, {"phone": f"+2376900002{n:02d}", "purpose": "login"})["otpId"]
                   for n in range(7)]
        answers = [self.call(VERIFY, {"otp_id": otp_ids[n // 3], "otp": "00000000"}) for n in range(20)]
        self.assertEqual([a["code"] for a in answers[:3]], ["invalid_code", "invalid_code", "too_many_attempts"])
        before = self.snapshot()
        answer = self.call(VERIFY, {"otp_id": otp_ids[-1], "otp": "00000000"}, status=429)
        self.assertEqual(self.snapshot(), before)
        self.assertEqual((answer["reason"], answer["code"]), ("Too many attempts", "ip_blocked"))
        self.assertGreater(answer["retryAfter"], 0)

    # ---- the engine's refusals ------------------------------------------------------------------------
    def test_cooldown_is_429_with_retry_after(self):
        self.call(OTP, {"phone": "+237690000120", "purpose": "login"})
        answer = self.refused(OTP, {"phone": "+237.690000120", "purpose": "login"}, status=429)
        self.assertEqual(answer["reason"], "cooldown")
        self.assertTrue(1 <= answer["retryAfter"] <= 61, answer)

    def test_refused_numbers_are_400_naming_the_phone(self):
        answer = self.refused(OTP, {"phone": "+33.612345678", "purpose": "login"}, field="phone")
        self.assertEqual(answer["reason"], "country_not_allowed")
        answer = self.refused(OTP, {"phone": "+2371234567", "purpose": "login"}, field="phone")
        self.assertEqual(answer["reason"], "invalid_phone")

    def test_no_rule_for_the_purpose_is_503(self):
        self.otp_rule.otp_purposes = "login"
        answer = self.refused(OTP, {"phone": "+237690000121", "purpose": "newsletter"}, status=503)
        self.assertEqual(answer["reason"], "no_rule")
        self.assertIn("No rule sends one-time codes", answer["error"])
        self.call(OTP, {"phone": "+237690000121", "purpose": "login"})

    # ---- authentication -------------------------------------------------------------------------------
    def test_keys(self):
        expired = self.make_key(self.api_user, expiration_date=datetime.now() - timedelta(days=1))
        # a key of another scope (auth_totp's trusted browsers use "browser") is not an API key
        browser = self.make_key(self.api_user, scope="browser")
        archived_user = new_test_user(self.env, "whmcs_archived",
                                      groups="base.group_user,notify_rules.group_notify_otp_api")
        archived_key = self.make_key(archived_user)
        archived_user.active = False
        bodies = {OTP: {"phone": "+237690000130", "purpose": "login"},
                  VERIFY: {"otp_id": "0b6f2f0e-54a4-4c1e-9d43-54b8f1f4a2c7", "otp": "123456"},
                  WEBHOOK: {"action": "InvoiceCreated", "invoiceid": 1, "userid": 1}}
        for path, body in bodies.items():
            with self.subTest(path=path):
                answer = self.refused(path, body, status=401, field="X-API-Key", key=NO_KEY)
                self.assertIn("missing", answer["error"])
                self.refused(path, body, status=401, field="X-API-Key", key="")
                for key in ("0" * 40, self.api_key[:-1] + ("0" if self.api_key[-1] != "0" else "1"), expired,
                            browser, archived_key, "clé\u00e9", "x" * 300):
                    answer = self.refused(path, body, status=403, field="X-API-Key", key=key.encode("utf-8"))
                    self.assertIn("invalid", answer["error"])
                answer = self.refused(path, body, status=403, field="X-API-Key", key=self.outsider_key)
                self.assertIn("OTP API group", answer["error"])
                # a key of the same user in another header is no key
                self.refused(path, body, status=401, key=NO_KEY, headers={"Authorization": f"Bearer {self.api_key}"})

    def test_the_group_allows_keys_of_a_year(self):
        """A machine's key is renewed yearly, not every 90 days as an internal user's."""
        Keys = self.env["res.users.apikeys"].with_user(self.api_user)
        key = Keys._generate(None, "WHMCS 2025", datetime.now() + timedelta(days=364))
        self.call(OTP, {"phone": "+237690000135", "purpose": "login"}, key=key)
        with self.assertRaises(ValidationError):
            Keys._generate(None, "Too long", datetime.now() + timedelta(days=366))

    def test_key_is_checked_before_the_body(self):
        self.refused(OTP, raw=b"{not json", status=401, key=NO_KEY)
        self.refused(OTP, raw=b"{not json", status=403, key=self.outsider_key)

    def test_unexpected_error_is_json_500_and_rolls_back(self):
        """A bug past the checks still answers the document's JSON, and undoes what it had done."""
        Event = type(self.env["notify.inbound.event"])
        receive = Event._notify_receive

        def receive_then_fail(self, *args, **kwargs):
            receive(self, *args, **kwargs)
            raise RuntimeError("simulated bug")

        before = self.snapshot()
        with patch.object(Event, "_notify_receive", receive_then_fail), \
                self.assertLogs("odoo.addons.notify_rules.controllers.otp_api", "ERROR") as logs:
            response = self.post(WEBHOOK, {"action": "InvoiceCreated", "invoiceid": 4001, "userid": 1})
        self.assertEqual(response.status_code, 500)
        self.assertEqual(self.documented(response, WEBHOOK),
                         {"success": False, "error": "Internal error: nothing was done."})
        self.assertIn("simulated bug", "\n".join(logs.output))
        self.assertEqual(self.snapshot(), before)

    # ---- bad bodies -----------------------------------------------------------------------------------
    def test_bodies_that_are_not_a_json_object(self):
        for path in ROUTES:
            for raw in (b"", b"{", b"{'phone': 1}", b"\xff\xfe\x00", b"[1, 2]", b'"text"', b"42", b"null",
                        b"[" * 4000, b"[" * 4000 + b"]" * 4000):
                with self.subTest(path=path, raw=raw[:20]):
                    self.refused(path, raw=raw, field="body")

    def test_content_type(self):
        body = json.dumps({"phone": "+237690000131", "purpose": "login"}).encode()
        for content_type in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
                             "text/html; charset=utf-8"):
            with self.subTest(content_type=content_type):
                self.refused(OTP, raw=body, content_type=content_type, field="Content-Type")
        self.call(OTP, raw=body, content_type=None)  # no Content-Type: read as JSON
        self.call(OTP, {"phone": "+237690000132", "purpose": "login"}, content_type="application/json; charset=utf-8")

    def test_oversized_bodies(self):
        padded = json.dumps({"phone": "+237690000133", "purpose": "login"}).encode()
        padded += b" " * (MAX_BODY_BYTES + 1 - len(padded))
        for path in ROUTES:
            with self.subTest(path=path):
                answer = self.refused(path, raw=padded, field="body")
                self.assertIn(str(MAX_BODY_BYTES), answer["error"])
                self.refused(path, raw=b"{" + b" " * (1024 * 1024) + b"}", field="body")
                # chunked (no Content-Length): read, then refused all the same
                self.refused(path, raw=iter([padded[:4000], padded[4000:]]), field="body")
        self.call(OTP, raw=padded[:MAX_BODY_BYTES])  # exactly the limit is fine

    def test_otp_fields(self):
        cases = [
            ({"purpose": "login"}, "phone", "required"),
            ({"phone": None, "purpose": "login"}, "phone", "required"),
            ({"phone": 237690000140, "purpose": "login"}, "phone", "string"),
            ({"phone": ["+237690000140"], "purpose": "login"}, "phone", "string"),
            ({"phone": "", "purpose": "login"}, "phone", "1 to"),
            ({"phone": "+237 690 000 140", "purpose": "login"}, "phone", "E.164"),
            ({"phone": "+237-690000140", "purpose": "login"}, "phone", "E.164"),
            ({"phone": "690 000 140", "purpose": "login"}, "phone", "E.164"),
            ({"phone": "690000140.", "purpose": "login"}, "phone", "E.164"),
            ({"phone": "abc", "purpose": "login"}, "phone", "E.164"),
            ({"phone": "+33.", "purpose": "login"}, "phone", "E.164"),
            ({"phone": "++33.612345678", "purpose": "login"}, "phone", "E.164"),
            ({"phone": "+33..612345678", "purpose": "login"}, "phone", "E.164"),
            ({"phone": "+237690000140\n", "purpose": "login"}, "phone", "E.164"),
            ({"phone": "+٢٣٧٦٩٠٠٠٠١٤٠", "purpose": "login"}, "phone", "E.164"),
            ({"phone": "+" + "1" * 30, "purpose": "login"}, "phone", "1 to"),
            ({"phone": "+237690000140"}, "purpose", "required"),
            ({"phone": "+237690000140", "purpose": 7}, "purpose", "string"),
            ({"phone": "+237690000140", "purpose": ""}, "purpose", "1 to"),
            ({"phone": "+237690000140", "purpose": "log in"}, "purpose", "letters"),
            ({"phone": "+237690000140", "purpose": "x" * 65}, "purpose", "1 to"),
            ({"phone": "+237690000140", "purpose": {"a": 1}}, "purpose", "string"),
        ]
        for body, field, words in cases:
            with self.subTest(body=body):
                answer = self.refused(OTP, body, field=field)
                self.assertIn(words, answer["error"])

    def test_verify_fields(self):
        good = "0b6f2f0e-54a4-4c1e-9d43-54b8f1f4a2c7"
        cases = [
            ({"otp": "123456"}, "otp_id"),
            ({"otp_id": 12, "otp": "123456"}, "otp_id"),
            ({"otp_id": "not-a-uuid", "otp": "123456"}, "otp_id"),
            ({"otp_id": good[:-1], "otp": "123456"}, "otp_id"),
            ({"otp_id": good.replace("-", ""), "otp": "123456"}, "otp_id"),
            ({"otp_id": "{" + good + "}", "otp": "123456"}, "otp_id"),
            ({"otp_id": good}, "otp"),
            ({"otp_id": good, "otp": 123456}, "otp"),
            ({"otp_id": good, "otp": "123"}, "otp"),
            ({"otp_id": good, "otp": "12345678901"}, "otp"),
            ({"otp_id": good, "otp": "12a456"}, "otp"),
            ({"otp_id": good, "otp": " 123456"}, "otp"),
            ({"otp_id": good, "otp": True}, "otp"),
        ]
        for body, field in cases:
            with self.subTest(body=body):
                self.refused(VERIFY, body, field=field)

    # ---- the WHMCS webhook ----------------------------------------------------------------------------
    def test_invoice_created_becomes_an_event_once(self):
        partner = self.env["res.partner"].create({"name": "Client 42", "ref": "42", "mobile": "6 90 00 00 42",
                                                  "country_id": self.env.ref("base.cm").id})
        Event = self.env["notify.inbound.event"].sudo()
        answer = self.call(WEBHOOK, {"action": "InvoiceCreated", "invoiceid": 1001, "userid": 42})
        self.assertEqual(answer, {"success": True, "duplicate": False})
        event = Event.search([("external_id", "=", "1001")])
        self.assertRecordValues(event, [{
            "source": "whmcs", "action": "InvoiceCreated", "external_partner_ref": "42", "partner_id": partner.id,
            "company_id": self.company.id,
        }])
        self.assertEqual(event.payload, {"action": "InvoiceCreated", "invoiceid": 1001, "userid": 42})
        self.assertTrue(event.received_at)
        # WHMCS may send its ids as strings: the same invoice, so a duplicate; nothing new stored
        before = self.snapshot()
        answer = self.call(WEBHOOK, {"action": "InvoiceCreated", "invoiceid": "1001", "userid": "42", "extra": 1})
        self.assertEqual(answer, {"success": True, "duplicate": True})
        self.assertEqual(self.snapshot(), before)
        # another invoice of a customer Odoo does not know: stored, without a partner
        self.call(WEBHOOK, {"action": "InvoiceCreated", "invoiceid": "01002", "userid": 999})
        self.assertRecordValues(Event.search([("external_id", "=", "1002")]),
                                [{"partner_id": False, "external_partner_ref": "999"}])

    def test_ambiguous_or_foreign_customer_is_left_empty(self):
        other = self.env["res.company"].create({"name": "Other SARL"})
        self.env["res.partner"].create({"name": "Elsewhere", "ref": "77", "company_id": other.id})
        self.call(WEBHOOK, {"action": "InvoiceCreated", "invoiceid": 2001, "userid": 77})
        self.env["res.partner"].create([{"name": "Twin A", "ref": "78"}, {"name": "Twin B", "ref": "78"}])
        self.call(WEBHOOK, {"action": "InvoiceCreated", "invoiceid": 2002, "userid": 78})
        events = self.env["notify.inbound.event"].sudo().search([("external_id", "in", ["2001", "2002"])])
        self.assertEqual(len(events), 2)
        self.assertFalse(events.partner_id)

    def test_a_rule_on_inbound_events_notifies_the_customer(self):
        """Rules need nothing new: "On creation" on Inbound event, template to partner_id.mobile."""
        self.env["notify.rule"].create({
            "name": "Invoice created in WHMCS", "model_id": self.env.ref("notify_rules.model_notify_inbound_event").id,
            "trigger": "on_create", "filter_domain": "[('action', '=', 'InvoiceCreated')]",
            "provider_account_id": self.wap.id, "template_ref": PARTNER_TEMPLATE,
            "recipient_path": "partner_id.mobile", "company_id": self.company.id,
            "variable_ids": [(0, 0, {"name": "customer_name", "field_path": "partner_id.name"})],
        })
        partner = self.env["res.partner"].create({"name": "Client 43", "ref": "43", "mobile": "6 90 00 00 43",
                                                  "country_id": self.env.ref("base.cm").id})
        self.call(WEBHOOK, {"action": "InvoiceCreated", "invoiceid": 3001, "userid": 43})
        self.env["notify.intent"]._queue_all()  # the dispatcher's first step
        event = self.env["notify.inbound.event"].sudo().search([("external_id", "=", "3001")])
        messages = self.env["notify.message"].sudo().search([("res_model", "=", "notify.inbound.event"),
                                                             ("res_id", "=", event.id)])
        self.assertEqual(len(messages), 1)
        self.env["notify.message"].sudo()._cron_dispatch()
        self.assertEqual(messages.state, "sent", messages.last_error)
        self.assertEqual(messages.recipient_e164, "+237690000043")
        sent = [r for r in self.wap_sim.requests if r["method"] == "POST" and r["response_status"] == 200][-1]
        self.assertEqual(sent["json"]["variables"], {"customer_name": partner.name})
        # the duplicate webhook creates no event, so no second message
        self.call(WEBHOOK, {"action": "InvoiceCreated", "invoiceid": 3001, "userid": 43})
        self.env["notify.intent"]._queue_all()
        self.assertEqual(self.env["notify.message"].sudo().search_count([("res_model", "=", "notify.inbound.event")]),
                         1)

    def test_webhook_fields(self):
        cases = [
            ({"invoiceid": 1, "userid": 1}, "action"),
            ({"action": "InvoicePaid", "invoiceid": 1, "userid": 1}, "action"),
            ({"action": 5, "invoiceid": 1, "userid": 1}, "action"),
            ({"action": "InvoiceCreated", "userid": 1}, "invoiceid"),
            ({"action": "InvoiceCreated", "invoiceid": "12a", "userid": 1}, "invoiceid"),
            ({"action": "InvoiceCreated", "invoiceid": True, "userid": 1}, "invoiceid"),
            ({"action": "InvoiceCreated", "invoiceid": 1.5, "userid": 1}, "invoiceid"),
            ({"action": "InvoiceCreated", "invoiceid": 1.0, "userid": 1}, "invoiceid"),
            ({"action": "InvoiceCreated", "invoiceid": 0, "userid": 1}, "invoiceid"),
            ({"action": "InvoiceCreated", "invoiceid": -3, "userid": 1}, "invoiceid"),
            ({"action": "InvoiceCreated", "invoiceid": 10**18, "userid": 1}, "invoiceid"),
            ({"action": "InvoiceCreated", "invoiceid": "", "userid": 1}, "invoiceid"),
            ({"action": "InvoiceCreated", "invoiceid": 1}, "userid"),
            ({"action": "InvoiceCreated", "invoiceid": 1, "userid": [1]}, "userid"),
        ]
        for body, field in cases:
            with self.subTest(body=body):
                self.refused(WEBHOOK, body, field=field)

    # ---- the document ---------------------------------------------------------------------------------
    def test_openapi_document_is_served(self):
        response = self.opener.get(self.base_url() + "/api/v1/openapi.json", timeout=30)
        self.assertEqual(response.status_code, 200)
        self.assertTrue(response.headers["Content-Type"].startswith("application/json"))
        served = response.json()
        self.assertEqual(served["servers"], [{"url": self.base_url()}])
        self.assertEqual(dict(served, servers=None), dict(self.openapi, servers=None))
        self.assertTrue(served["openapi"].startswith("3.0"))
        self.assertEqual(served["components"]["securitySchemes"]["ApiKey"],
                         {**served["components"]["securitySchemes"]["ApiKey"], "type": "apiKey", "in": "header",
                          "name": "X-API-Key"})
        for path in ROUTES:
            operation = served["paths"][path]["post"]
            self.assertEqual(operation["security"], [{"ApiKey": []}])
            self.assertLessEqual({"200", "400", "401", "403"}, set(operation["responses"]))
            for status in operation["responses"]:
                self.response_schema(path, status)
            jsonschema.Draft4Validator.check_schema(self.request_schema(path))

    def test_request_examples_of_the_document_are_valid_requests(self):
        """The Wabek document's own examples are valid requests of ours."""
        for path, body in ((OTP, {"phone": "+905551234567", "purpose": "verification"}),
                           (OTP, {"phone": "+33.612345678", "purpose": "login"}),
                           (VERIFY, {"otp_id": "0b6f2f0e-54a4-4c1e-9d43-54b8f1f4a2c7", "otp": "123456"}),
                           (WEBHOOK, {"action": "InvoiceCreated", "invoiceid": 5, "userid": "6"})):
            with self.subTest(body=body):
                jsonschema.Draft4Validator(self.request_schema(path)).validate(body)
