"""Intech's IPN: POST /notify_rules/intech/ipn/<account id>, the `urlIpn` of every operation (the account's form
shows the URL to give Intech).

Thin: read the raw body, verify it with the account's HMAC secret (clients/intech.py verify_callback: constant
time, over the raw bytes and over JSON.stringify of the parsed body, 5 minutes), hand it to ONE model method, answer.
A rejected request changes nothing and answers 401 (signature, timestamp) or 400 (malformed); every verified
callback answers 200, applied or not (Intech re-sends on anything else). What follows an outcome (payment,
reconciliation, notes) runs in a cron, after the answer.
"""

import logging

from odoo import http
from odoo.http import request

from ..clients.intech import CallbackRejected, verify_callback

_logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024


class IntechIpnController(http.Controller):
    @http.route("/notify_rules/intech/ipn/<int:account_id>", type="http", auth="public", methods=["POST"],
                csrf=False, save_session=False)
    def intech_ipn(self, account_id, **_kwargs):
        httprequest = request.httprequest
        if (httprequest.content_length or 0) > MAX_BODY_BYTES:
            return self._answer(413, "body too large")
        # cache=True: Odoo replays the request after a serialization failure (two IPNs for one operation at once),
        # and the replay must read the same body
        raw_body = httprequest.get_data(cache=True)[:MAX_BODY_BYTES + 1]
        if len(raw_body) > MAX_BODY_BYTES:
            return self._answer(413, "body too large")
        account, secret = request.env["notify.provider.account"].sudo()._intech_ipn_account(account_id)
        if not account:
            return self._answer(401, "unknown account")
        timestamp = httprequest.headers.get("Timestamp")
        try:
            news = verify_callback(raw_body, httprequest.headers.get("Hmac-Signature"), timestamp, secret)
        except CallbackRejected as rejected:
            _logger.info("Intech IPN rejected for account %s: %s", account_id, rejected.reason)
            return self._answer(rejected.http_status, rejected.reason)
        self._read_committed()
        result = request.env["notify.money.callback"].sudo()._intech_receive(account, news, raw_body, timestamp)
        _logger.info("Intech IPN for %s on account %s: %s", news.external_id, account_id, result)
        return self._answer(200, result)

    @staticmethod
    def _read_committed():
        """Apply the IPN in READ COMMITTED, as the dispatcher claims: when Intech sends the same IPN twice at once,
        the second waits for the first's lock on the operation and then sees its outcome (a duplicate), where
        Odoo's REPEATABLE READ would fail it with a serialization error and replay it after sleeping up to 2 s,
        holding an HTTP worker (bench/bench_ipn.py). Nothing was written yet (only authentication read), so the
        commit that ends the first transaction is empty. Under tests the cursor is the test's own transaction."""
        if request.env.registry.in_test_mode():
            return
        request.env.cr.commit()  # pylint: disable=invalid-commit
        request.env.cr.execute("SET TRANSACTION ISOLATION LEVEL READ COMMITTED")

    @staticmethod
    def _answer(status, text):
        return request.make_json_response({"status": "ok" if status == 200 else "rejected", "detail": text},
                                          status=status)
