"""Rules that send a text through Wazzup: "when a lead is won, write to the customer on WhatsApp".

Action *Send a text message (Wazzup)*: the text is an inline template rendered on the record in the recipient's
language, as an SMS text is (the same field, `sms_body`), sent on the WhatsApp channel of a Wazzup account. An
OTP rule can use it too: the text then carries `{{ object.code }}`.
"""

from odoo import api, fields, models
from odoo.exceptions import ValidationError

from .notify_rule_otp import OTP_TRIGGERS

TEXT_ACTION = "send_text"


class NotifyRule(models.Model):
    _inherit = "notify.rule"

    action = fields.Selection(selection_add=[(TEXT_ACTION, "Send a text message (Wazzup)")],
                              ondelete={TEXT_ACTION: "cascade"})

    @api.onchange("action")
    def _onchange_action_text(self):
        if self.action == TEXT_ACTION:
            self.channel = "whatsapp"

    def _check_delivery(self, owner, model):
        if owner.action != TEXT_ACTION:
            return super()._check_delivery(owner, model)
        label = self._delivery_label(owner)
        if owner.provider_account_id.provider != "wazzup":
            raise ValidationError(self.env._("Rule %s: a text message goes through a Wazzup account.", label))
        if owner.channel != "whatsapp":
            raise ValidationError(self.env._("Rule %s: a Wazzup text goes on the WhatsApp channel.", label))
        if not (owner.sms_body or "").strip():
            raise ValidationError(self.env._("Rule %s: write the text.", label))
        self.env["notify.rule.variable"]._check_inline_template(
            model, owner.sms_body, self.env._("Rule %s, text", label))
        if self.trigger in OTP_TRIGGERS and "object.code" not in owner.sms_body:
            raise ValidationError(self.env._("Rule %s: the text must contain the code: {{ object.code }}.", label))
        return self._check_delivery_account(owner)

    def _notify_render_content(self, delivery, record, result):
        if delivery.owner.action != TEXT_ACTION:
            return super()._notify_render_content(delivery, record, result)
        source = delivery.owner.with_context(lang=record.env.context.get("lang")).sms_body or ""
        try:
            body = str(self.env["notify.rule.variable"]._render_inline(source, record) or "").strip()
        except Exception as error:  # noqa: BLE001 - any template error becomes a readable message
            return [self.env._("The text failed to render: %s", error)]
        result["body"] = body
        return [] if body else [self.env._("The text is empty on %s.", record.display_name)]
