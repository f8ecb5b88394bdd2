"""Money rules: "when an invoice is posted, request the payment from the customer's wallet", "pay out",
"top up airtime".

A money rule fires like any rule (base_automation underneath, one intent row in the outbox per trigger); when the
dispatcher renders that intent, the rule creates ONE operation bound to it (the intent is rendered once, under
lock, in the same savepoint as the operation): one trigger, one operation, never two. The amount and the number
are read from the record at that moment.
"""

from odoo import api, fields, models
from odoo.exceptions import ValidationError
from odoo.tools.float_utils import float_is_zero

from ..clients.phone import InvalidPhoneError, to_e164
from ..tools.field_path import RenderError, check_field_path, resolve_path
from .notify_message_money import MONEY_ACTIONS

ACTION_KINDS = {"money_collect": "collect", "money_payout": "payout", "money_airtime": "airtime"}


class NotifyRule(models.Model):
    _inherit = "notify.rule"

    action = fields.Selection(
        selection_add=[("money_collect", "Request a payment (mobile money)"),
                       ("money_payout", "Pay out (mobile money)"), ("money_airtime", "Top up airtime")],
        ondelete={"money_collect": "cascade", "money_payout": "cascade", "money_airtime": "cascade"},
    )
    money_service_id = fields.Many2one(
        "notify.intech.service", string="Service", ondelete="restrict",
        domain="[('provider_account_id', '=', provider_account_id)]",
        help="The Intech service: a collection (cash-out of the customer's wallet) to request a payment, a cash-in "
        "to pay out, an airtime service to top up.")
    money_amount_path = fields.Char(
        string="Amount field", help="Field path to the amount, e.g. amount_residual (in XOF, without decimals).")

    @api.constrains("action", "money_service_id", "money_amount_path", "provider_account_id", "route_ids",
                    "model_id")
    def _check_money_rule(self):
        for rule in self.filtered(lambda r: r.action in MONEY_ACTIONS):
            if rule.provider_account_id.provider != "intech":
                raise ValidationError(self.env._("Rule %s: money operations go through an Intech account.", rule.name))
            service = rule.money_service_id
            if not service or service.provider_account_id != rule.provider_account_id:
                raise ValidationError(self.env._("Rule %s: choose a service of the Intech account's catalogue.",
                                                 rule.name))
            if service.kind != ACTION_KINDS[rule.action]:
                kinds = dict(service._fields["kind"]._description_selection(self.env))
                raise ValidationError(self.env._(
                    "Rule %(rule)s: the service %(service)s is not a %(kind)s service.", rule=rule.name,
                    service=service.display_name, kind=kinds[ACTION_KINDS[rule.action]]))
            if rule.route_ids:
                raise ValidationError(self.env._(
                    "Rule %s: a money rule has no routes nor fallback (a payment is never tried elsewhere).",
                    rule.name))
            if not rule.money_amount_path:
                raise ValidationError(self.env._("Rule %s: the amount field is required.", rule.name))
            error = check_field_path(self.env[rule.model_id.model], rule.money_amount_path)
            if error:
                raise ValidationError(self.env._("Rule %(rule)s, amount field: %(error)s", rule=rule.name,
                                                 error=error))

    def _check_delivery(self, owner, model):
        if owner.action in MONEY_ACTIONS:
            return None  # _check_money_rule
        return super()._check_delivery(owner, model)

    # ---- rendering the intent: one operation --------------------------------------------------------------
    def _money_render_intent(self, message):
        """Create the operation of one intent row and bind the row to it; or fail the row with the reason."""
        self.ensure_one()
        env = message._user_env()
        model = self.env[message.res_model].sudo() if message.res_model in self.env else None
        record = model.browse(message.res_id).exists() if model is not None else None
        if not record:
            message.write({"to_render": False, "state": "failed",
                           "last_error": env._("The record or the rule was deleted before sending.")})
            return
        values, error = self.with_env(env)._money_values(record)
        if error:
            message.write({"to_render": False, "state": "failed", "last_error": error,
                           "res_name": record.display_name})
            return
        operation = self.env["notify.money.operation"].sudo().create(dict(
            values, external_id=message.idempotency_key, res_model=record._name, res_id=record.id,
            res_name=record.display_name, rule_id=self.id))
        operation._money_link_record(record)
        vals = operation._money_queue(message=message)
        message.write(dict(vals, res_name=record.display_name))

    def _money_values(self, record):
        """(operation values, error sentence or False) for one record."""
        service = self.money_service_id
        raw, country = self._resolve_recipient(record)
        if not raw:
            return None, self.env._("No phone number on %(rec)s (looked in %(paths)s).", rec=record.display_name,
                                    paths=" / ".join(p for p in (self.recipient_path, self.recipient_fallback_path)
                                                     if p))
        try:
            e164 = to_e164(raw, service.country_id.code or country)
        except InvalidPhoneError as error:
            return None, self._phone_error_text(error)
        try:
            holder, amount = resolve_path(record, self.money_amount_path)
        except RenderError as error:
            return None, str(error)
        if not isinstance(amount, (int, float)) or isinstance(amount, bool) or float_is_zero(amount, 2) \
                or amount < 0:
            return None, self.env._("Nothing to pay: the amount (%(path)s) of %(rec)s is %(amount)s.",
                                    path=self.money_amount_path, rec=record.display_name, amount=amount)
        if amount != int(amount):
            return None, self.env._(
                "Intech takes amounts without decimals: %(amount)s (%(path)s) cannot be sent as it is.",
                amount=amount, path=self.money_amount_path)
        field = holder._fields.get(self.money_amount_path.rsplit(".", 1)[-1]) if holder is not None else None
        if field is not None and field.type == "monetary":
            currency = holder[field.get_currency_field(holder)]
            if currency and currency.name != "XOF":
                return None, self.env._("Intech takes amounts in XOF; the %(field)s of %(rec)s is in %(currency)s.",
                                        field=field._description_string(self.env), rec=record.display_name,
                                        currency=currency.name)
        if record._name == "res.partner":
            partner = record
        elif "partner_id" in record._fields and record._fields["partner_id"].comodel_name == "res.partner":
            partner = record.partner_id
        else:
            partner = self.env["res.partner"]
        values = {"provider_account_id": self.provider_account_id.id, "company_id": self.company_id.id,
                  "service_id": service.id, "phone": e164, "amount": int(amount), "partner_id": partner.id}
        try:
            self.env["notify.money.operation"].new(values)._money_check_phone()
        except ValidationError as error:
            return None, error.args[0]
        return values, False
