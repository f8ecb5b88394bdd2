"""Intech's catalogue of services (GET /api-services/services), mirrored per account.

How we read the two type fields (the document lists them without explaining them): `typeOperation` is seen from
the merchant's Intech balance. CREDIT services bring money in (CASHOUT: the customer's wallet is cashed out to
us: a collection); DEBIT services spend it (CASHIN: we cash money into someone's wallet, a payout; airtime, bills).
Every entry of the document fits that reading (airtime and bills are DEBIT, every CASHOUT is CREDIT), and it is
the mobile-money meaning of cash-in / cash-out.
"""

from odoo import api, fields, models

from ..clients.intech import SERVICE_TYPES

KINDS = {
    "CASHOUT": "collect",
    "CASHIN": "payout",
    "CREDIT_TELEPHONIQUE": "airtime",
    "BILL_PAY": "bill",
    "BILL_BUY_RELOAD": "bill",
    "MESSENGING_SMS": "messaging",
}


class NotifyIntechService(models.Model):
    _name = "notify.intech.service"
    _description = "Intech service"
    _order = "country_id, service_type, name"

    provider_account_id = fields.Many2one(
        "notify.provider.account", string="Intech account", required=True, ondelete="cascade", index=True,
        domain="[('provider', '=', 'intech')]")
    company_id = fields.Many2one(related="provider_account_id.company_id", store=True)
    name = fields.Char(required=True)
    code = fields.Char(string="Service code", required=True, help="Intech's codeService.")
    icon_url = fields.Char(string="Icon URL")
    operation_type = fields.Selection(
        [("DEBIT", "Debit (money leaves our balance)"), ("CREDIT", "Credit (money comes to our balance)")],
        string="Operation")
    service_type = fields.Selection([(code, code.replace("_", " ").title()) for code in SERVICE_TYPES],
                                    string="Type")
    kind = fields.Selection(
        [("collect", "Collection (the customer pays)"), ("payout", "Payout"), ("airtime", "Airtime top-up"),
         ("bill", "Bill payment"), ("messaging", "Messaging")],
        compute="_compute_kind", store=True)
    country_id = fields.Many2one("res.country", help="Read from the service code (_SN_, _CI_).")
    wallet = fields.Char(compute="_compute_wallet", store=True,
                         help="The operator, read from the code (WAVE, ORANGE...): a refund goes back through the "
                         "same operator's service of the other direction.")
    active = fields.Boolean(default=True, help="Archived when Intech no longer lists it.")

    _sql_constraints = [
        ("code_account_unique", "UNIQUE(provider_account_id, code)", "This service is already in the catalogue."),
    ]

    @api.depends("service_type")
    def _compute_kind(self):
        for service in self:
            service.kind = KINDS.get(service.service_type or "")

    @api.depends("code")
    def _compute_wallet(self):
        for service in self:
            service.wallet = (service.code or "").split("_")[0] or False

    @api.depends("name", "code")
    def _compute_display_name(self):
        for service in self:
            service.display_name = f"{service.name} ({service.code})" if service.code else service.name

    def _intech_counterpart(self, kind):
        """The active service of `kind` (payout for a collection's refund) for the same operator and country."""
        self.ensure_one()
        return self.search([
            ("provider_account_id", "=", self.provider_account_id.id), ("kind", "=", kind),
            ("wallet", "=", self.wallet), ("country_id", "=", self.country_id.id),
        ], order="id", limit=1)

    @api.model
    def _intech_mirror(self, account, services):
        existing = {s.code: s for s in self.with_context(active_test=False).search(
            [("provider_account_id", "=", account.id)])}
        countries = {c.code: c.id for c in self.env["res.country"].search([("code", "in", ["SN", "CI"])])}
        seen = set()
        for item in services:
            if item.code in seen:
                continue
            seen.add(item.code)
            vals = {
                "name": item.name, "icon_url": item.icon or False, "operation_type": item.operation or False,
                "service_type": item.service_type or False, "country_id": countries.get(item.country, False),
                "active": True,
            }
            if item.code in existing:
                service = existing[item.code]
                changed = {k: v for k, v in vals.items() if (service[k].id if k == "country_id" else service[k]) != v}
                if changed:
                    service.write(changed)
            else:
                self.create(dict(vals, provider_account_id=account.id, code=item.code))
        gone = [s for code, s in existing.items() if code not in seen and s.active]
        if gone:
            self.browse([s.id for s in gone]).write({"active": False})
        account.intech_services_synced_at = fields.Datetime.now()
        return len(seen)
