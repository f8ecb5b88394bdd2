"""An event another system told us about (a WHMCS invoice created...), kept as a record so that rules can fire on it.

Inbound webhooks go through a thin controller into `_notify_receive`, which stores one row per event. The rules
engine needs nothing new: a rule on this model with the trigger "On creation" (base_automation underneath) sends its
template to `partner_id.mobile` like any other record event. The row is also the webhook's idempotency key: the
same (company, source, action, external id) is stored once, so a sender that retries does not notify twice.
"""

import psycopg2

from odoo import api, fields, models


class NotifyInboundEvent(models.Model):
    _name = "notify.inbound.event"
    _description = "Inbound event"
    _order = "received_at desc, id desc"

    source = fields.Selection([("whmcs", "WHMCS")], required=True, readonly=True, index=True)
    action = fields.Char(required=True, readonly=True, help="The sender's event name, e.g. InvoiceCreated.")
    external_id = fields.Char(
        string="External ID", required=True, readonly=True,
        help="The sender's identifier of what the event is about (WHMCS: the invoice id).",
    )
    external_partner_ref = fields.Char(
        string="External customer", readonly=True,
        help="The sender's identifier of the customer (WHMCS: the client's userid).",
    )
    partner_id = fields.Many2one(
        "res.partner", string="Customer", readonly=True, ondelete="set null", index="btree_not_null",
        help="The contact of this company (or shared) whose Reference is the external customer id; empty when "
        "none or several match.",
    )
    payload = fields.Json(readonly=True, help="The validated fields of the request, as received.")
    company_id = fields.Many2one("res.company", required=True, readonly=True, index=True)
    received_at = fields.Datetime(required=True, readonly=True, default=fields.Datetime.now)

    _sql_constraints = [
        (
            "event_unique",
            "UNIQUE(company_id, source, action, external_id)",
            "This event was already received.",
        ),
    ]

    @api.depends("source", "action", "external_id")
    def _compute_display_name(self):
        sources = dict(self._fields["source"]._description_selection(self.env))
        for event in self:
            event.display_name = f"{sources.get(event.source, event.source)} {event.action} {event.external_id}"

    @api.model
    def _notify_find_partner(self, company, external_partner_ref):
        """The one contact of `company` (or shared by all companies) whose Reference is the sender's customer id.

        WHMCS knows its clients by userid; the matching contact carries that number in its Reference field. Several
        matches mean the data is ambiguous: nobody is picked rather than the wrong person."""
        if not external_partner_ref:
            return self.env["res.partner"]
        partners = self.env["res.partner"].sudo().search(
            [("ref", "=", external_partner_ref), ("company_id", "in", [company.id, False])], limit=2
        )
        return partners if len(partners) == 1 else self.env["res.partner"]

    @api.model
    def _notify_receive(self, source, action, external_id, *, company, external_partner_ref=None, payload=None):
        """Store one inbound event for `company`, or recognise it as already received.

        Returns (event, duplicate). A duplicate stores nothing; two identical webhooks at the same moment meet the
        unique constraint, and the second one is answered as a duplicate too."""
        events = self.sudo().with_company(company)
        key = [("company_id", "=", company.id), ("source", "=", source), ("action", "=", action),
               ("external_id", "=", external_id)]
        existing = events.search(key, limit=1)
        if existing:
            return existing, True
        values = {
            "source": source,
            "action": action,
            "external_id": external_id,
            "external_partner_ref": external_partner_ref,
            "partner_id": self._notify_find_partner(company, external_partner_ref).id,
            "payload": payload,
            "company_id": company.id,
        }
        try:
            with self.env.cr.savepoint():
                event = events.create(values)
                event.flush_recordset()
        except psycopg2.errors.UniqueViolation:
            return events.search(key, limit=1), True
        return event, False
