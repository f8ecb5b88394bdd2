"""The outbox carrying money operations: a request of an operation is a notify.message like any other, sent by
the dispatcher; this file hands its fate to the operation (models/notify_money_operation.py).

A money request is never sent twice by this side: no Resend, no "Mark as sent", no fallback; its idempotency key
is the operation's externalTransactionId (unique), and a lost answer holds the operation as "outcome unknown"
whatever the account's policy for messages says.
"""

import json

from odoo import fields, models
from odoo.exceptions import UserError

from ..clients.base import PermanentError, SendResult

MONEY_ACTIONS = ("money_collect", "money_payout", "money_airtime")


class NotifyMessage(models.Model):
    _inherit = "notify.message"

    money_operation_id = fields.Many2one("notify.money.operation", string="Money operation", readonly=True,
                                         ondelete="restrict", index="btree_not_null")

    def _render(self):
        if self.rule_id.action in MONEY_ACTIONS:
            return self.rule_id.sudo()._money_render_intent(self)
        return super()._render()

    def _rerender(self):
        """A money intent that failed before its operation existed (no number, an amount with decimals) is rendered
        again by its rule once the record is fixed: that creates its one operation now."""
        intents = self.filtered(lambda m: m.rule_id.action in MONEY_ACTIONS and not m.money_operation_id)
        for message in intents:
            message.rule_id.sudo()._money_render_intent(message)
        return super(NotifyMessage, self - intents)._rerender()

    def _to_outbound(self):
        outbound = super()._to_outbound()
        if self.money_operation_id:
            outbound.kind = "money"
            outbound.operation = self.money_operation_id._money_request(
                self.provider_account_id.intech_ipn_url)
        return outbound

    def _apply_send_result(self, result, client=None):
        res = super()._apply_send_result(result, client)
        operation = self.money_operation_id
        if not operation:
            return res
        if self.state == "sent" and isinstance(result, SendResult):
            operation._money_after_send(self, "sent", provider_ref=result.provider_ref or None,
                                        provider_status=result.provider_status, answer=result.raw)
        elif self.state in ("failed", "unknown"):
            answer = None
            if isinstance(result, PermanentError) and result.body:
                try:
                    answer = json.loads(result.body)
                except ValueError:
                    answer = {"body": result.body}
            operation._money_after_send(self, self.state, reason=self.last_error, answer=answer)
        return res

    def _mark_unknown(self, reason):
        res = super()._mark_unknown(reason)
        if self.money_operation_id:
            self.money_operation_id._money_after_send(self, "unknown", reason=reason)
        return res

    def _post_on_record(self, event, detail=None):
        if self.money_operation_id:
            return None  # the operation speaks for itself once its outcome is known
        return super()._post_on_record(event, detail=detail)

    def _notify_fallback(self, reason):
        if self.money_operation_id:
            return self.browse()
        return super()._notify_fallback(reason)

    def _money_refuse_buttons(self):
        if any(message.money_operation_id for message in self):
            raise UserError(self.env._(
                "A money request is never sent again nor marked by hand here: open its operation (Notifications › "
                "Mobile money), which says what to do."))

    def action_retry(self):
        self._money_refuse_buttons()
        return super().action_retry()

    def action_mark_sent(self):
        self._money_refuse_buttons()
        return super().action_mark_sent()

    def action_cancel(self):
        self._money_refuse_buttons()
        return super().action_cancel()
