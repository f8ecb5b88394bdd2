from odoo import api, fields, models
from odoo.exceptions import ValidationError

from ..clients.registry import get_client_class

# Providers whose accounts may carry the SMS that Odoo itself sends (templates, composer, 'Send SMS' actions).
ODOO_SMS_PROVIDERS = ("chinqit",)


class ResCompany(models.Model):
    _inherit = "res.company"

    notify_sms_account_id = fields.Many2one(
        "notify.provider.account",
        string="Odoo SMS through",
        ondelete="set null",
        domain="[('provider', '=', 'chinqit'), ('company_id', '=', id)]",
        groups="notify_rules.group_notify_manager",
        help="Empty: Odoo sends its SMS through Odoo IAP. Set: every SMS that Odoo sends for this company goes "
        "through this account, via the outbox of Notify Rules.",
    )

    @api.constrains("notify_sms_account_id")
    def _check_notify_sms_account(self):
        for company in self.sudo():
            account = company.notify_sms_account_id
            if not account:
                continue
            if account.company_id != company:
                raise ValidationError(self.env._(
                    "The account %(account)s belongs to %(other)s: it cannot send the SMS of %(company)s.",
                    account=account.name, other=account.company_id.name, company=company.name))
            if account.provider not in ODOO_SMS_PROVIDERS or "sms" not in get_client_class(account.provider).channels:
                raise ValidationError(self.env._(
                    "The account %(account)s cannot send Odoo's SMS: choose a Chinqit account.",
                    account=account.name))
            if not account.active:
                raise ValidationError(self.env._(
                    "The account %(account)s is archived: it cannot send Odoo's SMS.", account=account.name))
