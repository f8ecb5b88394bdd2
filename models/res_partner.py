from odoo import fields, models


class ResPartner(models.Model):
    """WhatsApp consent: marketing WhatsApp rules send only to contacts who agreed (and when; how)."""

    _inherit = "res.partner"

    notify_whatsapp_consent_date = fields.Datetime(
        string="WhatsApp consent given on", tracking=True, copy=False,
        help="Empty: this contact has not agreed to receive WhatsApp messages from rules that require consent.")
    notify_whatsapp_consent_source = fields.Selection(
        [("person", "Told us (call, visit)"), ("form", "Web or paper form"), ("whatsapp", "WhatsApp message"),
         ("import", "Imported"), ("other", "Other")],
        string="Consent given through", tracking=True, copy=False)

    def action_notify_whatsapp_consent(self):
        self.write({"notify_whatsapp_consent_date": fields.Datetime.now(),
                    "notify_whatsapp_consent_source": self.notify_whatsapp_consent_source or "person"})

    def action_notify_whatsapp_consent_withdraw(self):
        self.write({"notify_whatsapp_consent_date": False, "notify_whatsapp_consent_source": False})
