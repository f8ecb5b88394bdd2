"""How a rule turns one record into one message: the recipient, the delivery that serves the recipient's
country (the rule's own, or one of its routes), and the content in the recipient's language.

Rendering happens in the dispatcher, off the business transaction (notify.message._render_pending), and in
the rule's Preview; both call ``_notify_render``.
"""

from typing import NamedTuple

from odoo import models
from odoo.exceptions import ValidationError

from ..clients.phone import InvalidPhoneError, to_e164
from ..clients.registry import get_client_class
from ..tools.field_path import RenderError, resolve_path, value_to_text
from ..tools.provider_errors import phone_error_text
from ..tools.sms_parts import sms_parts, sms_text


class Delivery(NamedTuple):
    """The rule's own delivery (route empty) or one of its routes, read the same way."""

    position: int  # 0: the rule's own; 1..n: its routes in order
    route: models.BaseModel  # notify.rule.route, empty for the rule's own delivery
    owner: models.BaseModel  # the record holding action/account/channel/template/SMS text: the rule or the route
    countries: frozenset  # ISO-2 codes; empty: every country

    def serves(self, country):
        return not self.countries or country in self.countries

    @property
    def account(self):
        return self.owner.provider_account_id


class NotifyRule(models.Model):
    _inherit = "notify.rule"

    # ---- configuration --------------------------------------------------------------------------------
    def _check_delivery(self, owner, model):
        """The rule's own delivery and each route are checked alike: what to send, through an account of the
        rule's company that carries the channel."""
        self.ensure_one()
        label = self._delivery_label(owner)
        if owner.action == "send_sms":
            if owner.channel != "sms":
                raise ValidationError(self.env._("Rule %s: an SMS goes on the SMS channel.", label))
            if not (owner.sms_body or "").strip():
                raise ValidationError(self.env._("Rule %s: write the SMS text.", label))
            self.env["notify.rule.variable"]._check_inline_template(
                model, owner.sms_body, self.env._("Rule %s, SMS text", label))
        elif not (owner.template_ref or "").strip():
            raise ValidationError(self.env._("Rule %s: the template reference is required.", label))
        self._check_delivery_account(owner)

    def _delivery_label(self, owner):
        return self.name if owner == self else self.env._("%(rule)s, route %(n)s", rule=self.name, n=owner.sequence)

    def _check_delivery_account(self, owner):
        """An account of the rule's company that carries the delivery's channel."""
        label = self._delivery_label(owner)
        account = owner.provider_account_id
        if account.provider and owner.channel not in get_client_class(account.provider).channels:
            raise ValidationError(self.env._(
                "Rule %(rule)s: %(provider)s does not carry %(channel)s messages.", rule=label,
                provider=value_to_text(account, "provider", account.provider),
                channel=value_to_text(owner, "channel", owner.channel)))
        if account.company_id != self.company_id:
            raise ValidationError(self.env._(
                "Rule %(rule)s: the provider account %(account)s belongs to %(account_company)s, not to "
                "%(company)s.", rule=label, account=account.name,
                account_company=account.company_id.name, company=self.company_id.name))

    def _notify_deliveries(self):
        """The rule's own delivery first, then its routes, in order."""
        self.ensure_one()
        deliveries = [Delivery(0, self.env["notify.rule.route"], self, frozenset(self.country_ids.mapped("code")))]
        for position, route in enumerate(self.route_ids.sorted(lambda r: (r.sequence, r.id)), start=1):
            deliveries.append(Delivery(position, route, route, frozenset(route.country_ids.mapped("code"))))
        return deliveries

    # ---- rendering ------------------------------------------------------------------------------------
    def _notify_render(self, record, after_route=None):
        """Resolve recipient, delivery and content for one record. Returns a dict; 'error' is set when the
        record cannot be sent. ``after_route``: a fallback, only deliveries after that route (False: after the
        rule's own) are considered."""
        self.ensure_one()
        partner = self._recipient_partner(record)
        # variables are written in the recipient's language (dates, amounts), not the triggering user's
        record = record.with_context(lang=partner.lang or self.env.lang)
        result = {"recipient_raw": False, "recipient_e164": False, "recipient_provider": False,
                  "variables": {}, "body": False, "delivery": None, "skipped": [], "error": False,
                  "partner": partner}
        raw, country = self._resolve_recipient(record)
        result["recipient_raw"] = raw
        errors = []
        delivery = None
        if not raw:
            paths = " / ".join(p for p in (self.recipient_path, self.recipient_fallback_path) if p)
            errors.append(self.env._("No phone number on %(rec)s (looked in %(paths)s).", rec=record.display_name,
                                     paths=paths))
        else:
            try:
                e164 = to_e164(raw, country)
            except InvalidPhoneError as error:
                errors.append(self._phone_error_text(self._notify_explain_invalid(raw, country) or error))
            else:
                result["recipient_e164"] = e164
                delivery, provider_format, skipped, error = self._notify_pick_delivery(e164, after_route)
                result.update(recipient_provider=provider_format, skipped=skipped, delivery=delivery)
                if error:
                    errors.append(error)
        # the content of the chosen delivery; without one (no valid number), of the rule's own, so that every
        # problem of the record shows at once
        content_of = delivery or (self._notify_deliveries()[0] if after_route is None else None)
        if content_of is not None:
            errors += self._notify_render_content(content_of, record, result)
        result["error"] = "\n".join(errors) or False
        return result

    def _notify_explain_invalid(self, raw, country):
        """A provider's own reading of a number that is not valid, where it says more (Chinqit: '12345678' is
        not a Mauritanian mobile because it does not start with 2, 3 or 4)."""
        for delivery in self._notify_deliveries():
            if delivery.serves(country):
                error = delivery.account._notify_explain_invalid(raw, country)
                if error:
                    return error
        return None

    def _notify_pick_delivery(self, e164, after_route=None):
        """(delivery, recipient in the provider's format, [(delivery, reason) skipped], error or False).

        The first delivery serving the recipient's country whose provider can serve the number; with fallback,
        a delivery whose provider cannot serve the number is skipped for the next one."""
        iso2 = self.env["notify.provider.account"]._notify_country_of(e164)
        deliveries = self._notify_deliveries()
        if after_route is not None:
            current = next((d.position for d in deliveries if d.route == after_route), 0)
            deliveries = [d for d in deliveries if d.position > current]
        skipped = []
        for delivery in deliveries:
            if not delivery.serves(iso2):
                continue
            try:
                return delivery, delivery.account._notify_provider_recipient(e164), skipped, False
            except InvalidPhoneError as error:
                reason = self._phone_error_text(error)
                if not self.route_fallback:
                    return delivery, False, skipped, reason
                skipped.append((delivery, reason))
        if skipped:
            return None, False, skipped, "\n".join(reason for _delivery, reason in skipped)
        if after_route is not None:
            return None, False, skipped, self.env._("No other route of this rule serves %s.", iso2)
        country = self.env["res.country"].search([("code", "=", iso2)], limit=1)
        return None, False, skipped, self.env._(
            "No route of the rule %(rule)s serves recipients in %(country)s.", rule=self.name,
            country=country.name or iso2)

    def _notify_render_content(self, delivery, record, result):
        """Render the delivery's content into ``result`` ('body' or 'variables'); return the errors."""
        if delivery.owner.action == "send_sms":
            source = delivery.owner.with_context(lang=record.env.context.get("lang")).sms_body or ""
            try:
                body = sms_text(str(self.env["notify.rule.variable"]._render_inline(source, record) or "")).strip()
            except Exception as error:  # noqa: BLE001 - any template error becomes a readable message
                return [self.env._("The SMS text failed to render: %s", error)]
            result["body"] = body
            return [] if body else [self.env._("The SMS text is empty on %s.", record.display_name)]
        errors = []
        for line in self.variable_ids:
            try:
                result["variables"][line.name] = line._render(record, recipient=result["recipient_e164"])
            except RenderError as error:
                errors.append(str(error))
        return errors

    def _recipient_partner(self, record):
        """The contact the message is for: the partner the recipient field is read from, else the record's
        partner_id (its language, time zone and WhatsApp consent are the recipient's)."""
        for path in (self.recipient_path, self.recipient_fallback_path):
            try:
                holder, _value = resolve_path(record, path) if path else (None, None)
            except RenderError:
                continue
            if holder is not None and holder._name == "res.partner":
                return holder[:1]
        if "partner_id" in record._fields and record._fields["partner_id"].comodel_name == "res.partner":
            return record.partner_id[:1]
        return self.env["res.partner"]

    def _phone_error_text(self, error):
        """The phone client's error, in the user's language."""
        country = self.env["res.country"].search([("code", "=", error.country)], limit=1) if error.country else None
        return phone_error_text(self.env, error, country.name if country else "")

    def _resolve_recipient(self, record):
        """Return (raw number, default country code) from the recipient field, else the fallback."""
        account_country = self.provider_account_id.default_country_id or self.env.company.country_id
        for path in (self.recipient_path, self.recipient_fallback_path):
            if not path:
                continue
            try:
                holder, value = resolve_path(record, path)
            except RenderError:
                continue
            if value:
                country = getattr(holder, "country_id", False) or account_country
                return str(value), country.code if country else None
        return False, account_country.code if account_country else None

    def _prepare_message_vals(self, record, after_route=None):
        """What the rule resolves for one record: recipient, delivery, content, or why it cannot be sent."""
        self.ensure_one()
        rendered = self._notify_render(record, after_route)
        vals = {
            "recipient_e164": rendered["recipient_e164"],
            "recipient_provider": rendered["recipient_provider"],
            "payload": rendered["variables"],
            "body": rendered["body"],
            "res_name": record.display_name,
            "partner_id": rendered["partner"].id,
        }
        delivery = rendered["delivery"]
        if delivery:
            vals.update(route_id=delivery.route.id, provider_account_id=delivery.account.id,
                        channel=delivery.owner.channel,
                        template_ref=delivery.owner.template_ref if delivery.owner.action == "send_template" else False)
        if rendered["skipped"]:
            vals["route_note"] = "\n".join(
                self.env._("%(account)s cannot carry it: %(reason)s", account=skipped.account.name, reason=reason)
                for skipped, reason in rendered["skipped"])
        if rendered["error"]:
            vals.update(state="failed", last_error=rendered["error"])
        return vals

    @staticmethod
    def _notify_sms_summary(env, body):
        """'87 characters, GSM-7, 1 SMS' for the preview."""
        parts = sms_parts(body)
        return env._("%(length)s characters, %(encoding)s, %(parts)s SMS", length=parts.length,
                     encoding=parts.encoding, parts=parts.parts)
