"""A payment transaction of the Intech provider is carried by mobile money operations (notify.money.operation):
ONE collection for the payment, one payout per refund. The operation goes through the outbox (the dispatcher sends
it) and Intech's signed IPN settles it; its outcome moves the transaction (models/notify_money_operation_payment.py),
and Odoo's post-processing then creates the account.payment and reconciles the invoices.

Nothing here calls Intech: asking for a payment only queues its operation, so the customer's request never waits
on the provider, and a second click finds the first operation and is refused.
"""

from odoo import api, fields, models
from odoo.exceptions import UserError, ValidationError
from odoo.fields import Command
from odoo.tools.float_utils import float_compare

from odoo.addons.payment import utils as payment_utils

from ..tools.cron_wakeup import trigger_cron_soon
from .payment_provider import INTECH_CURRENCY, INTECH_PAYMENT_METHOD_CODES

# an operation in these states may still take (or has taken) the customer's money: no second one for the same tx
LIVE_OPERATION_STATES = ("draft", "pending", "done", "unknown")


class PaymentTransaction(models.Model):
    _inherit = "payment.transaction"

    intech_operation_ids = fields.One2many(
        "notify.money.operation", "payment_transaction_id", string="Mobile money operations", readonly=True,
        groups="notify_rules.group_notify_manager")

    # === BUSINESS METHODS - PAYMENT FLOW === #

    def _get_specific_processing_values(self, processing_values):
        """The token the inline form sends back with its request: it proves the request is about this
        transaction and this customer (the route is public, like every payment route)."""
        res = super()._get_specific_processing_values(processing_values)
        if self.provider_code != "intech":
            return res
        return {
            "access_token": payment_utils.generate_access_token(
                processing_values["reference"], processing_values["partner_id"]),
        }

    def _intech_check_access_token(self, access_token):
        self.ensure_one()
        return payment_utils.check_access_token(access_token, self.reference, self.partner_id.id)

    def _intech_amount(self, amount=None):
        """The amount as Intech takes it: whole XOF. A refusal says why, in the customer's words."""
        self.ensure_one()
        amount = self.amount if amount is None else amount
        if float_compare(amount, round(amount), precision_digits=6):
            raise ValidationError(self.env._(
                "Mobile money payments are made in whole amounts: %(amount)s %(currency)s cannot be paid this way.",
                amount=amount, currency=self.currency_id.name))
        if self.currency_id.name != INTECH_CURRENCY:
            raise ValidationError(self.env._(
                "Mobile money payments are made in %(expected)s; this payment is in %(currency)s.",
                expected=INTECH_CURRENCY, currency=self.currency_id.name))
        amount = abs(round(amount))
        if not amount:
            raise ValidationError(self.env._("There is nothing to pay."))
        return amount

    def _intech_lock(self):
        """Serialise two requests for the same transaction (a double click): the second one waits for the first and
        then finds its operation."""
        self.env.flush_all()
        self.env.cr.execute("SELECT id FROM payment_transaction WHERE id IN %s FOR NO KEY UPDATE", [tuple(self.ids)])
        self.invalidate_recordset()

    def _intech_request_payment(self, service_id, phone):
        """The customer chose a wallet and typed its number: check both, queue ONE collection operation, and leave
        the transaction pending until Intech's IPN. Raise ValidationError with the reason otherwise (nothing is
        created then)."""
        self.ensure_one()
        if self.provider_code != "intech":
            raise ValidationError(self.env._("This payment is not made by mobile money."))
        self._intech_lock()
        if self.intech_operation_ids.filtered(lambda op: op.state in LIVE_OPERATION_STATES):
            raise ValidationError(self.env._(
                "This payment was already requested: confirm it on your phone. To pay again, start a new payment."))
        if self.state != "draft" or self.operation != "online_direct":
            raise ValidationError(self.env._("This payment can no longer be requested: start a new payment."))
        provider = self.provider_id
        account = provider.intech_account_id
        if not account:
            raise ValidationError(self.env._("Mobile money payments are not configured: no Intech account."))
        service = self.env["notify.intech.service"].sudo().browse(int(service_id or 0)).exists()
        if not service or service.provider_account_id != account or not service.active:
            raise ValidationError(self.env._("Choose one of the wallets offered."))
        if service.kind != "collect":
            raise ValidationError(self.env._(
                "%(wallet)s cannot take a payment: choose one of the wallets offered.", wallet=service.name))
        amount = self._intech_amount()
        phone = (phone or "").strip()
        if not phone:
            raise ValidationError(self.env._("Enter the number of your %(wallet)s wallet.", wallet=service.name))
        values = {
            "provider_account_id": account.id,
            "company_id": account.company_id.id,
            "service_id": service.id,
            "phone": phone,
            "amount": amount,
            "currency_id": self.currency_id.id,
            "partner_id": self.partner_id.id,
            "res_model": self._name,
            "res_id": self.id,
            "res_name": self.reference,
            "payment_transaction_id": self.id,
        }
        Operation = self.env["notify.money.operation"].sudo()
        Operation.new(values)._money_check_phone()  # before anything is written: the reason, in plain words
        operation = Operation.create(values)
        operation.action_request()
        self._intech_set_pending()
        return operation

    def _intech_set_pending(self):
        self._set_pending(state_message=self.env._(
            "Confirm the payment on your phone: your wallet operator asks you to approve it."))

    # === BUSINESS METHODS - REFUNDS === #

    def _send_refund_request(self, amount_to_refund=None):
        """A refund is a payout to the wallet that paid, through the same operator's payout service."""
        if self.provider_code != "intech":
            return super()._send_refund_request(amount_to_refund=amount_to_refund)
        self.ensure_one()
        collection = self.intech_operation_ids.filtered(lambda op: op.kind == "collect" and op.state == "done")[:1]
        if not collection:
            raise UserError(self.env._(
                "The transaction %s has no settled mobile money payment to refund.", self.reference))
        payout_service = collection.service_id._intech_counterpart("payout")
        if not payout_service:
            raise UserError(self.env._(
                "No payout service of %(wallet)s in the Intech catalogue: the refund cannot be sent back to this "
                "wallet. Read the catalogue again, or refund the customer another way.",
                wallet=collection.service_id.wallet or collection.service_id.name))
        amount = self._intech_amount(amount_to_refund or self.amount)
        refund_tx = super()._send_refund_request(amount_to_refund=amount)
        operation = self.env["notify.money.operation"].sudo().create({
            "provider_account_id": collection.provider_account_id.id,
            "company_id": collection.company_id.id,
            "service_id": payout_service.id,
            "phone": collection.phone,
            "amount": amount,
            "currency_id": collection.currency_id.id,
            "partner_id": refund_tx.partner_id.id,
            "res_model": refund_tx._name,
            "res_id": refund_tx.id,
            "res_name": refund_tx.reference,
            "payment_transaction_id": refund_tx.id,
        })
        operation.action_request()
        refund_tx._set_pending(state_message=self.env._("The refund is being sent to the wallet."))
        return refund_tx

    # === BUSINESS METHODS - OUTCOME === #

    def _intech_apply_outcome(self, operation):
        """The operation of this transaction is settled (done or failed): the transaction follows at once, so that
        the customer's status page tells; the payment and the reconciliation come with Odoo's post-processing."""
        self.ensure_one()
        if operation.provider_ref and not self.provider_reference:
            self.provider_reference = operation.provider_ref
        if operation.state == "done":
            self._set_done()
        elif operation.state == "failed":
            reason = operation.state_reason or self.env._("The mobile money operation failed.")
            self._set_error(reason)
        elif operation.state == "cancelled":
            self._set_canceled(state_message=self.env._("The mobile money operation was cancelled before it "
                                                        "was sent."))
        trigger_cron_soon(self.env, "payment.cron_post_process_payment_tx")

    @api.model
    def _intech_create_for_invoice(self, operation, invoice):
        """A rule asked the customer's wallet for the payment of `invoice`: the transaction that Intech's IPN
        settles, so that the invoice is paid and reconciled as if the customer had paid from the portal.
        Returns the transaction, or an empty recordset when the company has no enabled Intech provider of that
        account."""
        provider = self.env["payment.provider"].sudo().search([
            ("code", "=", "intech"), ("state", "!=", "disabled"),
            ("intech_account_id", "=", operation.provider_account_id.id),
            ("company_id", "=", operation.company_id.id),
        ], limit=1)
        if not provider:
            return self.browse()
        method = provider.with_context(active_test=False).payment_method_ids.filtered(
            lambda pm: pm.code in INTECH_PAYMENT_METHOD_CODES)[:1]
        if not method:
            return self.browse()
        currency = operation.currency_id
        if currency.name != INTECH_CURRENCY:
            return self.browse()
        tx = self.sudo().create({
            "provider_id": provider.id,
            "payment_method_id": method.id,
            "amount": operation.amount,
            "currency_id": currency.id,
            "partner_id": invoice.partner_id.id,
            "operation": "online_direct",
            "invoice_ids": [Command.set(invoice.ids)],
        })
        tx._intech_set_pending()
        return tx
