"""The publisher's side of Wazzup's marketplace: this Odoo registered as "a CRM" customers connect by button.

Wazzup identifies an integration by its crmCode and trusts the connection of a customer by the `secret` given when
registering (wazzup-wauth.md): POST v3/marketplace registers both with the page Wazzup sends customers to (our
connect URL), PATCH v3/marketplace sets the public name and SVG logo, POST v3/wauth simulates a customer's install.
These calls use the developer's own Wazzup key, not a customer's: they live in the settings, in
ir.config_parameter (readable by Settings administrators only), and every secret field is restricted to them.
"""

import base64
import binascii
import re
import secrets

from odoo import api, fields, models
from odoo.exceptions import UserError, ValidationError

from ..clients.base import ProviderError
from ..clients.wazzup import LABEL, PRODUCTION_URL, WazzupClient
from .notify_provider_account_wazzup_setup import wazzup_error

CONNECT_ROUTE = "/notify_rules/wazzup/connect"
PARAM = "notify_rules.wazzup_%s"
PUBLISHER_TIMEOUT = 20.0
# an SVG file: optional BOM, XML prolog, comments or doctype, then an <svg element
SVG_RE = re.compile(rb"<svg[\s>/]", re.IGNORECASE)
SVG_HEAD_BYTES = 64 * 1024


def svg_bytes(logo_b64):
    """The decoded logo when it is an SVG file, else None (a PNG renamed .svg is refused too)."""
    try:
        content = base64.b64decode(logo_b64 or b"", validate=False)
    except (binascii.Error, ValueError):
        return None
    return content if content and SVG_RE.search(content[:SVG_HEAD_BYTES]) else None


class ResConfigSettings(models.TransientModel):
    _inherit = "res.config.settings"

    notify_wazzup_api_url = fields.Char(
        string="Wazzup API address", config_parameter=PARAM % "api_url", default=PRODUCTION_URL,
        groups="base.group_system",
        help="Wazzup's API: https://api.wazzup24.com. Another address (the project's simulator) makes the connected "
        "accounts sandbox accounts.")
    notify_wazzup_developer_key = fields.Char(
        string="Developer key", config_parameter=PARAM % "developer_key", groups="base.group_system",
        help="Your own Wazzup API key, as the developer of the integration: it registers the integration.")
    notify_wazzup_crm_code = fields.Char(
        string="CRM code", config_parameter=PARAM % "crm_code", groups="base.group_system",
        help="How Wazzup identifies this integration: 1 to 50 Latin letters, digits, hyphens or underscores, "
        "unique within Wazzup.")
    notify_wazzup_secret = fields.Char(
        string="Integration secret", config_parameter=PARAM % "secret", groups="base.group_system",
        help="Proves to Wazzup that a connection comes from this Odoo; generated when empty. Never sent to a "
        "browser. Changing it requires registering again.")
    notify_wazzup_crm_name = fields.Char(
        string="Public name", config_parameter=PARAM % "crm_name", groups="base.group_system",
        help="The name of the integration in Wazzup's marketplace, in English.")
    notify_wazzup_logo = fields.Binary(
        string="Logo (SVG)", attachment=False, groups="base.group_system",
        help="SVG only, transparent or white background, no inner margin, the name in English.")
    notify_wazzup_logo_name = fields.Char(
        string="Logo file name", config_parameter=PARAM % "logo_name", groups="base.group_system")
    notify_wazzup_connect_url = fields.Char(
        string="Connect URL", compute="_compute_notify_wazzup_connect_url", groups="base.group_system",
        help="Where Wazzup sends customers who click Connect: registered with Wazzup by 'Register with Wazzup'.")

    def _compute_notify_wazzup_connect_url(self):
        url = self._wazzup_connect_url()
        for settings in self:
            settings.notify_wazzup_connect_url = url

    @api.model
    def _wazzup_connect_url(self):
        base = self.env["ir.config_parameter"].sudo().get_param("web.base.url", "").rstrip("/")
        return f"{base}{CONNECT_ROUTE}"

    @api.model
    def get_values(self):
        res = super().get_values()
        res["notify_wazzup_logo"] = self.env["ir.config_parameter"].sudo().get_param(PARAM % "logo") or False
        return res

    def set_values(self):
        super().set_values()
        if not self.env.is_system():
            return
        params = self.env["ir.config_parameter"].sudo()
        logo = self.with_context(bin_size=False).notify_wazzup_logo
        logo = (logo.decode() if isinstance(logo, bytes) else logo) or False
        if logo and logo != params.get_param(PARAM % "logo") and not svg_bytes(logo):
            # checked when a new file is saved only: a stored logo never blocks the other settings
            raise ValidationError(self._wazzup_not_svg_text(self.notify_wazzup_logo_name))
        params.set_param(PARAM % "logo", logo)
        self._wazzup_ensure_secret()

    # ---- what the rest of the addon reads --------------------------------------------------------------
    @api.model
    def _wazzup_publisher(self):
        """The publisher's settings as a dict (read as superuser: callers are the connect flow and the buttons of
        Settings administrators), with the environment its API address means for connected accounts."""
        params = self.env["ir.config_parameter"].sudo()
        values = {key: (params.get_param(PARAM % key) or "").strip()
                  for key in ("api_url", "developer_key", "crm_code", "secret", "crm_name", "logo", "logo_name")}
        # the client adds /v3/...: an address typed with it (https://api.wazzup24.com/v3) works as well
        values["api_url"] = re.sub(r"/v3/?$", "", (values["api_url"] or PRODUCTION_URL).rstrip("/"))
        values["environment"] = "production" if values["api_url"] == PRODUCTION_URL else "sandbox"
        return values

    @api.model
    def _wazzup_ensure_secret(self):
        """The integration secret, generated when empty (a registration always has one)."""
        params = self.env["ir.config_parameter"].sudo()
        if not params.get_param(PARAM % "secret"):
            params.set_param(PARAM % "secret", secrets.token_urlsafe(32))
        return params.get_param(PARAM % "secret")

    @api.model
    def _wazzup_publisher_client(self, publisher, with_developer_key=True):
        """A client on the publisher's API address; the developer key only for the marketplace routes (the
        connection of a customer is authorised by the secret in its body)."""
        credentials = {"api_key": publisher["developer_key"]} if with_developer_key else {}
        return WazzupClient(publisher["api_url"], credentials, environment=publisher["environment"],
                            timeout=PUBLISHER_TIMEOUT)

    def _wazzup_not_svg_text(self, name):
        return self.env._("The logo must be an SVG file (Wazzup takes no other format): %(name)s is not one.",
                          name=name or self.env._("the file chosen"))

    # ---- buttons ------------------------------------------------------------------------------------
    def _wazzup_check_system(self):
        if not self.env.is_system():
            raise UserError(self.env._("Only Settings administrators can register the integration with Wazzup."))

    def _wazzup_require(self, publisher, *keys):
        labels = {
            "developer_key": self.env._("developer key"),
            "crm_code": self.env._("CRM code"),
            "crm_name": self.env._("public name"),
            "logo": self.env._("SVG logo"),
        }
        missing = [labels[key] for key in keys if not publisher[key]]
        if missing:
            raise UserError(self.env._(
                "Enter the %(missing)s in Settings > Notifications > Wazzup marketplace first, and save.",
                missing=", ".join(missing)))

    def _wazzup_call(self, title, call):
        """Run `call(publisher, client)` and turn its outcome into a notification in plain words."""
        self._wazzup_check_system()
        publisher = self._wazzup_publisher()
        try:
            text, links = call(publisher)
            kind = "success"
        except ProviderError as error:
            text, links, kind = wazzup_error(self.env, error, publisher=True), [], "danger"
        except UserError as error:
            text, links, kind = str(error), [], "danger"
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {"title": title, "message": text + (" %s" if links else ""),
                       "links": links, "type": kind, "sticky": kind == "danger" or bool(links)},
        }

    def action_notify_wazzup_register(self):
        """POST v3/marketplace: the crmCode, the page Wazzup sends customers to, and the secret."""

        def register(publisher):
            self._wazzup_require(publisher, "developer_key", "crm_code")
            secret = self._wazzup_ensure_secret()
            connect_url = self._wazzup_connect_url()
            with self._wazzup_publisher_client(publisher) as client:
                client.register_marketplace(publisher["crm_code"], connect_url, secret)
            return self.env._(
                "Wazzup registered the integration %(code)s: customers who click Connect in Wazzup's marketplace "
                "come to %(url)s.", code=publisher["crm_code"], url=connect_url), []

        return self._wazzup_call(self.env._("Register with Wazzup"), register)

    def action_notify_wazzup_send_branding(self):
        """PATCH v3/marketplace: the public name and the SVG logo, base64 (before publication only)."""

        def send(publisher):
            self._wazzup_require(publisher, "developer_key", "crm_name", "logo")
            if not svg_bytes(publisher["logo"]):
                raise UserError(self._wazzup_not_svg_text(publisher["logo_name"]))
            name = publisher["logo_name"] or ""
            if not name.lower().endswith(".svg"):
                name = f"{publisher['crm_code'] or 'logo'}.svg"
            with self._wazzup_publisher_client(publisher) as client:
                client.update_marketplace(publisher["crm_name"], name, publisher["logo"])
            return self.env._("Wazzup received the public name %(name)s and the logo.",
                              name=publisher["crm_name"]), []

        return self._wazzup_call(self.env._("Send name and logo"), send)

    def action_notify_wazzup_test_install(self):
        """POST v3/wauth: Wazzup simulates a customer connecting; the page it sends them to is shown."""

        def test_install(publisher):
            self._wazzup_require(publisher, "developer_key", "crm_code")
            with self._wazzup_publisher_client(publisher) as client:
                answer = client.test_install(publisher["crm_code"])
            url = answer.get("redirectUri") if isinstance(answer, dict) else None
            if not isinstance(url, str) or not url.strip():
                raise UserError(self.env._("%(provider)s answered the test installation without the address it "
                                           "sends the customer to.", provider=LABEL))
            return self.env._("Wazzup simulated a customer installing the integration. Open this address to "
                              "connect as the customer would:"), [{"label": url.strip(), "url": url.strip()}]

        return self._wazzup_call(self.env._("Test installation"), test_install)
