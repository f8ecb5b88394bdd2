"""/notify/optout/<token>: the opt-out link a message may carry (variable source 'optout_link').

Public (the person who got the message has no login). GET only shows the masked number and a Confirm button and
never writes: WhatsApp and SMS apps fetch links to preview them, and a preview must not opt anyone out. The
confirmation is a POST with Odoo's CSRF token, handed over to ONE model method (phone.blacklist._notify_optout).
A token this database did not make for that number gets a plain 404 page and changes nothing.
"""

from odoo import http
from odoo.http import request

from ..models.phone_blacklist import OPTOUT_ROUTE
from ..tools.optout_token import masked_number


class NotifyOptoutController(http.Controller):
    @http.route(OPTOUT_ROUTE + "<string:token>", type="http", auth="public", methods=["GET", "POST"],
                website=False, sitemap=False)
    def notify_optout(self, token, **_kwargs):
        self._use_visitor_language()
        blacklist = request.env["phone.blacklist"].sudo()
        number = blacklist._notify_optout_number(token)
        if not number:
            return self._page("invalid", status=404)
        values = {"masked_number": masked_number(number)}
        if request.httprequest.method == "POST":
            newly = blacklist._notify_optout(number, request.env._("Opted out from a notification link"))
            return self._page("done" if newly else "already", **values)
        if blacklist._notify_is_blacklisted(number):
            return self._page("already", **values)
        return self._page("confirm", **values)

    @staticmethod
    def _use_visitor_language():
        """The page speaks the visitor's language when Odoo has it (fr-CM → French): this route is not a website
        page, so Odoo does not choose it as it would there."""
        lang = request.env["ir.http"].get_nearest_lang(request.best_lang)
        if lang:
            request.update_context(lang=lang)

    @staticmethod
    def _page(page, status=200, **values):
        return request.render("notify_rules.optout_page", dict(values, page=page), status=status)
