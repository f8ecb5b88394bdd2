"""Each code checked, kept a day: wrong codes are counted per client IP and per user across challenges, so that
asking for new codes does not reset a brute-force attempt."""

from datetime import timedelta

from odoo import api, fields, models

from ..tools import otp as otp_tools
from ..tools.otp import OtpCheck
from ..tools.rate_window import wait_text, window_wait

WINDOW = timedelta(hours=1)


class NotifyOtpAttempt(models.Model):
    _name = "notify.otp.attempt"
    _description = "One-time code check"
    _order = "id desc"

    otp_id = fields.Many2one("notify.otp", required=True, ondelete="cascade", index=True)
    user_id = fields.Many2one("res.users", ondelete="cascade", index="btree_not_null")
    client_ip = fields.Char(index="btree_not_null")
    success = fields.Boolean()
    checked_at = fields.Datetime(required=True, default=fields.Datetime.now, index=True)

    @api.model
    def _blocked(self, *, user=None, client_ip=None):
        """OtpCheck refusing any check (and any new code for the user) while the last hour holds too many wrong
        codes from this IP or for this user; None otherwise."""
        self.env.flush_all()
        now = fields.Datetime.now()
        limits = []
        if client_ip:
            limits.append(("client_ip", client_ip, otp_tools.WRONG_CODES_PER_IP_HOUR, "ip_blocked"))
        if user:
            limits.append(("user_id", user.id, otp_tools.WRONG_CODES_PER_USER_HOUR, "user_blocked"))
        for column, value, allowed, reason in limits:
            wait = window_wait(self.env.cr, self._table, "checked_at", {column: value, "success": False},
                               WINDOW.total_seconds(), allowed, now)
            if wait:
                return OtpCheck(valid=False, reason=reason, retry_after=wait, message=self.env._(
                    "Too many wrong codes. Try again in %s.", wait_text(self.env, wait)))
        return None
