"""OTP rules: "at login (or when a code is asked for), send the code through this account/channel".

An OTP rule is a notify.rule on the challenge model (notify.otp) with trigger ``on_login`` or ``on_otp_request``.
It is not a base_automation (the OTP engine asks for it, see notify.otp._otp_rule); its deliveries are the rule's
own and its routes, as for any rule, so countries, routes and fallback mean the same. Three ways to deliver:
- ``send_template``: a template of ours carries the code (WAP's authentication template: variable ``code_otp``,
  added by itself);
- ``send_sms``: an SMS text with ``{{ object.code }}``;
- ``send_otp``: the provider generates, sends and checks its own code (Chinqit, Wabek).
"""

from odoo import api, fields, models
from odoo.exceptions import ValidationError

from ..clients.registry import get_client_class
from ..tools.field_path import value_to_text

OTP_TRIGGERS = ("on_login", "on_otp_request")
OTP_CODE_VARIABLE = "code_otp"
DEFAULT_OTP_SMS = "{{ object.code }} est votre code de vérification. Il expire dans 10 minutes."


class NotifyRule(models.Model):
    _inherit = "notify.rule"

    trigger = fields.Selection(
        selection_add=[("on_login", "At login (second factor)"), ("on_otp_request", "When a one-time code is asked")],
        ondelete={"on_login": "cascade", "on_otp_request": "cascade"},
    )
    action = fields.Selection(
        selection_add=[("send_otp", "Let the provider send and check its own code")],
        ondelete={"send_otp": "cascade"},
    )
    otp_purposes = fields.Char(
        string="Purposes",
        help="Comma-separated purposes this rule sends codes for (as callers of the OTP API name them, e.g. "
        "login, verification); empty: every purpose.",
    )

    def _notify_serves_purpose(self, purpose):
        self.ensure_one()
        purposes = {p.strip().lower() for p in (self.otp_purposes or "").split(",") if p.strip()}
        return not purposes or str(purpose).lower() in purposes

    @api.model
    def _notify_otp_model_id(self):
        return self.env["ir.model"]._get_id("notify.otp")

    @api.model_create_multi
    def create(self, vals_list):
        for vals in vals_list:
            if vals.get("trigger") in OTP_TRIGGERS:
                vals["model_id"] = self._notify_otp_model_id()
        return super().create(vals_list)

    def write(self, vals):
        if vals.get("trigger") in OTP_TRIGGERS:
            vals = dict(vals, model_id=self._notify_otp_model_id())
        login_companies = self.filtered(lambda r: r.trigger == "on_login").company_id
        res = super().write(vals)
        if login_companies and {"active", "trigger", "company_id"} & set(vals):
            login_companies._check_notify_otp_login_rule()  # the last login rule cannot go while codes are asked
        return res

    def unlink(self):
        login_companies = self.filtered(lambda r: r.trigger == "on_login").company_id
        res = super().unlink()
        login_companies._check_notify_otp_login_rule()
        return res

    @api.onchange("trigger")
    def _onchange_trigger_otp(self):
        if self.trigger in OTP_TRIGGERS:
            self.model_id = self._notify_otp_model_id()
            if self.action == "send_sms" and not self.sms_body:
                self.sms_body = DEFAULT_OTP_SMS

    @api.depends("model_id", "trigger")
    def _compute_recipient_paths(self):
        otp_rules = self.filtered(lambda r: r.trigger in OTP_TRIGGERS)
        for rule in otp_rules:
            rule.recipient_path = "recipient_e164"
            rule.recipient_fallback_path = False
        return super(NotifyRule, self - otp_rules)._compute_recipient_paths()

    # ---- configuration --------------------------------------------------------------------------------
    def _check_delivery(self, owner, model):
        self.ensure_one()
        is_otp = self.trigger in OTP_TRIGGERS
        label = self._delivery_label(owner)
        if owner.action == "send_otp":
            if not is_otp:
                raise ValidationError(self.env._(
                    "Rule %s: a provider's own code is sent only by a rule triggered at login or when a code is "
                    "asked.", label))
            account = owner.provider_account_id
            client = get_client_class(account.provider) if account.provider else None
            if client is not None and not client.supports_otp:
                raise ValidationError(self.env._(
                    "Rule %(rule)s: %(provider)s does not send codes of its own; send our code in a template or an "
                    "SMS instead.", rule=label, provider=value_to_text(account, "provider", account.provider)))
            self._check_delivery_account(owner)
            return
        account = owner.provider_account_id
        if account.provider and not get_client_class(account.provider).sends_messages:
            raise ValidationError(self.env._(
                "Rule %(rule)s: %(provider)s only sends the one-time codes it generates itself: choose \"Let the "
                "provider send and check its own code\" in a rule triggered at login or when a code is asked.",
                rule=label, provider=value_to_text(account, "provider", account.provider)))
        super()._check_delivery(owner, model)
        if is_otp and owner.action == "send_sms" and "object.code" not in (owner.sms_body or ""):
            raise ValidationError(self.env._(
                "Rule %s: the SMS text must contain the code: {{ object.code }}.", label))

    @api.constrains("trigger", "model_id")
    def _check_otp_trigger(self):
        for rule in self.filtered(lambda r: r.trigger in OTP_TRIGGERS):
            if rule.model_id.model != "notify.otp":
                raise ValidationError(self.env._("Rule %s: an OTP rule acts on one-time code challenges.", rule.name))

    # ---- rendering ------------------------------------------------------------------------------------
    def _notify_render_content(self, delivery, record, result):
        if delivery.owner.action == "send_otp":
            return []  # the provider writes the text of its own code
        errors = super()._notify_render_content(delivery, record, result)
        if record._name == "notify.otp" and delivery.owner.action == "send_template":
            result["variables"].setdefault(OTP_CODE_VARIABLE, record.code)
        return errors

    def _prepare_message_vals(self, record, after_route=None):
        vals = super()._prepare_message_vals(record, after_route=after_route)
        if record._name == "notify.otp" and vals.get("provider_account_id"):
            owner = self.env["notify.rule.route"].browse(vals["route_id"]) if vals.get("route_id") else self
            vals["otp_delegated"] = owner.action == "send_otp"
        return vals


class NotifyRuleRoute(models.Model):
    _inherit = "notify.rule.route"

    action = fields.Selection(
        selection_add=[("send_otp", "Let the provider send and check its own code")],
        ondelete={"send_otp": "cascade"},
    )
