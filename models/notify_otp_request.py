"""One row per one-time code requested from a provider, kept to enforce its per-number limits locally.

A provider's client declares its documented limits (``otp_send_limits``; Chinqit: 3 OTP sends per minute, 10 per
hour and 20 per day for each number and API key; past them it answers 429). We count before calling, so that
the person asking for a code is told at once when to try again, and no request is spent on a refusal. The code
itself is never seen nor stored: the provider generates it.
"""

import hashlib
from datetime import timedelta

from odoo import api, fields, models

from ..clients.registry import get_client_class
from ..tools.otp import OtpRefused
from ..tools.rate_window import wait_text, window_wait


class NotifyOtpRequest(models.Model):
    _name = "notify.otp.request"
    _description = "One-time code request (local rate limit)"
    _order = "requested_at desc, id desc"
    _log_access = False

    provider_account_id = fields.Many2one("notify.provider.account", required=True, ondelete="cascade", index=True)
    company_id = fields.Many2one(related="provider_account_id.company_id", store=True)
    recipient_e164 = fields.Char(string="Recipient", required=True, index=True)
    channel = fields.Selection([("sms", "SMS"), ("whatsapp", "WhatsApp")], required=True, default="sms")
    requested_at = fields.Datetime(required=True, default=fields.Datetime.now)
    provider_ref = fields.Char(string="Provider reference")

    @api.autovacuum
    def _gc_old_requests(self):
        self.env.cr.execute("DELETE FROM notify_otp_request WHERE requested_at < %s",
                            [fields.Datetime.now() - timedelta(days=2)])

    @api.model
    def _reserve(self, account, recipient_e164, channel):
        """Count this request in the number's windows, or raise OtpRefused (a UserError) saying when to ask again.

        Serialised per (account, number) with a transaction-level advisory lock, so that two requests at the same
        moment cannot both take the last slot."""
        digest = hashlib.blake2b(f"{account.id}:{recipient_e164}".encode(), digest_size=8).digest()
        self.env.cr.execute("SELECT pg_advisory_xact_lock(%s)", [int.from_bytes(digest, "big", signed=True)])
        now = fields.Datetime.now()
        filters = {"provider_account_id": account.id, "recipient_e164": recipient_e164}
        waits = [window_wait(self.env.cr, self._table, "requested_at", filters, seconds, allowed, now)
                 for seconds, allowed in get_client_class(account.provider).otp_send_limits]
        wait = max(filter(None, waits), default=None)
        if wait:
            raise OtpRefused(self.env._(
                "Too many codes were sent to %(number)s. Try again in %(wait)s.", number=recipient_e164,
                wait=wait_text(self.env, wait)), reason="provider_limit", retry_after=wait)
        return self.sudo().create({"provider_account_id": account.id, "recipient_e164": recipient_e164,
                                   "channel": channel, "requested_at": now})
