"""Odoo as a Wabek-compatible OTP service: the document's WHMCS hooks work unchanged once their URL points here.

Wabek's document (provider-docs/wabek-whatsapp-otp.md) serves POST /api/v1/otp, POST /api/v1/otp-verify and
POST /api/v1/whmcs-webhook behind an X-API-Key header. Odoo serves the same request and response shapes; the key is
an Odoo API key of a user in the "OTP API" group, and the codes go out through the OTP engine (the company's OTP
rule: channels, limits, fallback). This controller only reads the request, authenticates it, calls ONE model method
and maps its answer to JSON; the contract is static/api/otp_api.openapi.json, served at GET /api/v1/openapi.json.

A rejected request (bad key, bad body, refused by the engine) is answered in JSON with a 4xx and stores nothing:
the transaction is rolled back before the answer. Order of the checks: body size, key, Content-Type, JSON, fields.
"""

import json
import logging
import math
import re

import psycopg2
import werkzeug.exceptions

from odoo import http
from odoo.http import request
from odoo.tools.misc import file_open

from ..tools.otp import LOGIN_PURPOSE, MAX_LENGTH, MIN_LENGTH, OtpCheck, OtpRefused

_logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 8 * 1024
API_KEY_HEADER = "X-API-Key"
API_GROUP = "notify_rules.group_notify_otp_api"
OPENAPI_PATH = "notify_rules/static/api/otp_api.openapi.json"

# E.164 (+905551234567), WHMCS's "+CC.NUMBER" (+33.612345678), or digits (read in the company's country)
PHONE_RE = re.compile(r"\+[1-9][0-9]{5,14}|\+[1-9][0-9]{0,3}\.[0-9]{4,14}|[0-9]{4,17}")
PHONE_MAX = 20
PURPOSE_RE = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
UUID_RE = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
OTP_RE = re.compile(r"[0-9]{%d,%d}" % (MIN_LENGTH, MAX_LENGTH))
API_KEY_RE = re.compile(r"[!-~]{1,256}")  # printable ASCII: anything else cannot be a key (nor reach SQL)
WHMCS_ID_RE = re.compile(r"[0-9]{1,18}")
WHMCS_ID_MAX = 10**18 - 1
WHMCS_ACTIONS = ("InvoiceCreated",)

# Engine refusals → HTTP status. Waiting helps: 429 with Retry-After; the number: 400; Odoo is not configured
# to send codes (no OTP rule, no delivery for that country): 503, the caller's request was fine.
REFUSAL_STATUS = {
    "cooldown": 429, "phone_limit": 429, "ip_limit": 429, "provider_limit": 429, "user_blocked": 429,
    "invalid_phone": 400, "country_not_allowed": 400,
    "no_rule": 503, "no_delivery": 503,
}
# The doc-style English reasons of Wabek's API, by check reason (the served API keeps them for compatibility)
WABEK_REASONS = {
    "invalid_code": "Invalid OTP",
    "expired": "OTP expired",
    "used": "OTP already used",
    "too_many_attempts": "Too many attempts",
    "replaced": "OTP replaced by a newer one",
    "not_sent": "OTP not sent",
    "ip_blocked": "Too many attempts",
    "user_blocked": "Too many attempts",
    "unknown_challenge": "OTP not found",
    "provider_error": "OTP could not be checked",
}
# Verdicts refused with another status than 200 (the `reason` sentences are the engine's, English as Wabek's)
CHECK_STATUS = {"ip_blocked": 429, "user_blocked": 429, "provider_error": 503}


class ApiError(Exception):
    """A request answered with an error: HTTP status and JSON body; nothing of the request is kept."""

    def __init__(self, status, body, retry_after=None):
        super().__init__(body.get("error") or body.get("reason"))
        self.status = status
        self.body = body
        self.retry_after = retry_after


def _bad(field, message, status=400):
    return ApiError(status, {"success": False, "error": message, "field": field})


def _retry_after(seconds):
    return max(1, math.ceil(seconds)) if seconds else None


class OtpApiController(http.Controller):
    # ---- routes --------------------------------------------------------------------------------------
    @http.route("/api/v1/otp", type="http", auth="none", methods=["POST"], csrf=False, save_session=False,
                readonly=False)
    def otp_request(self, **_params):
        return self._serve(self._otp_request)

    @http.route("/api/v1/otp-verify", type="http", auth="none", methods=["POST"], csrf=False, save_session=False,
                readonly=False)
    def otp_verify(self, **_params):
        return self._serve(self._otp_verify)

    @http.route("/api/v1/whmcs-webhook", type="http", auth="none", methods=["POST"], csrf=False,
                save_session=False, readonly=False)
    def whmcs_webhook(self, **_params):
        return self._serve(self._whmcs_webhook)

    @http.route("/api/v1/openapi.json", type="http", auth="none", methods=["GET"], save_session=False)
    def openapi(self, **_params):
        """The document kept in the repository, with this server as its `servers` entry."""
        with file_open(OPENAPI_PATH, "rb") as handle:
            document = json.load(handle)
        document["servers"] = [{"url": request.httprequest.url_root.rstrip("/")}]
        return request.make_json_response(document)

    # ---- the three calls -----------------------------------------------------------------------------
    def _otp_request(self, env, body):
        phone = _phone(env, body)
        purpose = _string(env, body, "purpose", PURPOSE_RE, 64, env._("a name of 1 to 64 letters, digits or _.:-"))
        if purpose.lower() == LOGIN_PURPOSE:
            raise _bad("purpose", env._("The purpose %(purpose)s is reserved to Odoo's own login.",
                                        purpose=LOGIN_PURPOSE))
        company = env.user.company_id
        try:
            with env.cr.savepoint():
                challenge = env["notify.otp"].with_company(company)._notify_request(
                    purpose, phone, client_ip=request.httprequest.remote_addr, company=company)
        except OtpRefused as exc:
            status = REFUSAL_STATUS.get(exc.reason, 429 if exc.retry_after else 400)
            body = {"success": False, "error": str(exc.args[0]), "reason": exc.reason}
            if status == 400:
                body["field"] = "phone"
            retry_after = _retry_after(exc.retry_after)
            if retry_after:
                body["retryAfter"] = retry_after
            raise ApiError(status, body, retry_after if status == 429 else None) from None
        return 200, {"success": True, "otpId": challenge.public_id}

    def _otp_verify(self, env, body):
        otp_id = _string(env, body, "otp_id", UUID_RE, 36, env._("a UUID, the otpId answered by /api/v1/otp"))
        code = _string(env, body, "otp", OTP_RE, MAX_LENGTH,
                       env._("a string of %(min)s to %(max)s digits", min=MIN_LENGTH, max=MAX_LENGTH))
        company = env.user.company_id
        challenges = env["notify.otp"].with_company(company)
        challenge = challenges._notify_find(otp_id.lower())
        # Another company's challenge, or one of Odoo's own login page, does not exist for this key.
        if not challenge or challenge.company_id != company or challenge.purpose == LOGIN_PURPOSE:
            check = OtpCheck(valid=False, reason="unknown_challenge")
        else:
            check = challenge._notify_verify(code, client_ip=request.httprequest.remote_addr)
        if check.valid:
            return 200, {"valid": True}
        answer = {"valid": False, "reason": WABEK_REASONS.get(check.reason, "Invalid OTP"), "code": check.reason}
        retry_after = _retry_after(check.retry_after)
        if retry_after:
            answer["retryAfter"] = retry_after
        status = CHECK_STATUS.get(check.reason, 200)
        return status, answer, (retry_after if status == 429 else None)

    def _whmcs_webhook(self, env, body):
        action = _string(env, body, "action", None, 64, None)
        if action not in WHMCS_ACTIONS:
            raise _bad("action", env._("Unsupported action %(action)s: expected one of %(actions)s.",
                                       action=action[:64], actions=", ".join(WHMCS_ACTIONS)))
        invoice_id = _whmcs_id(env, body, "invoiceid")
        user_id = _whmcs_id(env, body, "userid")
        company = env.user.company_id
        _event, duplicate = env["notify.inbound.event"]._notify_receive(
            "whmcs", action, str(invoice_id), company=company, external_partner_ref=str(user_id),
            payload={"action": action, "invoiceid": invoice_id, "userid": user_id},
        )
        return 200, {"success": True, "duplicate": duplicate}

    # ---- plumbing ------------------------------------------------------------------------------------
    def _serve(self, handler):
        """Run one call: every answer is JSON, a refused one rolls back and stores nothing."""
        try:
            body = _read_body()
            env = _authenticate()
            body = _parse_json(env, body)
            answer = handler(env, body)
        except ApiError as exc:
            request.env.cr.rollback()
            return _json(exc.status, exc.body, exc.retry_after)
        except psycopg2.OperationalError:
            raise  # a serialization failure: Odoo retries the whole request
        except Exception:
            request.env.cr.rollback()
            _logger.exception("OTP API: unexpected error on %s", request.httprequest.path)
            return _json(500, {"success": False, "error": request.env._("Internal error: nothing was done.")})
        status, payload, *rest = answer
        return _json(status, payload, rest[0] if rest else None)


def _json(status, payload, retry_after=None):
    headers = [("Cache-Control", "no-store")]
    if retry_after:
        headers.append(("Retry-After", str(retry_after)))
    return request.make_json_response(payload, headers=headers, status=status)


def _read_body():
    """The raw body, refused past MAX_BODY_BYTES before reading it when its length is announced."""
    httprequest = request.httprequest
    too_big = _bad("body", request.env._("The body is larger than %(max)s bytes.", max=MAX_BODY_BYTES))
    if (httprequest.content_length or 0) > MAX_BODY_BYTES:
        raise too_big
    try:
        # cached: when two requests collide (same number at once), Odoo retries the loser from the start, and a
        # stream read without caching would then look empty
        data = httprequest.get_data(cache=True)
    except werkzeug.exceptions.RequestEntityTooLarge:
        raise too_big from None
    if len(data) > MAX_BODY_BYTES:
        raise too_big
    return data


def _authenticate():
    """The X-API-Key's user, if it is in the OTP API group; the request then runs as that user."""
    key = request.httprequest.headers.get(API_KEY_HEADER, "").strip()
    if not key:
        raise _bad(API_KEY_HEADER, request.env._("The X-API-Key header is missing."), status=401)
    uid = None
    if API_KEY_RE.fullmatch(key):
        uid = request.env["res.users.apikeys"]._check_credentials(scope="rpc", key=key)
    if not uid:
        raise _bad(API_KEY_HEADER, request.env._("The API key is invalid or expired."), status=403)
    user = request.env["res.users"].sudo().browse(uid)
    if not user._has_group(API_GROUP):
        raise _bad(API_KEY_HEADER, request.env._("This API key's user is not in the OTP API group."), status=403)
    request.update_env(user=uid, context=dict(request.env.context, lang=user.lang))
    return request.env


def _parse_json(env, data):
    mimetype = request.httprequest.mimetype
    if mimetype and mimetype != "application/json" and not mimetype.endswith("+json"):
        raise _bad("Content-Type", env._("The body must be sent as application/json."))
    try:
        body = json.loads(data)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        raise _bad("body", env._("The body is not valid JSON.")) from None
    if not isinstance(body, dict):
        raise _bad("body", env._("The body must be a JSON object."))
    return body


def _string(env, body, name, pattern, max_length, expected):
    value = body.get(name)
    if value is None:
        raise _bad(name, env._("The field %(field)s is required.", field=name))
    if not isinstance(value, str):
        raise _bad(name, env._("The field %(field)s must be a string.", field=name))
    if not value or len(value) > max_length:
        raise _bad(name, env._("The field %(field)s must have 1 to %(max)s characters.", field=name,
                               max=max_length))
    if pattern is not None and not pattern.fullmatch(value):
        raise _bad(name, env._("The field %(field)s must be %(expected)s.", field=name, expected=expected))
    return value


def _phone(env, body):
    """The number as the engine reads it: WHMCS's "+CC.NUMBER" becomes "+CCNUMBER"; the engine checks the rest."""
    phone = _string(env, body, "phone", PHONE_RE, PHONE_MAX,
                    env._("an E.164 number (+22227635642), WHMCS's +CC.NUMBER form or digits"))
    return phone.replace(".", "")


def _whmcs_id(env, body, name):
    """A WHMCS id: PHP sends it as an integer or as a string of digits."""
    value = body.get(name)
    if value is None:
        raise _bad(name, env._("The field %(field)s is required.", field=name))
    if isinstance(value, str) and WHMCS_ID_RE.fullmatch(value):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise _bad(name, env._("The field %(field)s must be an integer or a string of digits.", field=name))
    if not 1 <= value <= WHMCS_ID_MAX:
        raise _bad(name, env._("The field %(field)s must be between 1 and %(max)s.", field=name, max=WHMCS_ID_MAX))
    return value
