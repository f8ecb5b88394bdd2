import re

from odoo import api, fields, models
from odoo.exceptions import ValidationError
from odoo.tools.rendering_tools import parse_inline_template

from ..tools.field_path import RenderError, check_field_path, resolve_path, value_to_text

SIMPLE_EXPRESSION = re.compile(r"^object(\.[A-Za-z_][A-Za-z0-9_]*)+$")


class NotifyRuleVariable(models.Model):
    """One template placeholder and where its value comes from."""

    _name = "notify.rule.variable"
    _description = "Notification rule variable"
    _order = "sequence, id"

    rule_id = fields.Many2one("notify.rule", required=True, ondelete="cascade", index=True)
    sequence = fields.Integer(default=10)
    name = fields.Char(string="Placeholder", required=True, help="The variable name the provider's template expects.")
    source = fields.Selection(
        [("field", "Field"), ("template", "Inline template"), ("optout_link", "Opt-out link")], required=True,
        default="field", help="Opt-out link: a link the recipient opens to stop receiving messages (their number is "
        "added to the phone blacklist after they confirm).",
    )
    field_path = fields.Char(help="E.g. partner_id.name or amount_residual.")
    template = fields.Char(string="Inline template", help="E.g. {{ object.name }} — {{ object.invoice_date }}")
    required = fields.Boolean(default=True, help="An empty value stops the message with a clear error.")

    _sql_constraints = [("name_rule_unique", "UNIQUE(rule_id, name)", "Each placeholder appears once per rule.")]

    @api.constrains("source", "field_path", "template", "rule_id")
    def _check_source(self):
        for line in self:
            model = self.env[line.rule_id.model_id.model]
            if line.source == "field":
                if not line.field_path:
                    raise ValidationError(self.env._("Variable %s: choose the field it comes from.", line.name))
                error = check_field_path(model, line.field_path)
                if error:
                    raise ValidationError(self.env._("Variable %(name)s: %(error)s", name=line.name, error=error))
            elif line.source == "optout_link":
                continue  # made from the recipient's number: nothing to choose
            elif not line.template:
                raise ValidationError(self.env._("Variable %s: write its inline template.", line.name))
            else:
                line._check_template_rights(model)

    def _check_template_rights(self, model):
        self._check_inline_template(model, self.template, self.env._("Variable %s", self.name))

    @api.model
    def _check_inline_template(self, model, template, label):
        """The dispatcher renders as superuser, and the result is sent out and shown to Notify users. So, as for
        Odoo's mail templates, code is reserved to template editors; anyone may write ``{{ object.a.b }}``
        expressions, each checked like a field path (the field exists, the author may read it). Used for
        variables and for SMS texts."""
        editor = self.env.su or self.env.user.has_group("mail.group_mail_template_editor")
        for _text, expression, _default in parse_inline_template(template or ""):
            expression = (expression or "").strip()
            if not expression:
                continue
            if SIMPLE_EXPRESSION.match(expression):
                error = check_field_path(model, expression[len("object."):])
                if error:
                    raise ValidationError(self.env._("%(label)s: %(error)s", label=label, error=error))
            elif not editor:
                group = self.env.ref("mail.group_mail_template_editor")
                raise ValidationError(self.env._(
                    "%(label)s: only members of the group '%(group)s' may write templates with code such "
                    "as %(expression)s. Use field expressions like {{ object.partner_id.name }}, or a field path.",
                    label=label, group=group.name, expression=expression))

    @api.model
    def _render_inline(self, template, record):
        """Render an inline template on one record, in the record's environment (its language: the recipient's)."""
        return record.env["mail.render.mixin"]._render_template(
            template, record._name, record.ids, engine="inline_template")[record.id]

    def _render(self, record, recipient=None):
        """The variable's text for one record; ``recipient``: the E.164 number the message goes to (the opt-out
        link is that number's)."""
        self.ensure_one()
        if self.source == "optout_link":
            if recipient:
                try:
                    return self.env["phone.blacklist"].sudo()._notify_optout_url(recipient)
                except ValueError as error:  # not E.164, no database secret: say so rather than stop the batch
                    raise RenderError(self.env._("Variable %(name)s: no opt-out link: %(error)s", name=self.name,
                                                 error=error)) from error
            if self.required:
                raise RenderError(self.env._(
                    "Variable %(name)s: the opt-out link needs the recipient's number, and %(rec)s has no valid one.",
                    name=self.name, rec=record.display_name))
            return ""
        if self.source == "field":
            holder, value = resolve_path(record, self.field_path)
            text = value_to_text(holder, self.field_path.split(".")[-1], value) if holder else ""
        else:
            try:
                text = self._render_inline(self.template, record)
            except Exception as error:  # noqa: BLE001 - any template error becomes a readable message
                raise RenderError(self.env._("Variable %(name)s: the template failed: %(error)s", name=self.name,
                                    error=error)) from error
        text = str(text or "").strip()
        if not text and self.required:
            raise RenderError(
                self.env._("Variable %(name)s is empty on %(rec)s.", name=self.name, rec=record.display_name)
            )
        return text
