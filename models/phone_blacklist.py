"""Opt-out (issue 10): how numbers get into Odoo's phone blacklist through this addon, which the dispatcher honours
for every message. Two ways in: a reply made of an opt-out word (models/notify_inbound_event_optout.py) and the
opt-out link a template may carry (variable source 'optout_link', controllers/optout.py). Both end in
``_notify_optout``; the link's token is made and checked here, with the database secret (tools/optout_token.py).
"""

import psycopg2

from odoo import api, models

from ..tools.optout_token import make_token, verify_token

OPTOUT_ROUTE = "/notify/optout/"


class PhoneBlacklist(models.Model):
    _inherit = "phone.blacklist"

    @api.model
    def _notify_optout_secret(self):
        return self.env["ir.config_parameter"].sudo().get_param("database.secret")

    @api.model
    def _notify_optout_url(self, number):
        """The opt-out link of an E.164 number, on this Odoo's public address."""
        base = self.env["ir.config_parameter"].sudo().get_param("web.base.url", "").rstrip("/")
        return base + OPTOUT_ROUTE + make_token(number, self._notify_optout_secret())

    @api.model
    def _notify_optout_number(self, token):
        """The number an opt-out link names, or None when the token was not made by this database for it."""
        return verify_token(token, self._notify_optout_secret())

    @api.model
    def _notify_is_blacklisted(self, number):
        return bool(self.sudo().search_count([("number", "=", number)], limit=1))

    @api.model
    def _notify_optout(self, number, reason):
        """Blacklist an E.164 number with the reason on its blacklist entry (Odoo's ``_add``: a number removed
        earlier is re-activated). Idempotent: returns False, changing nothing, when the number already is."""
        if self._notify_is_blacklisted(number):
            return False
        try:
            with self.env.cr.savepoint():
                self.sudo()._add([number], message=reason)
        except psycopg2.errors.UniqueViolation:
            return False  # the same person opted out at the same moment another way: done once
        return True
