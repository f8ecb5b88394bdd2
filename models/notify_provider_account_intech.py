"""The Intech account: its three keys, the phone format it uses, the public URL of the IPN, the catalogue."""

import logging

from odoo import api, fields, models
from odoo.exceptions import UserError, ValidationError

from ..clients.base import ProviderError, is_http_url
from ..clients.intech import MIN_TIMEOUT
from ..tools.provider_errors import provider_error_text

_logger = logging.getLogger(__name__)

IPN_ROUTE = "/notify_rules/intech/ipn"
# The document gives no request limit. Money operations are few; 60 a minute keeps bursts of rule-made operations
# (a batch of payouts) from looking like abuse.
INTECH_DEFAULT_RATE = 60


class NotifyProviderAccount(models.Model):
    _inherit = "notify.provider.account"

    provider = fields.Selection(selection_add=[("intech", "Intech (mobile money)")], ondelete={"intech": "cascade"})
    intech_api_key = fields.Char(
        string="Intech API key", groups="base.group_system", copy=False,
        help="The apiKey of your Intech contract, sent in the body of every operation.")
    intech_hmac_secret = fields.Char(
        string="Intech HMAC secret", groups="base.group_system", copy=False,
        help="The HMAC secret key: it signs every operation and lets Odoo check that an IPN comes from Intech.")
    intech_secret_key = fields.Char(
        string="Intech secret key", groups="base.group_system", copy=False,
        help="The Secretkey header that reads the catalogue of services.")
    intech_phone_format = fields.Selection(
        [("national", "National (772457199)"), ("international", "International without + (221772457199)")],
        string="Phone format", default="national",
        help="How numbers are written in the operations: Intech's document shows both forms. Numbers are checked "
        "for the service's country (Senegal, Côte d'Ivoire) before any request.")
    intech_ipn_base_url = fields.Char(
        string="Public URL of this Odoo",
        help="The address Intech calls back (IPN). Empty: the database's web.base.url. Set it when Odoo is reached "
        "from the internet at another address than the one its users type.")
    intech_ipn_url = fields.Char(string="IPN URL (give it to Intech)", compute="_compute_intech_ipn_url")
    intech_service_ids = fields.One2many("notify.intech.service", "provider_account_id", string="Services")
    intech_service_count = fields.Integer(compute="_compute_intech_service_count", string="Services count")
    intech_services_synced_at = fields.Datetime(string="Catalogue read on", readonly=True, copy=False)

    @api.depends("intech_ipn_base_url", "provider")
    def _compute_intech_ipn_url(self):
        default = self.env["ir.config_parameter"].sudo().get_param("web.base.url", "")
        for account in self:
            base = (account.intech_ipn_base_url or default or "").rstrip("/")
            account.intech_ipn_url = (
                f"{base}{IPN_ROUTE}/{account.id}" if account.provider == "intech" and account.id and base else False)

    def _compute_intech_service_count(self):
        groups = self.env["notify.intech.service"]._read_group(
            [("provider_account_id", "in", self.ids)], ["provider_account_id"], ["__count"])
        counts = {account.id: count for account, count in groups}
        for account in self:
            account.intech_service_count = counts.get(account.id, 0)

    @api.constrains("intech_ipn_base_url")
    def _check_intech_ipn_base_url(self):
        for account in self.filtered("intech_ipn_base_url"):
            if not is_http_url(account.intech_ipn_base_url):
                raise ValidationError(self.env._(
                    "The public URL of this Odoo must be a web address such as https://erp.example.sn."))

    @api.constrains("provider", "timeout")
    def _check_intech_timeout(self):
        for account in self.filtered(lambda a: a.provider == "intech"):
            if account.timeout < MIN_TIMEOUT:
                raise ValidationError(self.env._(
                    "Intech asks for an HTTP timeout of at least %(seconds)s seconds.", seconds=int(MIN_TIMEOUT)))

    @api.onchange("provider")
    def _onchange_provider_intech_timeout(self):
        if self.provider == "intech" and self.timeout < MIN_TIMEOUT:
            self.timeout = MIN_TIMEOUT

    @api.model_create_multi
    def create(self, vals_list):
        for vals in vals_list:
            if vals.get("provider") == "intech" and (vals.get("timeout") or 0) < MIN_TIMEOUT:
                vals["timeout"] = MIN_TIMEOUT
        return super().create(vals_list)

    @api.model
    def _notify_destination_fields(self):
        # where Intech posts the outcome of our operations: whoever changes it could hide an IPN from Odoo
        return super()._notify_destination_fields() + ["intech_ipn_base_url"]

    def _notify_default_rate_limit(self):
        if self.provider == "intech":
            return INTECH_DEFAULT_RATE
        return super()._notify_default_rate_limit()

    @api.model
    def _notify_credential_fields(self):
        return dict(super()._notify_credential_fields(), intech=[
            ("intech_api_key", True), ("intech_hmac_secret", True), ("intech_secret_key", True)])

    def _notify_credentials(self):
        if self.provider == "intech":
            return {"api_key": self.intech_api_key or "", "hmac_secret": self.intech_hmac_secret or "",
                    "secret_key": self.intech_secret_key or "", "phone_format": self.intech_phone_format}
        return super()._notify_credentials()

    @api.model
    def _intech_ipn_account(self, account_id):
        """(account, HMAC secret) of an Intech account for its IPN route, in one query (the route is a hot path);
        (empty, None) when there is no such Intech account."""
        if not 0 < account_id < 2**31:
            return self.browse(), None
        self.env.cr.execute(
            "SELECT id, company_id, intech_hmac_secret FROM notify_provider_account "
            "WHERE id = %s AND provider = 'intech'", [account_id])
        row = self.env.cr.fetchone()
        if not row:
            return self.browse(), None
        account = self.browse(row[0])
        self.env.cache.update(account, self._fields["company_id"], [row[1]])
        return account, row[2]

    # ---- catalogue ------------------------------------------------------------------------------------
    def action_intech_sync_services(self):
        """Read the catalogue in the background (the cron, triggered now): Intech may take up to its 60 seconds, which
        a person's click must not hold an HTTP worker and a transaction for. The result is noted on the account."""
        self.ensure_one()
        self.check_access("write")
        self.env.ref("notify_rules.ir_cron_notify_intech_catalogue").sudo()._trigger()
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {"title": self.env._("Catalogue"), "type": "info",
                       "message": self.env._("Intech's catalogue is being read: the services are listed in a moment, "
                                             "and the account's chatter says how it went.")},
        }

    def _intech_sync_services(self):
        """Read the catalogue and mirror it: new services are created, known ones updated, those Intech no longer
        lists archived (never deleted: operations refer to them). Returns the number of services read."""
        self.ensure_one()
        try:
            services = self._notify_get_client().get_services()
        except ProviderError as error:
            raise UserError(provider_error_text(self.env, error)) from None
        return self.env["notify.intech.service"].sudo()._intech_mirror(self, services)

    @api.model
    def _cron_intech_sync_services(self):
        """Daily, and when asked from an account: every active Intech account's catalogue (one account failing does
        not stop the others); the outcome is noted on the account when it changed or failed."""
        for account in self.sudo().search([("provider", "=", "intech"), ("active", "=", True)]):
            try:
                with self.env.cr.savepoint():
                    before = account.intech_service_count
                    count = account._intech_sync_services()
                    if count != before:
                        account.message_post(body=self.env._("Catalogue read: %(count)s services.", count=count),
                                             message_type="notification", subtype_xmlid="mail.mt_note")
            except UserError as error:
                _logger.warning("Intech catalogue of account %s not read: %s", account.id, error)
                account.message_post(body=self.env._("The catalogue could not be read: %s", error),
                                     message_type="notification", subtype_xmlid="mail.mt_note")

    def action_intech_view_services(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id("notify_rules.notify_intech_service_action")
        action["domain"] = [("provider_account_id", "=", self.id)]
        action["context"] = {"default_provider_account_id": self.id, "active_test": False}
        return action
