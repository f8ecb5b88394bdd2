"""Wazzup's webhooks: POST /notify_rules/wazzup/webhook (the URL the account registers with PATCH /v3/webhooks).

Thin: the `Authorization: Bearer <crmKey>` names the account (its key's SHA-256, compared in constant time); a
missing or unknown key is 401 and changes nothing; a body that is not a JSON object is 400. `{"test": true}` is
answered 200 at once. Everything else goes to ONE model method (notify.inbound.event._wazzup_receive).
"""

import json
import logging
import math

from odoo import http
from odoo.http import request

_logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024  # a delivery may hold many messages


def _no_constant(name):
    raise ValueError(f"{name} is not JSON")  # NaN, Infinity: PostgreSQL's jsonb cannot keep them


def _finite_float(text):
    value = float(text)
    if not math.isfinite(value):  # 1e999
        raise ValueError("number out of range")
    return value


class WazzupWebhookController(http.Controller):
    @http.route("/notify_rules/wazzup/webhook", type="http", auth="public", methods=["POST"], csrf=False,
                save_session=False)
    def wazzup_webhook(self, **_kwargs):
        httprequest = request.httprequest
        if (httprequest.content_length or 0) > MAX_BODY_BYTES:
            return self._answer(413, {"error": "body too large"})
        account = request.env["notify.provider.account"].sudo()._wazzup_account_for_bearer(
            httprequest.headers.get("Authorization"))
        if not account:
            return self._answer(401, {"error": "unauthorized"})
        raw = httprequest.get_data(cache=True)[:MAX_BODY_BYTES + 1]  # cache: Odoo may replay the request
        try:
            body = json.loads(raw.decode("utf-8"), parse_constant=_no_constant, parse_float=_finite_float)
        except (UnicodeDecodeError, ValueError, RecursionError):
            body = None
        if not isinstance(body, dict):
            return self._answer(400, {"error": "body is not a JSON object"})
        status, answer = request.env["notify.inbound.event"].sudo()._wazzup_receive(account, body)
        return self._answer(status, answer)

    @staticmethod
    def _answer(status, payload):
        return request.make_json_response(payload, status=status)
