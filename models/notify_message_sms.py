"""Outbox messages that carry an Odoo SMS (sms.sms): the SMS, and the chatter notification it is tracked by, follow
the message. This file is the one place where our states become Odoo's SMS states (see sms_sms.py for the way in).

Odoo's vocabulary differs from ours: its SMS 'pending' is labelled "Sent" (handed to the provider) and its 'sent'
is "Delivered". Its screens read `sms.sms.state` / `failure_type` (SMS list, resend) and the `mail.notification`
of the chatter message (icons, failure popover, sms.resend wizard), moved through its `sms.tracker`.
"""

import logging

from odoo import fields, models
from odoo.exceptions import UserError

from ..clients.base import OutcomeUnknownError, PermanentError, ProviderError, RetryableError

_logger = logging.getLogger(__name__)

# our state -> Odoo's sms.sms state; 'sending' says nothing new to Odoo (the SMS is 'process' since it was queued)
SMS_STATE_OF = {
    "queued": "process",
    "sent": "pending",
    "delivered": "sent",
    "read": "sent",
    "failed": "error",
    "unknown": "error",
    "cancelled": "canceled",
}
# the client's error code -> Odoo's failure type (any other refusal is 'unknown', with our reason)
FAILURE_TYPE_OF_CODE = {
    "not_mauritanian_recipient": "sms_country_not_supported",
    "bad_mauritanian_recipient": "sms_number_format",
    "bad_recipient": "sms_number_format",
}


def sms_failure_type(error):
    """Odoo's failure type for a provider error that makes a message fail: given up after retries or a server
    error -> 'sms_server'; a refused number -> its type; anything else 'unknown'."""
    if isinstance(error, (RetryableError, OutcomeUnknownError)):
        return "sms_server"
    if isinstance(error, PermanentError):
        return FAILURE_TYPE_OF_CODE.get(error.code, "unknown")
    return "unknown"


class NotifyMessage(models.Model):
    _inherit = "notify.message"

    sms_uuid = fields.Char(
        string="Odoo SMS", index="btree_not_null", readonly=True, copy=False,
        help="The Odoo SMS this message sends (its UUID): the SMS and its chatter notification follow this message. "
        "A resend from Odoo is a new message with the same UUID.",
    )
    sms_unlink_sent = fields.Boolean(readonly=True, copy=False, help="Odoo asked to delete the SMS once sent.")
    sms_unlink_failed = fields.Boolean(readonly=True, copy=False, help="Odoo asked to delete the SMS if it fails.")

    def write(self, vals):
        res = super().write(vals)
        if "state" in vals:
            sms_messages = self.filtered("sms_uuid")
            if sms_messages:
                try:
                    with self.env.cr.savepoint():
                        sms_messages._notify_sms_sync()
                except Exception:  # noqa: BLE001 - the message's own state must stand (its send is done)
                    _logger.exception("Could not update the Odoo SMS of notify.message %s", sms_messages.ids)
        return res

    def _notify_sms_sync(self):
        """Move each Odoo SMS, and its tracked chatter notification, to what its latest outbox message says.

        The failure type of a failed message comes from the context key ``notify_sms_failure_type``, set by whoever
        knows why it failed (the answer of the provider, the check of the number); 'unknown' otherwise, with our
        reason. Trackers are found by UUID: Odoo deletes a sent SMS (to_delete) but keeps its tracker.
        """
        latest = self._notify_sms_latest()
        if not latest:
            return
        uuids = latest.mapped("sms_uuid")
        env = self.env(su=True, context=dict(self.env.context, sms_skip_msg_notification=True))
        sms_by_uuid = {sms.uuid: sms for sms in env["sms.sms"].search([("uuid", "in", uuids)])}
        trackers_by_uuid = {t.sms_uuid: t for t in env["sms.tracker"].search([("sms_uuid", "in", uuids)])}
        hinted_failure = self.env.context.get("notify_sms_failure_type")
        mail_messages = env["mail.message"]
        for message in latest:
            sms_state = SMS_STATE_OF.get(message.state)
            if not sms_state:
                continue
            failure_type = reason = False
            if message.state == "failed":
                failure_type, reason = hinted_failure or "unknown", message.last_error
            elif message.state == "unknown":
                failure_type, reason = "unknown", message.last_error
            elif message.state == "cancelled" and message.safeguard == "optout":
                failure_type = "sms_blacklist"  # Odoo's own word for it (its SMS stop blacklisted numbers too)
            sms = sms_by_uuid.get(message.sms_uuid)
            if sms:
                vals = {"state": sms_state, "failure_type": failure_type}
                if (sms_state == "error" and message.sms_unlink_failed) or (
                        sms_state in ("pending", "sent") and message.sms_unlink_sent):
                    vals["to_delete"] = True  # as Odoo's _send does once the gateway answered
                sms.write(vals)
                mail_messages |= sms.mail_message_id
            tracker = trackers_by_uuid.get(message.sms_uuid)
            if not tracker:
                continue
            if sms_state == "canceled":
                # Odoo's trackers never cancel an SMS in 'process' (for IAP it may already be at the operator); ours
                # was not sent: cancel its notification as Odoo's own sms.resend wizard does (action_cancel).
                tracker.mail_notification_id.write({"notification_status": "canceled"})
            else:
                tracker._action_update_from_sms_state(sms_state, failure_type=failure_type, failure_reason=reason)
            mail_messages |= tracker.mail_notification_id.mail_message_id
        mail_messages._notify_message_notification_update()

    def _notify_sms_latest(self):
        """The messages that are the latest of their SMS: a message superseded by a resend from Odoo keeps its
        history but no longer speaks for the SMS."""
        self.env["notify.message"].flush_model(["sms_uuid"])
        self.env.cr.execute(
            "SELECT sms_uuid, max(id) FROM notify_message WHERE sms_uuid = ANY(%s) GROUP BY sms_uuid",
            [list(set(self.mapped("sms_uuid")))],
        )
        latest_ids = {row[1] for row in self.env.cr.fetchall()}
        return self.filtered(lambda m: m.id in latest_ids)

    def _apply_send_result(self, result, client=None):
        """Tell the SMS mapping why the message fails, if it does (see _notify_sms_sync)."""
        if self.sms_uuid and isinstance(result, ProviderError):
            message = self.with_context(notify_sms_failure_type=sms_failure_type(result))
            return super(NotifyMessage, message)._apply_send_result(result, client)
        return super()._apply_send_result(result, client)

    def action_retry(self):
        """An SMS that Odoo sent again is a newer message: the old one cannot be sent too."""
        superseded = self.filtered("sms_uuid") - self.filtered("sms_uuid")._notify_sms_latest()
        if superseded:
            raise UserError(self.env._(
                "This SMS was sent again from Odoo: its newer message in the outbox is the one that counts."))
        return super().action_retry()

    def _compute_display_label(self):
        result = super()._compute_display_label()
        for message in self.filtered("sms_uuid"):
            message.display_label = self.env._("Odoo SMS") + message.display_label
        return result

    def _post_on_record(self, event, detail=None):
        """Odoo shows its SMS in the chatter already, with its icon and its failure: no note of ours."""
        if self.sms_uuid:
            return None
        return super()._post_on_record(event, detail=detail)
