"""/notify_rules/wazzup/connect: where Wazzup's marketplace sends a customer who clicked Connect (WAuth).

Wazzup adds `state` (its signed key for this installation) to the address registered as authRedirectUri. The
customer logs in to Odoo if needed (auth='user': Odoo sends them to /web/login and back here), reads what will be
shared and confirms; the confirmation (a POST with Odoo's CSRF token) hands over to ONE model method,
notify.provider.account._wazzup_connect, which calls Wazzup and only then creates or updates the company's account.
Every outcome is a page that says what happened: connected, cancelled, refused (with Wazzup's reason), or not
allowed (only a Notifications manager connects a company).
"""

from odoo import http
from odoo.exceptions import UserError
from odoo.http import request

from ..models.res_config_settings_wazzup import CONNECT_ROUTE

MANAGER_GROUP = "notify_rules.group_notify_manager"
ACCOUNT_ACTION = "notify_rules.notify_provider_account_action"


class WazzupConnectController(http.Controller):
    @http.route(CONNECT_ROUTE, type="http", auth="user", methods=["GET", "POST"], sitemap=False)
    def wazzup_connect(self, state=None, decision=None, company_id=None, **_kwargs):
        user = request.env.user
        company = self._company(company_id)
        values = {"company": company, "state": state or "", "crm_installed": "crm.lead" in request.env}
        if not user.has_group(MANAGER_GROUP):
            return self._page("not_manager", values, status=403)
        if not (state or "").strip():
            return self._page("no_state", values, status=400)
        if request.httprequest.method == "GET":
            return self._page("confirm", values)
        if decision != "confirm":
            return self._page("cancelled", values)
        if not company:
            return self._page("refused", dict(values, error=request.env._(
                "You do not work in the company this page was shown for: nothing was connected.")), status=400)
        try:
            account = request.env["notify.provider.account"]._wazzup_connect(state, company, user)
        except UserError as error:
            return self._page("refused", dict(values, error=str(error)), status=400)
        return self._page("connected", dict(values, account_url=f"/odoo/action-{ACCOUNT_ACTION}/{account.id}"))

    @staticmethod
    def _company(company_id=None):
        """The company the page is about: the one the confirmation form was shown for (POST; empty when the user
        does not work in it), else the current company of the web client (its `cids` cookie), else the user's
        default company."""
        user = request.env.user
        if company_id is not None:
            allowed = str(company_id).isdigit() and int(company_id) in user.company_ids.ids
            return user.company_ids.browse(int(company_id)) if allowed else user.company_ids.browse()
        current = (request.httprequest.cookies.get("cids") or "").split("-")[0]
        if current.isdigit() and int(current) in user.company_ids.ids:
            return user.company_ids.browse(int(current))
        return user.company_id

    @staticmethod
    def _page(page, values, status=200):
        return request.render("notify_rules.wazzup_connect_page", dict(values, page=page), status=status)
