"""Opt-out words on an inbound channel (issue 10): a person who replies only STOP (ARRET, توقف, or a word of the
company's list, models/res_company_optout.py) on a Wazzup chat is blacklisted, so that no rule texts them again.

Done where the cron posts the incoming message on the contact (``_wazzup_post_message``), after it: the reply is
still on the chatter as any other, followed by a note saying the number opted out. Only what the person wrote
counts: not an echo (a colleague writing from the business phone), not a deleted message; and only chats whose id is
a phone number (WhatsApp, Viber: not groups, Telegram or Instagram).
"""

from markupsafe import Markup

from odoo import models

from ..clients.phone import InvalidPhoneError, to_e164

PHONE_CHAT_TYPES = ("whatsapp", "viber")


class NotifyInboundEvent(models.Model):
    _inherit = "notify.inbound.event"

    def _wazzup_post_message(self):
        result = super()._wazzup_post_message()
        if self._wazzup_optout():
            result = f"{result}; opted out"
        return result

    def _wazzup_optout(self):
        """Blacklist the sender when the message is an opt-out reply; return whether it was one."""
        self.ensure_one()
        item = self.payload or {}
        text = item.get("text")
        chat_type = item.get("chatType") or "whatsapp"
        if item.get("isEcho") or item.get("isDeleted") or chat_type not in PHONE_CHAT_TYPES:
            return False
        if not isinstance(text, str) or not self.provider_account_id.company_id._notify_is_optout_reply(text):
            return False
        try:
            number = to_e164("+" + "".join(ch for ch in str(item.get("chatId") or "") if ch.isdigit()))
        except InvalidPhoneError:
            return False
        reply = text.strip()
        channel = chat_type.capitalize()
        newly = self.env["phone.blacklist"]._notify_optout(number, self.env._(
            "Opted out by replying “%(reply)s” on %(channel)s (Wazzup).", reply=reply, channel=channel))
        if self.partner_id:
            note = self.env._("The number %(number)s opted out of notifications by replying “%(reply)s”.",
                              number=number, reply=reply) if newly else self.env._(
                "The number %(number)s replied “%(reply)s”: it had already opted out of notifications.",
                number=number, reply=reply)
            self.partner_id.sudo().message_post(body=Markup("<p>%s</p>") % note, message_type="comment",
                                                subtype_xmlid="mail.mt_note")
        return True
