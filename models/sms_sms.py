"""Odoo's own SMS (templates, the SMS composer, 'Send SMS' actions, marketing SMS) through a provider account of this
addon, for a company that chose one (Settings > Notifications > Odoo SMS).

`sms.sms._send` is where Odoo hands a batch to its gateway, whatever it does inside (this 18.0 calls
`SmsApi._send_sms_batch`, later 18.0 revisions ask `_get_sms_api_class` first): the SMS of such a company are taken
out of the batch and queued in the outbox, and super() sends the rest exactly as Odoo would. Nothing here calls a
provider: the dispatcher does, and notify_message_sms.py moves each SMS and its chatter notification as its
message moves.
"""

from odoo import models

from ..clients.phone import InvalidPhoneError, to_mauritanian_e164
from ..tools.sms_parts import sms_text

# InvalidPhoneError code -> Odoo's failure type; any other code is 'sms_number_format'
FAILURE_TYPE_OF_PHONE_ERROR = {"empty": "sms_number_missing", "not_mauritanian": "sms_country_not_supported"}


class SmsSms(models.Model):
    _inherit = "sms.sms"

    def _send(self, unlink_failed=False, unlink_sent=True, raise_exception=False):
        accounts = self._notify_sms_accounts()
        routed = self.filtered(lambda sms: sms.id in accounts)
        result = None
        if self - routed:
            result = super(SmsSms, self - routed)._send(
                unlink_failed=unlink_failed, unlink_sent=unlink_sent, raise_exception=raise_exception)
        if routed:
            routed._notify_queue(accounts, unlink_failed=unlink_failed, unlink_sent=unlink_sent)
        return result

    def _notify_sms_accounts(self):
        """{sms id: the provider account of its company}, for the SMS whose company chose one."""
        if not self or not self.env["res.company"].sudo().search_count(
                [("notify_sms_account_id", "!=", False)], limit=1):
            return {}  # Odoo IAP everywhere: one cheap query per batch
        accounts = {}
        for sms in self.sudo():
            account = sms._notify_sms_company().notify_sms_account_id
            if account:
                accounts[sms.id] = account
        return accounts

    def _notify_sms_company(self):
        """The company of the document the SMS was posted on, as Odoo records it on the chatter message
        (record_company_id, from the document's company field; later 18.0 revisions choose their gateway by it
        too), else the company of the recipient (SMS sent in batch have no chatter message), else the current one."""
        self.ensure_one()
        return self.mail_message_id.record_company_id or self.partner_id.company_id or self.env.company

    def _notify_sms_document(self):
        """(model, id, name) of what the SMS is about: the document of its chatter message, else its recipient.
        The outbox shows the message only to those who may read it."""
        self.ensure_one()
        message = self.mail_message_id
        if message.model and message.res_id:
            return message.model, message.res_id, message.record_name
        if self.partner_id:
            return "res.partner", self.partner_id.id, self.partner_id.display_name
        return False, False, False

    def _notify_queue(self, accounts, unlink_failed=False, unlink_sent=True):
        """One outbox message per SMS (a refused number fails at once, before any request); the SMS move to
        'process' (or 'error') with their trackers, and the dispatcher is woken up."""
        outbox = self.env["notify.message"].sudo()
        waiting = set(outbox.search(
            [("sms_uuid", "in", self.mapped("uuid")), ("state", "in", ("queued", "sending"))]).mapped("sms_uuid"))
        vals_list, failure_types = [], []
        for sms in self.sudo().filtered(lambda s: s.uuid not in waiting):  # already queued: never twice
            account = accounts[sms.id]
            res_model, res_id, res_name = sms._notify_sms_document()
            vals = {
                "provider_account_id": account.id,
                "channel": "sms",
                "body": sms_text(sms.body),
                "rule_id": False,
                "to_render": False,
                "sms_uuid": sms.uuid,
                "sms_unlink_sent": unlink_sent,
                "sms_unlink_failed": unlink_failed,
                "res_model": res_model,
                "res_id": res_id,
                "res_name": res_name,
            }
            country = (sms.partner_id.country_id or account.default_country_id).code
            try:
                e164 = to_mauritanian_e164(sms.number, default_country=country)
            except InvalidPhoneError as error:
                vals.update(state="failed", last_error=self.env["notify.rule"]._phone_error_text(error))
                failure_types.append(FAILURE_TYPE_OF_PHONE_ERROR.get(error.code, "sms_number_format"))
            else:
                vals.update(state="queued", recipient_e164=e164,
                            recipient_provider=account._notify_provider_recipient(e164))
                failure_types.append(None)
            vals_list.append(vals)
        messages = outbox.create(vals_list)
        queued = messages.filtered(lambda m: m.state == "queued")
        processing = waiting | set(queued.mapped("sms_uuid"))
        self.filtered(lambda s: s.uuid in processing).with_context(
            sms_skip_msg_notification=True).sudo()._update_sms_state_and_trackers("process")
        for message, failure_type in zip(messages, failure_types, strict=True):
            if failure_type:
                message.with_context(notify_sms_failure_type=failure_type)._notify_sms_sync()
        self.sudo().mail_message_id._notify_message_notification_update()
        if queued:
            outbox._trigger_dispatch()
