"""Field paths such as ``partner_id.mobile``: validated at save, resolved per record, shown as text."""

from odoo import fields
from odoo.tools import format_amount, format_date, format_datetime


class RenderError(ValueError):
    """A value needed by a message cannot be computed; the text says why in plain words."""


def check_field_path(model, path):
    """Return an error sentence if ``path`` does not name a field chain on ``model``, else None."""
    current = model
    parts = path.strip().split(".")
    for index, name in enumerate(parts):
        field = current._fields.get(name)
        if not field:
            model_name = current.env["ir.model"]._get(current._name).name
            return model.env._("'%(path)s': %(model)s has no field '%(name)s'.", path=path, model=model_name, name=name)
        if not field.is_accessible(model.env):
            # messages are rendered as superuser: a rule must not reach a field its author may not read
            return model.env._("'%(path)s': you are not allowed to read the field '%(name)s'.", path=path, name=name)
        if index < len(parts) - 1:
            if not field.relational:
                return model.env._(
                    "'%(path)s': '%(name)s' is not a relation, it cannot be followed.", path=path, name=name
                )
            current = current.env[field.comodel_name]
    return None


def resolve_path(record, path):
    """Follow ``path`` from ``record``; return (record holding the last field, its value)."""
    error = check_field_path(record, path)
    if error:
        raise RenderError(error)
    holder = record
    parts = path.strip().split(".")
    for name in parts[:-1]:
        holder = holder[name][:1]
        if not holder:
            return holder, False
    return holder, holder[parts[-1]]


def value_to_text(holder, name, value):
    """The value as a person would read it on the record (dates in the user's format, amounts with currency)."""
    if value is False or value is None:
        return ""
    field = holder._fields[name]
    env = holder.env
    if field.type == "many2one":
        return value.display_name or ""
    if field.type in ("one2many", "many2many"):
        return ", ".join(value.mapped("display_name"))
    if field.type == "selection":
        return dict(field._description_selection(env)).get(value, value)
    if field.type == "monetary":
        currency = holder[field.get_currency_field(holder)] if field.get_currency_field(holder) else False
        return format_amount(env, value, currency) if currency else f"{value:.2f}"
    if field.type == "date":
        return format_date(env, value)
    if field.type == "datetime":
        return format_datetime(env, fields.Datetime.to_datetime(value))
    if field.type == "float":
        return f"{value:g}"
    if field.type == "boolean":
        return env._("Yes") if value else env._("No")
    return str(value)
