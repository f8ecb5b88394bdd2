"""What makes a Wazzup account out of a customer's click, and what follows it.

The connection (`_wazzup_connect`, called by controllers/wazzup_connect.py once the customer confirmed): POST
v3/connect with Wazzup's `state`, the publisher's secret and a fresh crmKey; only when Wazzup accepted it does the
company's Wazzup account get the apiKey and the SHA-256 of the crmKey (the key itself is kept nowhere: Wazzup sends
it back with every webhook, and the webhook route compares hashes). A refusal leaves nothing behind.

The set-up (`_wazzup_setup`, wazzup-wauth.md: "CRM downloads information about users, deals, contacts, funnels with
stages and sets the URL for webhooks"): webhooks, users, contacts, pipelines and deals when crm is installed, then
the channels. Pipelines (POST v3/pipelines) are what Wazzup's automatic createContact/createDeal need: one per sales
team, with its stages and the shared ones. Without crm none is sent: Odoo then has no deals, so a made-up pipeline
would only make Wazzup ask for deals (createDeal) that this Odoo must refuse; contacts are still created from the
incoming messages themselves. It runs in a cron
triggered at once, not in the customer's request: PATCH v3/webhooks makes Wazzup test-POST our webhook route,
which must find the account committed, and thousands of contacts must not hold an HTTP worker. Each step is
independent: one that fails is reported (chatter, form) and the others still run; "Run the set-up again" redoes
all of them, which is harmless (Wazzup upserts by id).
"""

import json
import logging
import threading

from markupsafe import Markup

from odoo import api, fields, models
from odoo.exceptions import UserError

from ..clients.base import OutcomeUnknownError, ProviderError, RetryableError
from ..clients.phone import InvalidPhoneError, to_e164
from ..clients.wazzup import LABEL, chat_id_of, new_crm_key, normalised_code
from ..tools.provider_errors import provider_error_text
from .notify_provider_account_wazzup import crm_key_hash

_logger = logging.getLogger(__name__)

SETUP_STATES = [("pending", "Waiting to run"), ("done", "Done"), ("failed", "Failed")]
NAME_MAX = 200
ID_MAX = 100
PIPELINE_NAME_MAX = 100  # the document: pipelines' and stages' ids and names are at most 100 characters


def _body_of(error):
    """(normalised error code, description, data) of a Wazzup error body ({error, description, data?})."""
    try:
        body = json.loads(error.body or "")
    except (TypeError, ValueError):
        body = None
    if not isinstance(body, dict):
        return "", "", None
    return normalised_code(body.get("error")), str(body.get("description") or "")[:300], body.get("data")


def wazzup_error(env, error, *, publisher=False, connect=False, url=None):
    """A ProviderError of a Wazzup call in plain words: Wazzup's own error codes (invalidState, alreadyPublished,
    testPostNotPassed...) read from the body, where the generic sentences would mislead (a 401 of /v3/connect is
    a wrong secret, not "the API key of the provider account")."""
    code, description, data = _body_of(error)
    params = dict(error.params or {}, provider=LABEL, url=url or "")
    mapped = None
    if connect:
        mapped = {"invalidstate": "wazzup_invalid_state", "invalidsecret": "wazzup_invalid_secret"}.get(code)
        if mapped is None and error.code in ("unreachable", "rate_limited"):
            mapped = "wazzup_connect_unreachable"  # the request never reached Wazzup, or was refused unread
        elif mapped is None and isinstance(error, (OutcomeUnknownError, RetryableError)):
            # a 5xx or no answer: Wazzup may have connected its side, but we have no API key
            mapped = "wazzup_connect_unconfirmed"
    elif publisher:
        if code == "alreadypublished":
            mapped = "wazzup_already_published"
        elif error.code == "credentials":
            mapped = "wazzup_developer_key_refused"
    if mapped is None and code == "testpostnotpassed":
        mapped = "wazzup_test_post_failed"
        params["answer"] = f"HTTP {data}" if isinstance(data, (int, str)) and str(data) else env._("no answer")
    elif mapped is None and code == "urinotvalid":
        mapped = "wazzup_uri_not_valid"
    if mapped:
        return provider_error_text(env, ProviderError(error.message, code=mapped, params=params))
    if error.code == "refused" and description:
        error = ProviderError(error.message, code="refused", params=dict(params, provider_message=description))
    return provider_error_text(env, error)


def _pipeline_name(record):
    """A team's or a stage's name as Wazzup takes it (1 to 100 characters); its id when the name is blank."""
    return (record.name or "").strip()[:PIPELINE_NAME_MAX].strip() or str(record.id)


def _auto_commit():
    return not getattr(threading.current_thread(), "testing", False)


class NotifyProviderAccount(models.Model):
    _inherit = "notify.provider.account"

    wazzup_connected_user_id = fields.Many2one(
        "res.users", string="Connected by", readonly=True, copy=False,
        help="Who confirmed the connection in Odoo; contacts without a salesperson are given to this user in Wazzup.")
    wazzup_connected_at = fields.Datetime(string="Connected on", readonly=True, copy=False)
    wazzup_setup_state = fields.Selection(SETUP_STATES, string="Set-up with Wazzup", readonly=True, copy=False)
    wazzup_setup_error = fields.Text(string="What failed", readonly=True, copy=False)
    wazzup_setup_at = fields.Datetime(string="Set-up run on", readonly=True, copy=False)

    # ---- the connection --------------------------------------------------------------------------------
    @api.model
    def _wazzup_connect(self, state, company, user):
        """POST v3/connect for `company`, then its Wazzup account (created, or updated when the company had one:
        one account per company, with the new key); the set-up is queued. Raises UserError with the reason, and
        then nothing was created nor changed."""
        publisher = self.env["res.config.settings"]._wazzup_publisher()
        if not (publisher["secret"] and publisher["crm_code"]):
            raise UserError(self.env._(
                "This Odoo is not registered as a Wazzup integration yet: its administrator must enter the Wazzup "
                "marketplace settings (Settings > Notifications) and register with Wazzup."))
        if not (state or "").strip():
            raise UserError(self.env._(
                "This link has no connection key from Wazzup: open it from the Connect button in Wazzup's "
                "marketplace."))
        crm_key = new_crm_key()
        base_url = self.env["ir.config_parameter"].sudo().get_param("web.base.url", "").rstrip("/")
        settings = self.env["res.config.settings"]
        try:
            with settings._wazzup_publisher_client(publisher, with_developer_key=False) as client:
                api_key = client.connect(state.strip(), publisher["secret"], crm_key, name=base_url)
        except ProviderError as error:
            _logger.info("Wazzup connection of company %s refused: %s", company.id, error.code)
            raise UserError(wazzup_error(self.env, error, connect=True)) from None
        vals = {
            "environment": publisher["environment"],
            "base_url": publisher["api_url"],
            "wazzup_api_key": api_key,
            "wazzup_crm_key_hash": crm_key_hash(crm_key),
            "wazzup_connected_user_id": user.id,
            "wazzup_connected_at": fields.Datetime.now(),
            "wazzup_setup_state": "pending",
            "wazzup_setup_error": False,
            "active": True,
        }
        # sudo: the API key is a Settings administrator's field, and the destination (environment, base URL) comes
        # from the publisher's settings, which only they set, not from the person connecting
        account = self.sudo().with_context(active_test=False).search(
            [("provider", "=", "wazzup"), ("company_id", "=", company.id)], order="active desc, id", limit=1)
        if account:
            account.write(vals)
            note = self.env._("Wazzup connected again by %(user)s: new API key.", user=user.name)
        else:
            account = self.sudo().create(dict(vals, name=self.env._("Wazzup %(company)s", company=company.name),
                                              provider="wazzup", company_id=company.id,
                                              default_country_id=company.country_id.id))
            note = self.env._("Wazzup connected by %(user)s.", user=user.name)
        account.message_post(body=note, message_type="notification", subtype_xmlid="mail.mt_note")
        account._wazzup_trigger_setup()
        return account

    def _wazzup_trigger_setup(self):
        self.env.ref("notify_rules.ir_cron_notify_wazzup_setup").sudo()._trigger()

    # ---- the set-up -------------------------------------------------------------------------------------
    def action_wazzup_setup(self):
        """Run the set-up again (in the background: see the module's docstring); the result is on the form."""
        self.ensure_one()
        self.check_access("write")
        if self.provider != "wazzup":
            raise UserError(self.env._("Only a Wazzup account has a set-up with Wazzup."))
        self.sudo().write({"wazzup_setup_state": "pending", "wazzup_setup_error": False})
        self._wazzup_trigger_setup()
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {"title": self.env._("Set-up with Wazzup"), "type": "info",
                       "next": {"type": "ir.actions.client", "tag": "soft_reload"},
                       "message": self.env._("The set-up runs in a moment: this form and the chatter will say how "
                                             "it went.")},
        }

    @api.model
    def _cron_wazzup_setup(self):
        """Every Wazzup account whose set-up is waiting; each in its own transaction (one failing account does not
        stop the others)."""
        accounts = self.sudo().search([("provider", "=", "wazzup"), ("wazzup_setup_state", "=", "pending")])
        for account in accounts:
            # the note and the errors in the language of the person who connected
            account.with_context(lang=account.wazzup_connected_user_id.lang or self.env.lang)._wazzup_setup()
            if _auto_commit():
                self.env.cr.commit()  # pylint: disable=invalid-commit

    def _wazzup_setup(self):
        """Webhooks, users, contacts, deals (with crm), channels; notes the outcome on the account. Returns the
        list of (step, error text) that failed."""
        self.ensure_one()
        account = self.sudo()
        steps = [
            ("webhooks", self.env._("Webhooks"), account._wazzup_setup_webhooks),
            ("users", self.env._("Users"), account._wazzup_setup_users),
            ("contacts", self.env._("Contacts"), account._wazzup_setup_contacts),
            ("pipelines", self.env._("Pipelines"), account._wazzup_setup_pipelines),
            ("deals", self.env._("Deals"), account._wazzup_setup_deals),
            ("channels", self.env._("Channels"), account._wazzup_setup_channels),
        ]
        context = {"uploaded": {}}
        done, failed = [], []
        for code, label, step in steps:
            try:
                with self.env.cr.savepoint():
                    done.append(step(context))
            except (ProviderError, UserError) as error:
                text = (wazzup_error(self.env, error, url=account.wazzup_webhook_url)
                        if isinstance(error, ProviderError) else str(error))
                _logger.info("Wazzup set-up of account %s: %s failed: %s", account.id, code,
                             getattr(error, "code", type(error).__name__))
                failed.append((label, text))
        account.write({
            "wazzup_setup_state": "failed" if failed else "done",
            "wazzup_setup_error": "\n".join(f"{label}: {text}" for label, text in failed) or False,
            "wazzup_setup_at": fields.Datetime.now(),
        })
        account._wazzup_setup_note(done, failed)
        return failed

    def _wazzup_setup_note(self, done, failed):
        lines = Markup("").join(Markup("<li>%s</li>") % line for line in done if line)
        errors = Markup("").join(Markup("<li>%s: %s</li>") % (label, text) for label, text in failed)
        if failed:
            body = Markup("<p>%s</p><ul>%s</ul><p>%s</p><ul>%s</ul>") % (
                self.env._("The set-up with Wazzup did not complete. Wazzup is connected; once what is said below "
                           "is fixed, use \"Run the set-up again\"."), errors, self.env._("Done:"), lines)
        else:
            body = Markup("<p>%s</p><ul>%s</ul>") % (self.env._("Set-up with Wazzup done:"), lines)
        self.message_post(body=body, message_type="notification", subtype_xmlid="mail.mt_note")

    def _wazzup_setup_webhooks(self, context):
        url = self.wazzup_webhook_url
        self._notify_get_client().set_webhooks(url)
        return self.env._("webhooks registered: Wazzup posts to %(url)s", url=url)

    def _wazzup_setup_users(self, context):
        users = self._wazzup_users()
        items = []
        for user in users:
            item = {"id": str(user.id), "name": (user.name or user.login)[:NAME_MAX]}
            phone = self._wazzup_chat_id(user.mobile or user.phone, user.partner_id.country_id)
            if phone:
                item["phone"] = phone
            items.append(item)
        requests_made = self._notify_get_client().upload("users", items)
        context["uploaded"]["users"] = {int(item["id"]) for item in items}
        return self.env._("%(count)s users sent (%(requests)s requests)", count=len(items), requests=requests_made)

    def _wazzup_users(self):
        """The internal active users who can work in the account's company."""
        return self.env["res.users"].sudo().search(
            [("share", "=", False), ("company_ids", "in", self.company_id.id)], order="id")

    def _wazzup_responsible(self, user, context):
        """A user id Wazzup knows: `user` when they were sent, else the one who connected (else any sent user)."""
        sent = context["uploaded"].get("users")
        if sent is None:  # the users step failed: Wazzup may still know them from an earlier set-up
            sent = set(self._wazzup_users().ids)
        for candidate in (user, self.wazzup_connected_user_id):
            if candidate and candidate.id in sent:
                return str(candidate.id)
        return str(min(sent)) if sent else str(self.wazzup_connected_user_id.id or self.env.uid)

    def _wazzup_chat_id(self, number, country=None):
        """WhatsApp's chatId (international digits) of a number as people type it, or None when it is not valid."""
        if not number:
            return None
        iso2 = (country or self.default_country_id or self.company_id.country_id).code
        try:
            return chat_id_of(to_e164(number, iso2))
        except InvalidPhoneError:
            return None

    def _wazzup_setup_contacts(self, context):
        base = self.env["ir.config_parameter"].sudo().get_param("web.base.url", "").rstrip("/")
        partners = self.env["res.partner"].sudo().search([
            ("company_id", "in", [self.company_id.id, False]),
            "|", ("mobile", "!=", False), ("phone", "!=", False),
        ], order="id")
        items, skipped = [], 0
        for partner in partners:
            chat_ids = []
            for number in (partner.mobile, partner.phone):
                chat_id = self._wazzup_chat_id(number, partner.country_id)
                if number and not chat_id:
                    skipped += 1
                if chat_id and chat_id not in chat_ids:
                    chat_ids.append(chat_id)
            if not chat_ids:
                continue
            items.append({
                "id": str(partner.id),
                "responsibleUserId": self._wazzup_responsible(partner.user_id, context),
                "name": (partner.display_name or partner.name or chat_ids[0])[:NAME_MAX],
                "contactData": [{"chatType": "whatsapp", "chatId": chat_id} for chat_id in chat_ids],
                "uri": f"{base}/odoo/res.partner/{partner.id}"[:NAME_MAX],
            })
        requests_made = self._notify_get_client().upload("contacts", items)
        context["uploaded"]["contacts"] = {int(item["id"]) for item in items}
        if skipped:
            return self.env._("%(count)s contacts sent (%(requests)s requests); %(skipped)s numbers skipped: not "
                              "valid phone numbers", count=len(items), requests=requests_made, skipped=skipped)
        return self.env._("%(count)s contacts sent (%(requests)s requests)", count=len(items), requests=requests_made)

    def _wazzup_setup_pipelines(self, context):
        """One pipeline per sales team of the company (or shared), with the team's stages and the shared ones, in
        their order; `stages` is left out when there are none (the document: `stages: []` is an error)."""
        if "crm.team" not in self.env or "crm.lead" not in self.env:
            return self.env._("pipelines: none sent (the CRM app is not installed)")
        teams = self.env["crm.team"].sudo().search([("company_id", "in", [self.company_id.id, False])], order="id")
        # the teams' own stages and the shared ones, in the pipeline's order (sequence, name)
        stages = self.env["crm.stage"].sudo().search([("team_id", "in", [*teams.ids, False])])
        items = []
        for team in teams:
            item = {"id": str(team.id), "name": _pipeline_name(team)}
            team_stages = stages.filtered(lambda stage, team=team: not stage.team_id or stage.team_id == team)
            if team_stages:
                item["stages"] = [{"id": str(stage.id), "name": _pipeline_name(stage)} for stage in team_stages]
            items.append(item)
        requests_made = self._notify_get_client().upload("pipelines", items) if items else 0
        return self.env._("%(count)s pipelines sent (%(requests)s requests)", count=len(items),
                          requests=requests_made)

    def _wazzup_setup_deals(self, context):
        """The company's CRM leads as deals, only when the crm module is installed (the addon does not need it)."""
        if "crm.lead" not in self.env:
            return self.env._("deals: none sent (the CRM app is not installed)")
        base = self.env["ir.config_parameter"].sudo().get_param("web.base.url", "").rstrip("/")
        contacts = context["uploaded"].get("contacts") or set()
        leads = self.env["crm.lead"].sudo().search([("company_id", "=", self.company_id.id)], order="id")
        items = [{
            "id": str(lead.id),
            "responsibleUserId": self._wazzup_responsible(lead.user_id, context),
            "name": (lead.name or str(lead.id))[:NAME_MAX],
            "uri": f"{base}/odoo/crm.lead/{lead.id}"[:NAME_MAX],
            "contacts": [str(lead.partner_id.id)],
            "closed": bool(lead.stage_id.is_won),
        } for lead in leads if lead.partner_id.id in contacts]
        requests_made = self._notify_get_client().upload("deals", items)
        return self.env._("%(count)s deals sent (%(requests)s requests)", count=len(items), requests=requests_made)

    def _wazzup_setup_channels(self, context):
        self._wazzup_sync_channels()
        channels = self.wazzup_channel_ids
        active = channels.filtered(lambda c: c.state == "active")
        return self.env._("%(count)s channels, %(active)s active", count=len(channels), active=len(active))
