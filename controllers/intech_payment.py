"""The inline form of the Intech payment provider posts here: POST /payment/intech/request (JSON-RPC), with the
transaction's reference, the wallet (service) and the number the customer chose.

Thin, like Odoo's payment routes: check the access token the transaction's processing values carried (the route
is public), then hand over to ONE model method (payment.transaction._intech_request_payment), which checks the
wallet and the number and queues the collection. Its refusals are ValidationErrors whose message the form shows.
"""

import logging

from odoo import http
from odoo.exceptions import ValidationError
from odoo.http import request

_logger = logging.getLogger(__name__)


class IntechPaymentController(http.Controller):
    _request_url = "/payment/intech/request"

    @http.route(_request_url, type="json", auth="public")
    def intech_request(self, reference, access_token, service_id=None, phone=None, **_kwargs):
        """Queue the collection of the transaction `reference` from the wallet `phone` of service `service_id`.

        :return: {"reference": ...} once queued; the customer then goes to /payment/status.
        :raise ValidationError: the token does not match, or the wallet or the number cannot be used."""
        reference = reference if isinstance(reference, str) and "\x00" not in reference else ""
        tx_sudo = reference and request.env["payment.transaction"].sudo().search(
            [("reference", "=", reference), ("provider_code", "=", "intech")], limit=1)
        if not tx_sudo or not isinstance(access_token, str) or not tx_sudo._intech_check_access_token(access_token):
            raise ValidationError(request.env._("Received tampered payment request data."))
        try:
            service_id = int(service_id or 0)
        except (TypeError, ValueError):
            service_id = 0
        if not 0 < service_id < 2**31:  # a database id, nothing PostgreSQL would refuse to compare
            service_id = 0
        operation = tx_sudo._intech_request_payment(service_id, phone if isinstance(phone, str) else "")
        _logger.info("Intech payment requested for transaction %s (operation %s)", tx_sudo.reference,
                     operation.external_id)
        return {"reference": tx_sudo.reference}
