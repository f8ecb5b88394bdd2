"""A Wazzup message found already sent (`repeatedCrmMessageId`) says on itself why its statuses will not follow.

Our earlier attempt reached Wazzup but its answer, with Wazzup's messageId, was lost; the resend is refused as a
repeated crmMessageId, and the refusal carries no messageId. Wazzup's statuses and messages webhooks name a message
by its messageId only: neither carries our crmMessageId (wazzup-api-v3.md §4.1, §4.2), and our own API sends are
not even echoed (`isEcho` is for messages sent from the phone or Wazzup's chat). So nothing can tie the later
statuses to this message, and we do not guess: the message stays *Sent* and its note (on the form, and in the
chatter note of its record) says so.
"""

from odoo import models

from ..clients.wazzup import normalised_code


class NotifyMessage(models.Model):
    _inherit = "notify.message"

    def _apply_sent(self, result):
        if self.provider == "wazzup" and not result.provider_ref and \
                normalised_code(result.provider_status) == "repeatedcrmmessageid":
            note = self._user_env()._(
                "Wazzup already had this message (repeatedCrmMessageId: an earlier attempt reached it, its answer "
                "was lost) and does not give its message id again. Its statuses (delivered, read) name the message "
                "by that id only, so they cannot be followed here: the message stays Sent; Wazzup's chat shows "
                "where it is.")
            self.route_note = "\n".join(filter(None, [self.route_note, note]))
        return super()._apply_sent(result)
