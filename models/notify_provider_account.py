import logging
import threading
from datetime import timedelta

from lxml import etree
from markupsafe import Markup

from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError, ValidationError

from ..clients.base import ProviderError, is_http_url
from ..clients.phone import split_e164
from ..clients.registry import get_client_class
from ..tools.provider_errors import connection_result_text, provider_error_text

_logger = logging.getLogger(__name__)

THROTTLE_DEFAULT_SECONDS = 60  # a 429 without Retry-After
# Where the signed requests go: only Settings administrators change them (the credentials travel with them).
DESTINATION_FIELDS = ("provider", "environment", "base_url")
# One HTTP session per account and process, reused across cron runs (keep-alive, TLS reuse).
_CLIENT_CACHE = {}
_CLIENT_CACHE_LOCK = threading.Lock()


class NotifyProviderAccount(models.Model):
    """A contract with a provider: where to call it, with which credentials, how fast.

    Provider-specific fields and behaviour live in ``notify_provider_account_<code>.py`` files, which
    extend ``provider`` with ``selection_add`` as Odoo's ``payment_*`` modules do.
    """

    _name = "notify.provider.account"
    _inherit = ["mail.thread"]
    _description = "Notification provider account"
    _order = "sequence, name"

    name = fields.Char(required=True, tracking=True)
    sequence = fields.Integer(default=10)
    active = fields.Boolean(default=True, tracking=True)
    provider = fields.Selection(selection=[], required=True, tracking=True)
    company_id = fields.Many2one("res.company", required=True, default=lambda self: self.env.company)
    environment = fields.Selection(
        [
            ("sandbox", "Sandbox (simulator)"),
            ("test", "Provider test mode"),
            ("production", "Production"),
        ],
        required=True,
        default="test",
        tracking=True,
        help="Sandbox (simulator): messages go to a provider simulator at the base URL (required). Provider test "
        "mode: the provider's own test mode, where it offers one. Production: real messages are sent.",
    )
    base_url = fields.Char(
        string="Base URL",
        tracking=True,
        help="Leave empty to use the provider's official address. Required in sandbox mode.",
    )
    default_country_id = fields.Many2one(
        "res.country",
        string="Default country",
        default=lambda self: self.env.company.country_id,
        help="Country used to read phone numbers written without an international prefix.",
    )
    timeout = fields.Float(string="Timeout (s)", default=10.0, tracking=True)
    rate_limit_per_minute = fields.Integer(
        string="Requests per minute",
        tracking=True,
        compute="_compute_provider_defaults",
        store=True,
        readonly=False,
        help="The dispatcher never sends more than this per minute, so that the provider does not refuse requests.",
    )
    concurrency = fields.Integer(
        default=4, tracking=True, help="How many requests may be in flight at once for this account."
    )
    max_attempts = fields.Integer(
        string="Maximum attempts", default=5, tracking=True, help="Attempts before a temporary failure becomes final."
    )
    ambiguous_send_policy = fields.Selection(
        [
            ("hold", "Hold as Outcome unknown"),
            ("retry", "Retry (the recipient may receive it twice)"),
        ],
        string="When the answer is lost",
        required=True,
        default="hold",
        tracking=True,
        help="A request that reached the provider without a readable answer (a time-out after sending, a server "
        "error such as HTTP 500 or 504) may or may not have been accepted. Hold: the message waits as Outcome "
        "unknown for a person to check. Retry: it is sent again, and may arrive twice. Providers that can be "
        "asked, or that ignore a repeated idempotency key, are asked or retried whatever this says.",
    )
    throttled_until = fields.Datetime(readonly=True, copy=False, help="Set when the provider asked us to slow down.")
    paused = fields.Boolean(
        readonly=True, copy=False, tracking=True,
        help="The provider refused the credentials, or the base URL does not lead to it: nothing is sent through "
        "this account until it is fixed. Its messages wait in the queue.",
    )
    pause_reason = fields.Text(readonly=True, copy=False)
    paused_since = fields.Datetime(readonly=True, copy=False)
    can_edit_destination = fields.Boolean(compute="_compute_can_edit_destination")
    notify_message_ids = fields.One2many("notify.message", "provider_account_id", string="Outgoing messages")
    notify_message_count = fields.Integer(string="Outgoing messages count", compute="_compute_notify_message_count")

    _sql_constraints = [
        ("timeout_positive", "CHECK(timeout > 0)", "The timeout must be positive."),
        ("concurrency_positive", "CHECK(concurrency > 0)", "The concurrency must be at least 1."),
        ("max_attempts_positive", "CHECK(max_attempts > 0)", "The maximum number of attempts must be at least 1."),
        ("rate_limit_positive", "CHECK(rate_limit_per_minute > 0)", "The rate limit must be at least 1 per minute."),
    ]

    @api.depends("provider")
    def _compute_provider_defaults(self):
        """Each provider's documented limit, set when the provider is chosen (editable afterwards)."""
        for account in self:
            if account.provider or not account.rate_limit_per_minute:
                account.rate_limit_per_minute = account._notify_default_rate_limit()

    @api.model_create_multi
    def create(self, vals_list):
        for vals in vals_list:
            if "ambiguous_send_policy" not in vals and vals.get("provider"):
                vals["ambiguous_send_policy"] = self.new({"provider": vals["provider"]}).\
                    _notify_default_ambiguous_policy()
        return super().create(vals_list)

    @api.onchange("provider")
    def _onchange_provider_policy(self):
        if self.provider:
            self.ambiguous_send_policy = self._notify_default_ambiguous_policy()

    @api.depends_context("uid")
    def _compute_can_edit_destination(self):
        for account in self:
            account.can_edit_destination = self.env.is_system()

    def _compute_notify_message_count(self):
        groups = self.env["notify.message"]._read_group(
            [("provider_account_id", "in", self.ids)], ["provider_account_id"], ["__count"]
        )
        counts = {account.id: count for account, count in groups}
        for account in self:
            account.notify_message_count = counts.get(account.id, 0)

    @api.constrains("environment", "base_url")
    def _check_base_url(self):
        for account in self:
            if account.environment == "sandbox" and not account.base_url:
                raise ValidationError(self.env._("A sandbox account needs the base URL of the provider simulator."))
            if account.base_url and not is_http_url(account.base_url):
                raise ValidationError(self.env._(
                    "The base URL must be a web address such as https://p.wap.cm (http:// or https://, then a host)."))

    @api.constrains("company_id")
    def _check_rules_company(self):
        rules = self.env["notify.rule"].sudo().with_context(active_test=False).search(
            ["|", ("provider_account_id", "in", self.ids), ("route_ids.provider_account_id", "in", self.ids)])
        for rule in rules.filtered(
                lambda r: (r.provider_account_id | r.route_ids.provider_account_id).company_id != r.company_id):
            raise ValidationError(self.env._(
                "The rule %(rule)s of %(company)s uses this account: it cannot move to another company.",
                rule=rule.name, company=rule.company_id.name))

    def _notify_throttle(self, retry_after=None):
        """The provider answered 429: nothing goes to it (sends, status checks) before Retry-After, or a minute.
        Returns the wait in seconds."""
        delay = retry_after if retry_after is not None else THROTTLE_DEFAULT_SECONDS
        self.throttled_until = fields.Datetime.now() + timedelta(seconds=delay)
        return delay

    def write(self, vals):
        self._check_destination_rights(vals)
        unpause = self.filtered("paused") if self._resumes_paused(vals) else self.browse()
        res = super().write(vals)
        if {"company_id", "provider", "active"} & set(vals):
            self.env.registry.clear_cache()  # notify.rule._notify_matchers caches the account's provider/company
        if unpause:
            unpause._notify_resume()
        return res

    def _check_destination_rights(self, vals):
        """The signed requests of an account carry its secrets: whoever may choose where they go could send them
        to a host of their own and replay them. Only Settings administrators change the destination of an
        account that exists (a new account has no credentials until an administrator enters them)."""
        changed = set(vals) & set(self._notify_destination_fields())
        if not changed or self.env.is_system():
            return
        for account in self:
            if any((account[name] or False) != (vals[name] or False) for name in changed):
                raise AccessError(self.env._(
                    "Only Settings administrators can change where the account %(account)s sends its signed "
                    "requests (provider, environment, base URL): its credentials travel with them.",
                    account=account.name))

    @api.model
    def _notify_destination_fields(self):
        """Fields that decide where signed requests go; a provider adds its own (e.g. a callback URL)."""
        return list(DESTINATION_FIELDS)

    def _resumes_paused(self, vals):
        """Changing the credentials or the destination of a paused account is the fix: it resumes."""
        fix_fields = set(self._notify_destination_fields())
        for credential_fields in self._notify_credential_fields().values():
            fix_fields.update(name for name, _secret in credential_fields)
        return bool(fix_fields & set(vals))

    # ---- pause: the account is wrong, not the messages -----------------------------------------------
    def _notify_pause(self, reason):
        """Stop sending through this account (its messages stay queued and say why), tell the managers once."""
        for account in self.sudo():
            if account.paused and account.pause_reason == reason:
                continue
            account.write({"paused": True, "pause_reason": reason, "paused_since": fields.Datetime.now()})
            self.env.cr.execute(
                "UPDATE notify_message SET last_error = %s WHERE provider_account_id = %s AND state = 'queued'",
                [account._notify_paused_text(reason), account.id])
            self.env["notify.message"].invalidate_model(["last_error"])
            managers = self.env.ref("notify_rules.group_notify_manager").users.filtered(
                lambda u, a=account: a.company_id in u.company_ids and not u.share)
            account.message_post(
                body=Markup("%s<br/>%s") % (
                    self.env._("Sending through this account is paused; its messages wait in the queue:"), reason),
                partner_ids=managers.partner_id.ids,
                message_type="notification",
                subtype_xmlid="mail.mt_note",
            )

    def _notify_paused_text(self, reason):
        self.ensure_one()
        return self.env._("Waiting: the provider account %(account)s is paused: %(reason)s",
                          account=self.name, reason=reason)

    def _notify_resume(self):
        for account in self.sudo().filtered("paused"):
            account.write({"paused": False, "pause_reason": False, "paused_since": False})
            account.message_post(body=self.env._("Sending resumed."), message_type="notification",
                                 subtype_xmlid="mail.mt_note")
        self.env["notify.message"]._trigger_dispatch()

    def action_resume(self):
        """The administrator fixed what the provider refused (outside Odoo, e.g. re-enabled the key)."""
        self.check_access("write")
        self._notify_resume()
        return True

    # ---- provider hooks, extended in notify_provider_account_<code>.py -------------------------------
    def _notify_default_rate_limit(self):
        return 60

    def _notify_default_ambiguous_policy(self):
        """What a new account of this provider does with a lost answer; 'hold' unless the provider's document
        asks for retries of server errors (a duplicate then being its own reading of the risk)."""
        return "hold"

    def _notify_credentials(self):
        """Return the credentials the provider's client needs (read as superuser: callers are trusted)."""
        return {}

    @api.model
    def _notify_credential_fields(self):
        """{provider code: [(field name, is secret)]}: the form shows them, so a provider adds no view."""
        return {}

    @api.model
    def _get_view(self, view_id=None, view_type="form", **options):
        arch, view = super()._get_view(view_id, view_type, **options)
        pages = arch.xpath("//page[@name='credentials']") if view_type == "form" else []
        for code, credential_fields in (self._notify_credential_fields().items() if pages else ()):
            group = etree.SubElement(
                pages[0], "group", {"name": f"credentials_{code}", "invisible": f"provider != '{code}'"}
            )
            for name, secret in credential_fields:
                attrs = {"name": name, "required": f"provider == '{code}'"}
                if secret:
                    attrs["password"] = "True"
                etree.SubElement(group, "field", attrs)
        return arch, view

    @api.model
    def _notify_country_of(self, e164):
        """ISO-2 country of an E.164 number (routes are chosen by it)."""
        return split_e164(e164)[0]

    def _notify_provider_recipient(self, e164):
        """The recipient as this account's provider takes it, shown on the message; raise InvalidPhoneError when
        the provider cannot serve the number (a provider adds its own rules, e.g. Chinqit: Mauritania only)."""
        iso2, national = split_e164(e164)
        return f"{iso2} {national}"

    def _notify_explain_invalid(self, raw, country):
        """An InvalidPhoneError in this provider's own terms for a number that is not valid, or None."""
        return None

    # ---- client -------------------------------------------------------------------------------------
    def _notify_client_config(self):
        self.ensure_one()
        client_class = get_client_class(self.provider)
        base_url = self.base_url or client_class.default_base_urls.get(self.environment)
        if not base_url:
            raise UserError(self.env._("Account %(name)s has no base URL for its environment.", name=self.name))
        return client_class, {
            "base_url": base_url.rstrip("/"),
            "credentials": self.sudo()._notify_credentials(),
            "environment": self.environment,
            "timeout": self.timeout,
            "pool_size": max(self.concurrency, 1),
        }

    def _notify_get_client(self):
        """The account's client, shared by every call of this process while the configuration is unchanged."""
        self.ensure_one()
        client_class, kwargs = self._notify_client_config()
        key = (self.env.cr.dbname, self.id)
        fingerprint = repr(sorted((k, repr(v)) for k, v in kwargs.items()))
        with _CLIENT_CACHE_LOCK:
            cached = _CLIENT_CACHE.get(key)
            if cached and cached[0] == fingerprint:
                return cached[1]
            # A replaced client is not closed: another thread may be sending with it; its pooled connections
            # close when it is garbage-collected.
            client = client_class(**kwargs)
            _CLIENT_CACHE[key] = (fingerprint, client)
            return client

    def action_test_connection(self):
        self.ensure_one()
        try:
            text = connection_result_text(self.env, self._notify_get_client().test_connection())
            kind, title = "success", self.env._("Test connection")
            if self.paused:
                self._notify_resume()
                text += " " + self.env._("Sending resumed.")
        except ProviderError as error:
            text, kind, title = provider_error_text(self.env, error), "danger", self.env._("Connection failed")
        except (UserError, ValueError) as error:
            text, kind, title = str(error), "danger", self.env._("Connection failed")
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {"title": title, "message": text, "type": kind, "sticky": kind == "danger"},
        }

    def action_view_messages(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id("notify_rules.notify_message_action")
        action["domain"] = [("provider_account_id", "=", self.id)]
        return action
