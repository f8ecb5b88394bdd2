"""Messages that carry a one-time code (notify.otp): sent first, never held, never kept in clear.

- ``priority``: set for codes only (NULL otherwise, so the insert path of rules is unchanged); the dispatcher
  claims them before any bulk message (notify_message_dispatch._dispatch_urgent).
- ``expires_at``: a code still queued when its challenge expires is not sent.
- ``otp_code``: the clear code of a code of ours, readable by nobody through the ORM but the superuser, and
  only while the message waits to be sent: the stored payload/SMS text hold a mask, replaced on the way out,
  and the code is wiped as soon as the message reaches any other state.
- A lost answer is not held as "outcome unknown": a code is worth nothing after a few minutes; the message fails
  and the rule's next route is tried (or the person asks for a new code).
"""

from odoo import api, fields, models
from odoo.exceptions import UserError

from ..tools import otp as otp_tools
from ..tools.provider_errors import provider_error_text

WIPE_STATES = ("sent", "delivered", "read", "failed", "unknown", "cancelled")


class NotifyMessage(models.Model):
    _inherit = "notify.message"

    otp_id = fields.Many2one("notify.otp", string="One-time code", readonly=True, ondelete="set null",
                             index="btree_not_null")
    otp_kind = fields.Selection([("local", "Our code"), ("provider", "The provider's code")], readonly=True)
    otp_code = fields.Char(readonly=True, copy=False, groups="base.group_system")
    priority = fields.Integer(readonly=True, copy=False, help="Sent before messages without a priority.")
    expires_at = fields.Datetime(string="Send before", readonly=True, copy=False)

    def _auto_init(self):
        res = super()._auto_init()
        self.env.cr.execute("""CREATE INDEX IF NOT EXISTS notify_message_urgent_idx ON notify_message
                               (provider_account_id) WHERE state = 'queued' AND priority IS NOT NULL""")
        return res

    def write(self, vals):
        res = super().write(vals)
        codes = self.filtered("otp_kind") if vals.get("state") in WIPE_STATES else self.browse()
        if codes:  # only one-time code messages carry a code: no statement for the others
            self.env.cr.execute(
                "UPDATE notify_message SET otp_code = NULL WHERE id IN %s AND otp_code IS NOT NULL",
                [tuple(codes.ids)])
            codes.invalidate_recordset(["otp_code"])
        return res

    def _record_raw(self, state, reason, provider_ref=None, to_render=None):
        res = super()._record_raw(state, reason, provider_ref=provider_ref, to_render=to_render)
        if state in WIPE_STATES:
            self.env.cr.execute("UPDATE notify_message SET otp_code = NULL WHERE id = %s", [self.id])
            self.invalidate_recordset(["otp_code"])
        return res

    def _to_outbound(self):
        outbound = super()._to_outbound()
        if not self.otp_id:
            return outbound
        if self.otp_kind == "provider":
            outbound.kind = "otp"
            outbound.otp_purpose = self.otp_id.purpose
            outbound.language = self.otp_id.lang
            return outbound
        code = self.sudo().otp_code or ""
        masked = otp_tools.mask(len(code))
        outbound.variables = {key: code if value == masked else value for key, value in outbound.variables.items()}
        if outbound.body:
            outbound.body = outbound.body.replace(masked, code)
        return outbound

    def _apply_outcome_unknown(self, result, client):
        if not self.otp_id:
            return super()._apply_outcome_unknown(result, client)
        return self._mark_unknown(provider_error_text(self._user_env(), result))

    def _notify_fallback(self, reason):
        if not self.otp_id:
            return super()._notify_fallback(reason)
        self.otp_id._otp_message_failed(self, reason)
        return self.browse()

    def _mark_unknown(self, reason):
        """A code whose answer was lost or whose sending was interrupted is never held nor re-sent: it fails, and the
        next route (or the person, asking again) takes over."""
        if not self.otp_id:
            return super()._mark_unknown(reason)
        self._fail(reason)
        self._notify_fallback(reason)
        return None

    def action_retry(self):
        if any(message.otp_id for message in self):
            raise UserError(self.env._("A one-time code is not sent again: the person asks for a new code."))
        return super().action_retry()

    @api.model
    def _cron_expire_codes(self):
        """Codes still queued past their challenge's expiry are not sent."""
        expired = self.sudo().search([("state", "=", "queued"), ("expires_at", "<=", fields.Datetime.now())])
        expired.write({"state": "cancelled", "last_error": self.env._("The code expired before it could be sent.")})
