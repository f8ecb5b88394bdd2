"""Mobile money operations that carry an Odoo payment transaction (the Intech payment provider).

The operation stays the one state machine (models/notify_money_operation.py); the transaction follows it: when the
operation is settled, in the same database transaction as Intech's word, the payment transaction moves too, so the
customer's status page shows the outcome at once. The account.payment and the reconciliation of the invoice are
left to Odoo's own post-processing (its cron, or the status page's poll), which is triggered here.
"""

from odoo import fields, models


class NotifyMoneyOperation(models.Model):
    _inherit = "notify.money.operation"

    payment_transaction_id = fields.Many2one(
        "payment.transaction", string="Payment transaction", readonly=True, copy=False, ondelete="restrict",
        index="btree_not_null",
        help="The Odoo payment (or refund) this operation carries: its outcome confirms or fails it.")

    def _money_on_settled(self):
        res = super()._money_on_settled()
        for operation in self.filtered("payment_transaction_id"):
            operation.payment_transaction_id.sudo()._intech_apply_outcome(operation)
        return res

    def _money_link_record(self, record):
        """A collection a rule asks for a customer invoice is paid like a portal payment: it gets its payment
        transaction, which the IPN confirms, so that Odoo's post-processing pays and reconciles the invoice."""
        res = super()._money_link_record(record)
        self.ensure_one()
        if (
            self.kind != "collect" or self.payment_transaction_id or record._name != "account.move"
            or record.move_type != "out_invoice"
        ):
            return res
        tx = self.env["payment.transaction"].sudo()._intech_create_for_invoice(self, record)
        if tx:
            self.sudo().payment_transaction_id = tx
        else:
            self.sudo().message_post(body=self.env._(
                "No payment transaction for %(invoice)s: the company has no enabled Intech payment provider using "
                "the account %(account)s. When Intech confirms this payment, record it on the invoice by hand.",
                invoice=record.display_name, account=self.provider_account_id.display_name))
        return res

    def action_cancel(self):
        """A request cancelled before it left takes its transaction with it (nothing was paid)."""
        res = super().action_cancel()
        for operation in self.filtered(lambda op: op.state == "cancelled" and op.payment_transaction_id):
            operation.payment_transaction_id.sudo()._intech_apply_outcome(operation)
        return res
