"""One-time code challenges: the OTP engine shared by the login second factor, the served OTP API and any caller.

A challenge is asked for (``_notify_request``), delivered as a high-priority outbox message by the company's OTP
rule (a code of ours in a template or an SMS, or a code the provider generates and checks itself), then checked
(``_notify_verify``). Twilio Verify is the bar for the safeguards: per-number and per-IP limits, a resend cooldown,
a country allow-list against SMS pumping, attempts per code and wrong codes per user and IP, one-time use, no code
stored (a keyed hash only, see tools/otp.py).
"""

import uuid
from datetime import timedelta

from odoo import api, fields, models

from ..clients.base import ProviderError
from ..clients.phone import InvalidPhoneError, format_international, split_e164, to_e164
from ..tools import otp as otp_tools
from ..tools.otp import OtpCheck, OtpRefused
from ..tools.provider_errors import provider_error_text
from ..tools.rate_window import wait_text, window_wait

STATES = [
    ("pending", "Waiting for the code"),
    ("verified", "Verified"),
    ("expired", "Expired"),
    ("locked", "Locked (too many wrong codes)"),
    ("replaced", "Replaced by a newer code"),
    ("failed", "Could not be sent"),
]
CLOSED_REASONS = {"verified": "used", "expired": "expired", "locked": "too_many_attempts", "replaced": "replaced",
                  "failed": "not_sent"}


class NotifyOtp(models.Model):
    _name = "notify.otp"
    _description = "One-time code challenge"
    _order = "id desc"
    _rec_name = "public_id"

    public_id = fields.Char(string="Challenge ID", required=True, readonly=True, copy=False, index=True,
                            default=lambda self: str(uuid.uuid4()))
    purpose = fields.Char(required=True, readonly=True)
    # the clock of the request itself (create_date is the transaction's start), counted by the limits
    requested_at = fields.Datetime(required=True, readonly=True, default=fields.Datetime.now, index=True)
    recipient_e164 = fields.Char(string="Phone", required=True, readonly=True, index=True)
    user_id = fields.Many2one("res.users", readonly=True, ondelete="cascade", index="btree_not_null")
    partner_id = fields.Many2one("res.partner", readonly=True, ondelete="set null")
    company_id = fields.Many2one("res.company", required=True, readonly=True, ondelete="cascade")
    client_ip = fields.Char(string="Client IP", readonly=True, index="btree_not_null")
    lang = fields.Char(readonly=True)
    rule_id = fields.Many2one("notify.rule", string="OTP rule", readonly=True, ondelete="set null")
    provider_account_id = fields.Many2one("notify.provider.account", readonly=True, ondelete="set null")
    channel = fields.Selection([("whatsapp", "WhatsApp"), ("sms", "SMS")], readonly=True)
    delegated = fields.Boolean(
        string="Code of the provider", readonly=True,
        help="The provider generated the code and checks it; Odoo never saw it.")
    code_length = fields.Integer(required=True, readonly=True, default=6)
    code_salt = fields.Char(readonly=True, groups="base.group_system", copy=False)
    code_hash = fields.Char(readonly=True, groups="base.group_system", copy=False)
    code = fields.Char(compute="_compute_code", help="What OTP templates show in place of the code: a mask; the "
                       "code itself only replaces the mask on its way to the provider.")
    expires_at = fields.Datetime(required=True, readonly=True)
    max_attempts = fields.Integer(required=True, readonly=True, default=3)
    attempt_count = fields.Integer(string="Wrong codes", readonly=True, default=0)
    state = fields.Selection(STATES, required=True, default="pending", readonly=True, index=True)
    verified_at = fields.Datetime(readonly=True)
    failure_reason = fields.Text(readonly=True)
    message_ids = fields.One2many("notify.message", "otp_id", string="Messages", readonly=True)

    _sql_constraints = [("public_id_unique", "UNIQUE(public_id)", "A challenge ID is unique.")]

    @api.depends("code_length")
    def _compute_code(self):
        for challenge in self:
            challenge.code = otp_tools.mask(challenge.code_length or 6)

    # ---- asking for a code ---------------------------------------------------------------------------
    @api.model
    def _notify_request(self, purpose, phone, *, user=None, partner=None, client_ip=None, company=None, lang=None):
        """Create a challenge and queue its code, or raise OtpRefused saying why (and when to retry).

        The lock, the limits and the writes run in one savepoint: a refusal stores nothing, even for a caller that
        catches it and commits."""
        company = company or (user.company_id if user else self.env.company)
        lang = str(lang or (user and user.lang) or self.env.lang or "")[:16] or False
        env = self.with_company(company).with_context(lang=self._otp_installed_lang(lang)).env
        Otp = env["notify.otp"].sudo()
        e164 = Otp._otp_normalise_phone(phone, company)
        Otp._otp_check_country(e164, company)
        rule = Otp._otp_rule(purpose, company)
        with env.cr.savepoint():
            Otp._otp_lock(e164)
            Otp._otp_check_limits(purpose, e164, client_ip, user, company)
            previous = Otp.search([("purpose", "=", purpose), ("recipient_e164", "=", e164),
                                   ("company_id", "=", company.id), ("state", "=", "pending")])
            previous._otp_close("replaced")
            challenge = Otp.create({
                "purpose": purpose, "recipient_e164": e164, "user_id": user.id if user else False,
                "partner_id": (partner or (user and user.partner_id) or env["res.partner"]).id,
                "company_id": company.id, "client_ip": client_ip or False, "lang": lang,
                "rule_id": rule.id, "code_length": company.notify_otp_length or 6,
                "max_attempts": company.notify_otp_max_attempts or 3,
                "expires_at": fields.Datetime.now() + timedelta(minutes=company.notify_otp_validity_minutes or 10),
            })
            challenge._otp_queue_message(first=True)
        return challenge

    @api.model
    def _otp_installed_lang(self, lang):
        """Sentences in the person's language when Odoo has it (a provider may still localise its own text)."""
        return lang if lang and self.env["res.lang"]._get_data(code=lang) else self.env.lang

    def _otp_normalise_phone(self, phone, company):
        raw = str(phone or "").strip()
        try:
            return to_e164(raw, company.country_id.code or None)
        except InvalidPhoneError as error:
            raise OtpRefused(self.env["notify.rule"]._phone_error_text(error), reason="invalid_phone") from None

    def _otp_allowed_countries(self, company):
        codes = set(company.notify_otp_country_ids.mapped("code"))
        return codes or ({company.country_id.code} if company.country_id else set())

    def _otp_check_country(self, e164, company):
        """The SMS-pumping guard: codes go only to the countries the company allows."""
        iso2 = split_e164(e164)[0]
        if iso2 not in self._otp_allowed_countries(company):
            country = self.env["res.country"].search([("code", "=", iso2)], limit=1)
            raise OtpRefused(self.env._(
                "Codes are not sent to numbers of %(country)s. An administrator can allow this country in Settings "
                "(One-time codes).", country=country.name or iso2), reason="country_not_allowed")

    def _otp_rule(self, purpose, company):
        """The company's first active OTP rule for this purpose (login: trigger on_login; others: on_otp_request,
        restricted by the rule's purposes when it names some)."""
        trigger = "on_login" if purpose == otp_tools.LOGIN_PURPOSE else "on_otp_request"
        rules = self.env["notify.rule"].sudo().search(
            [("trigger", "=", trigger), ("company_id", "=", company.id), ("active", "=", True)])
        for rule in rules:
            if trigger == "on_login" or rule._notify_serves_purpose(purpose):
                return rule
        raise OtpRefused(self.env._(
            "No rule sends one-time codes for %(purpose)s in %(company)s: an administrator must create one "
            "(Notify > Rules, trigger \"%(trigger)s\").", purpose=purpose, company=company.name,
            trigger=dict(self.env["notify.rule"]._fields["trigger"]._description_selection(self.env))[trigger]),
            reason="no_rule")

    def _otp_lock(self, e164):
        """Serialise the requests for one number across transactions.

        An upsert on a lock row, rather than an advisory lock: under Odoo's REPEATABLE READ a transaction that
        waited for another's lock would not see the challenge the other just committed, and both would pass the
        cooldown; the upsert of a row changed by a concurrent commit fails with a serialization error instead, and
        Odoo replays the request, which then sees it. Not per client IP: every request behind one proxy would
        collide on it, and each replay waits a random back-off of up to seconds (bench/bench_otp.py, 4 clients
        from one IP: round trip p99 5.5 s with an IP lock, 0.27 to 2.1 s without); the per-IP windows may then
        let through as many extra codes as requests arrive at the very same moment."""
        self.env.cr.execute(
            """INSERT INTO notify_otp_lock (key, touched_at) VALUES (%s, now() AT TIME ZONE 'UTC')
               ON CONFLICT (key) DO UPDATE SET touched_at = EXCLUDED.touched_at""", [f"phone:{e164}"])

    def init(self):
        self.env.cr.execute("""CREATE TABLE IF NOT EXISTS notify_otp_lock (
                                   key varchar PRIMARY KEY, touched_at timestamp NOT NULL)""")

    def _otp_check_limits(self, purpose, e164, client_ip, user, company):
        """Cooldown, per-number and per-IP windows, and a user locked out by wrong codes; each refusal says when
        to try again. The cooldown is against asking again for a code still waiting to be used: a code used
        (a second login a minute later) or that could not be sent does not hold the next one back."""
        self.env.flush_all()
        now = fields.Datetime.now()
        cr = self.env.cr
        pending = {"recipient_e164": e164, "purpose": purpose, "state": "pending"}
        cooldown = company.notify_otp_resend_cooldown
        wait = window_wait(cr, self._table, "requested_at", pending, cooldown, 1 if cooldown else 0, now)
        if wait:
            raise OtpRefused(self.env._("A code was just sent. You can ask for a new one in %s.",
                                        wait_text(self.env, wait)), reason="cooldown", retry_after=wait)
        windows = [({"recipient_e164": e164}, 3600, company.notify_otp_phone_hourly, "phone_limit"),
                   ({"recipient_e164": e164}, 86400, company.notify_otp_phone_daily, "phone_limit")]
        if client_ip:
            windows += [({"client_ip": client_ip}, 60, company.notify_otp_ip_minute, "ip_limit"),
                        ({"client_ip": client_ip}, 3600, company.notify_otp_ip_hourly, "ip_limit"),
                        ({"client_ip": client_ip}, 86400, company.notify_otp_ip_daily, "ip_limit")]
        for filters, seconds, allowed, reason in windows:
            wait = window_wait(cr, self._table, "requested_at", filters, seconds, allowed, now)
            if not wait:
                continue
            if reason == "phone_limit":
                text = self.env._("Too many codes were sent to %(number)s. Try again in %(wait)s.",
                                  number=format_international(e164), wait=wait_text(self.env, wait))
            else:
                text = self.env._("Too many codes were asked from this connection. Try again in %s.",
                                  wait_text(self.env, wait))
            raise OtpRefused(text, reason=reason, retry_after=wait)
        blocked = self.env["notify.otp.attempt"]._blocked(user=user, client_ip=None)
        if blocked:
            raise OtpRefused(blocked.message, reason="user_blocked", retry_after=blocked.retry_after)

    # ---- delivery ------------------------------------------------------------------------------------
    def _otp_queue_message(self, first=False, after_route=None, reason=None):
        """Queue the code through the rule's delivery for this number (the first one serving it, or the one after
        ``after_route`` for a fallback). A code of ours is drawn now (a fallback draws a new one: the refused
        message never arrived); a provider's code is drawn by the provider when the dispatcher asks for it."""
        self.ensure_one()
        rule = self.rule_id.with_context(lang=self._otp_installed_lang(self.lang))
        vals = rule._prepare_message_vals(self, after_route=after_route)
        if vals.get("state") == "failed" or not vals.get("provider_account_id"):
            error = vals.get("last_error") or self.env._("No route of the rule serves this number.")
            if first:
                raise OtpRefused(error, reason="no_delivery")
            return self.env["notify.message"]
        account = self.env["notify.provider.account"].browse(vals["provider_account_id"])
        delegated = bool(vals.pop("otp_delegated", False))
        code = False
        if delegated:
            if first:
                try:
                    self.env["notify.otp.request"]._reserve(account, self.recipient_e164, vals["channel"])
                except OtpRefused as refusal:
                    refusal.reason = "provider_limit"
                    raise
            self.write({"delegated": True, "code_salt": False, "code_hash": False})
        else:
            code = otp_tools.new_code(self.code_length)
            salt = otp_tools.new_salt()
            self.write({"delegated": False, "code_salt": salt,
                        "code_hash": otp_tools.code_hash(self._otp_key(), salt, code)})
        self.write({"provider_account_id": account.id, "channel": vals["channel"]})
        if reason:
            vals["route_note"] = "\n".join(filter(None, [reason, vals.get("route_note")]))
        message = self.env["notify.message"].sudo().create(dict(
            vals, rule_id=self.rule_id.id, res_model=self._name, res_id=self.id, otp_id=self.id,
            otp_code=code, otp_kind="provider" if delegated else "local", priority=otp_tools.PRIORITY,
            expires_at=self.expires_at, next_attempt_at=fields.Datetime.now(), to_render=False,
        ))
        message._trigger_dispatch()
        return message

    def _otp_key(self):
        """The hashing key: the database secret, kept out of this table."""
        return self.env["ir.config_parameter"].sudo().get_param("database.secret") or ""

    def _otp_message_failed(self, message, reason):
        """The dispatcher gave up on a code message (refused, answer lost): the next route, else the challenge
        fails with the reason (the person asks for a new code)."""
        self.ensure_one()
        if self.state != "pending":
            return
        if self.rule_id.route_fallback:
            note = self.env._("Tried after %(account)s refused it: %(reason)s",
                              account=message.provider_account_id.name, reason=reason)
            fallback = self._otp_queue_message(after_route=message.route_id, reason=note)
            if fallback:
                fallback.fallback_of_id = message
                return
        self.write({"state": "failed", "failure_reason": reason})

    def _otp_close(self, state):
        """End pending challenges (replaced, expired): their codes still waiting in the outbox are not sent."""
        if not self:
            return
        self.write({"state": state})
        waiting = self.env["notify.message"].sudo().search([("otp_id", "in", self.ids), ("state", "=", "queued")])
        waiting.write({"state": "cancelled", "last_error": self.env._("A newer code replaced this one.")
                       if state == "replaced" else self.env._("The code expired before it could be sent.")})

    # ---- checking a code -----------------------------------------------------------------------------
    @api.model
    def _notify_find(self, public_id):
        if not isinstance(public_id, str) or not public_id:
            return self.sudo().browse()
        return self.sudo().search([("public_id", "=", public_id)], limit=1)

    def _notify_verify(self, code, *, client_ip=None):
        """Check a code: one attempt counted, one-time use, locked after max_attempts wrong codes; wrong codes
        per user and per IP counted across challenges. Returns OtpCheck."""
        challenge = self.sudo()
        if len(challenge) != 1:
            return self._otp_check("unknown_challenge")
        self.env.cr.execute("SELECT id FROM notify_otp WHERE id = %s FOR NO KEY UPDATE", [challenge.id])
        challenge.invalidate_recordset()
        env = challenge.with_context(lang=self._otp_installed_lang(challenge.lang)).env
        challenge = challenge.with_env(env)
        if challenge.state == "pending" and challenge.expires_at <= fields.Datetime.now():
            challenge._otp_close("expired")
        closed = challenge._notify_closed_check()
        if closed:
            return closed
        blocked = env["notify.otp.attempt"]._blocked(user=challenge.user_id, client_ip=client_ip)
        if blocked:
            return blocked
        code = str(code or "").strip()
        if challenge.delegated:
            valid = challenge._otp_check_at_provider(code)
            if isinstance(valid, OtpCheck):
                return valid
        else:
            valid = code.isdigit() and len(code) == challenge.code_length and otp_tools.code_matches(
                challenge._otp_key(), challenge.code_salt, code, challenge.code_hash)
        env["notify.otp.attempt"].create({"otp_id": challenge.id, "user_id": challenge.user_id.id,
                                          "client_ip": client_ip or False, "success": valid})
        if valid:
            challenge.write({"state": "verified", "verified_at": fields.Datetime.now()})
            return OtpCheck(valid=True)
        attempts = challenge.attempt_count + 1
        challenge.write({"attempt_count": attempts})
        if attempts >= challenge.max_attempts:
            challenge.write({"state": "locked"})
            return challenge._otp_check("too_many_attempts")
        left = challenge.max_attempts - attempts
        return OtpCheck(valid=False, reason="invalid_code", message=env._(
            "This code is not right. %s attempt(s) left.", left))

    def _notify_closed_check(self):
        """The verdict for a challenge that can no longer be verified (used, expired, locked, replaced, not
        sent), in the person's language; None while it waits for its code."""
        self.ensure_one()
        if self.state == "pending":
            return None
        return self._otp_check(CLOSED_REASONS[self.state])

    def _otp_check_at_provider(self, code):
        """A provider's code: asked to the provider that sent it (Chinqit by number, Wabek by its otpId)."""
        message = self.message_ids.filtered(lambda m: m.state in ("sent", "delivered", "read"))[:1]
        if not message:
            return self._otp_check("not_sent")
        account = message.provider_account_id
        try:
            with account._notify_get_client() as client:
                result = client.check_otp(message.provider_ref, self.recipient_e164, code, channel=message.channel)
        except ProviderError as error:
            return OtpCheck(valid=False, reason="provider_error", message=provider_error_text(self.env, error))
        return bool(result.verified)

    def _otp_check(self, reason):
        """The verdict for a reason, with its sentence in the person's language."""
        texts = {
            "unknown_challenge": self.env._("This code request is unknown. Ask for a new code."),
            "used": self.env._("This code was already used. Ask for a new code."),
            "expired": self.env._("This code has expired. Ask for a new code."),
            "too_many_attempts": self.env._("Too many wrong codes: this code is locked. Ask for a new code."),
            "replaced": self.env._("A newer code was sent: use the last one you received."),
            "not_sent": self.env._("The code could not be sent (%s). Ask for a new code.", self.failure_reason)
            if len(self) == 1 and self.failure_reason
            else self.env._("The code could not be sent. Ask for a new code."),
        }
        return OtpCheck(valid=False, reason=reason, message=texts[reason])

    # ---- housekeeping --------------------------------------------------------------------------------
    @api.model
    def _cron_purge(self):
        """Expire due challenges (their queued codes are not sent), wipe any code left in the outbox past its
        challenge, and delete challenges and attempts older than a day (the limits look back 24 hours)."""
        now = fields.Datetime.now()
        self.sudo().search([("state", "=", "pending"), ("expires_at", "<=", now)])._otp_close("expired")
        self.env["notify.message"]._cron_expire_codes()
        self.env.cr.execute(
            """UPDATE notify_message m SET otp_code = NULL FROM notify_otp o
                WHERE m.otp_id = o.id AND m.otp_code IS NOT NULL AND (o.state != 'pending' OR o.expires_at <= %s)""",
            [now])
        self.env["notify.message"].invalidate_model(["otp_code"])
        old = now - timedelta(days=1, hours=1)
        self.env.cr.execute("DELETE FROM notify_otp_attempt WHERE checked_at < %s", [old])
        self.sudo().search([("requested_at", "<", old)]).unlink()
        self.env.cr.execute("DELETE FROM notify_otp_lock WHERE touched_at < %s", [old])
