"""Intech as a payment provider of Odoo's payment framework: the customer pays an invoice (or any payment form) from
their mobile money wallet, through the Intech account of the provider's company.

The provider only names the account; the wallets offered are the account's catalogue (its active collection
services, kept in step with Intech by the daily sync), for the customer's country. Direct flow (the inline form
asks the wallet and the number), no tokens (Intech has no stored means of payment), no express checkout; refunds
are payouts back to the same wallet (models/payment_transaction.py).
"""

from odoo import api, fields, models
from odoo.exceptions import ValidationError

INTECH_CURRENCY = "XOF"  # Senegal and Côte d'Ivoire: the only currency of Intech's services
INTECH_PAYMENT_METHOD_CODES = {"intech_wallet"}


class PaymentProvider(models.Model):
    _inherit = "payment.provider"

    code = fields.Selection(selection_add=[("intech", "Intech")], ondelete={"intech": "set default"})
    intech_account_id = fields.Many2one(
        "notify.provider.account", string="Intech account", required_if_provider="intech", check_company=True,
        ondelete="restrict", domain="[('provider', '=', 'intech'), ('company_id', '=', company_id)]",
        help="The Intech account of this company that requests the payments. The wallets offered to the customer "
        "are its active collection services.")

    # === COMPUTE METHODS === #

    def _compute_feature_support_fields(self):
        """Refunds go back to the wallet by a payout, of any amount up to the payment's."""
        res = super()._compute_feature_support_fields()
        self.filtered(lambda p: p.code == "intech").update({"support_refund": "partial"})
        return res

    # === CONSTRAINT METHODS === #

    @api.constrains("code", "intech_account_id")
    def _check_intech_account(self):
        for provider in self.filtered(lambda p: p.code == "intech" and p.intech_account_id):
            if provider.intech_account_id.provider != "intech":
                raise ValidationError(self.env._("The account of an Intech payment provider must be an Intech "
                                                 "account."))

    # === BUSINESS METHODS === #

    def _get_supported_currencies(self):
        supported = super()._get_supported_currencies()
        if self.code == "intech":
            supported = supported.filtered(lambda c: c.name == INTECH_CURRENCY)
        return supported

    def _get_default_payment_method_codes(self):
        codes = super()._get_default_payment_method_codes()
        if self.code != "intech":
            return codes
        return INTECH_PAYMENT_METHOD_CODES

    def _intech_country(self, partner):
        """The country whose wallets the customer is offered: theirs, else the company's."""
        self.ensure_one()
        return partner.country_id or self.company_id.country_id

    def _intech_collect_services(self, partner):
        """The wallets a customer of `partner`'s country may pay with: the active collection services of the
        account's catalogue for that country. A collection whose code names no country (the document's
        BANK_CARD_API_CASH_OUT) is not a wallet of the customer's country: it is not offered."""
        self.ensure_one()
        country = self._intech_country(partner)
        if not country:
            return self.env["notify.intech.service"]
        services = self.intech_account_id.sudo().intech_service_ids.filtered(
            lambda s: s.active and s.kind == "collect" and s.country_id == country)
        return services.sorted(lambda s: (s.name or "").lower())

    def _intech_form_values(self, partner_id):
        """What the inline form shows: the wallets and the number it proposes (the customer's mobile)."""
        self.ensure_one()
        partner = self.env["res.partner"].sudo().browse(partner_id).exists()
        return {
            "services": self._intech_collect_services(partner),
            "phone": partner.mobile or partner.phone or "",
        }
