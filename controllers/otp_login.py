"""/web/login/notify_otp: the second step of a login protected by a code sent by SMS or WhatsApp.

The page follows auth_totp's /web/login/totp: it serves a partial session (``pre_uid``, left by
``Session.authenticate`` when ``_mfa_url()`` names this page) and finalizes it once the code is right. Limits,
cooldown, attempts and the brute-force counters per user and IP are the OTP engine's (notify.otp); this controller
only maps its answers to what the person sees. Wrong codes also count in Odoo's own login cooldown per address, as
auth_totp's do. A trusted device is auth_totp's too: a key of auth_totp.device (res.users.apikeys, scope "browser")
in its ``td_id`` cookie, listed and revocable with the user's other trusted devices.
"""

import logging
import re
from datetime import datetime, timedelta

from odoo import fields, http
from odoo.exceptions import AccessDenied
from odoo.http import request

from odoo.addons.auth_totp.controllers.home import TRUSTED_DEVICE_COOKIE
from odoo.addons.web.controllers import home as web_home

from ..clients.phone import format_international
from ..models.res_users import MFA_TYPE, MFA_URL
from ..tools.otp import LOGIN_PURPOSE, MASK_CHAR, OtpCheck, OtpRefused

_logger = logging.getLogger(__name__)

SESSION_KEY = "notify_otp_login_id"
VISIBLE_DIGITS = 4
# Engine refusals that mean "this user has no number we can send to": the company's no-mobile policy applies
NO_MOBILE_REASONS = ("invalid_phone",)
# Verdicts on a guess (as opposed to a challenge already closed): they count in Odoo's login cooldown
GUESS_REASONS = ("invalid_code", "too_many_attempts")


def mask_number(e164):
    """'+22227635642' -> '+222 •• •• 56 42': enough for people to recognise their number, not to learn it."""
    text = format_international(e164) or e164 or ""
    prefix, _sep, rest = text.partition(" ")
    if not rest:
        prefix, rest = "", text
    keep, masked = VISIBLE_DIGITS, []
    for char in reversed(rest):
        if char.isdigit():
            masked.append(char if keep > 0 else MASK_CHAR)
            keep -= 1
        else:
            masked.append(char)
    return " ".join(filter(None, [prefix, "".join(reversed(masked))]))


class NotifyOtpLogin(web_home.Home):
    @http.route(MFA_URL, type="http", auth="public", methods=["GET", "POST"], sitemap=False,
                website=True, multilang=False)  # as auth_totp's: website would break the login layout
    def web_login_notify_otp(self, redirect=None, **kwargs):
        if request.session.uid:
            return request.redirect(self._login_redirect(request.session.uid, redirect=redirect))
        uid = request.session.pre_uid
        if not uid:
            return request.redirect("/web/login")
        request.update_context(lang=request.env["res.users"].sudo().browse(uid).lang or request.env.lang)
        user = request.env(user=uid)["res.users"].browse(uid)
        if user._mfa_type() != MFA_TYPE:  # the policy changed since the password: the right step, or back
            return request.redirect(user._mfa_url() or "/web/login")

        trusted_days = user._notify_otp_trusted_days()
        method = request.httprequest.method
        if method == "GET" and trusted_days and self._notify_otp_trusted_device(user):
            _logger.info("Login code: trusted device of %s %r, no code asked", user, user.sudo().login)
            return self._notify_otp_finalize(redirect)

        values = {"user": user, "redirect": redirect, "trusted_days": trusted_days, "error": None, "notice": None}
        challenge = self._notify_otp_current(user)
        resend = method == "POST" and bool(kwargs.get("resend"))
        if resend or (method == "GET" and not challenge):
            phone = user._notify_otp_phone()
            if not phone:
                return self._notify_otp_no_mobile(user, values, None)
            try:
                challenge = request.env["notify.otp"]._notify_request(
                    LOGIN_PURPOSE, phone, user=user, client_ip=request.httprequest.remote_addr,
                    company=user.company_id, lang=user.lang)
            except OtpRefused as refusal:
                if refusal.reason in NO_MOBILE_REASONS:
                    return self._notify_otp_no_mobile(user, values, str(refusal))
                values["error"] = str(refusal)
            else:
                request.session[SESSION_KEY] = challenge.public_id
                if resend:
                    values["notice"] = request.env._("A new code was sent. The previous one no longer works.")
        elif method == "POST" and kwargs.get("code") is not None:
            check = self._notify_otp_verify(user, challenge, re.sub(r"\s", "", kwargs["code"]))
            if check.valid:
                _logger.info("Login code: SUCCESS for %s %r", user, user.sudo().login)
                return self._notify_otp_finalize(redirect, remember_days=trusted_days if kwargs.get("remember")
                                                 else 0)
            _logger.info("Login code: FAIL (%s) for %s %r", check.reason, user, user.sudo().login)
            values["error"] = check.message
        page = self._notify_otp_page(challenge)
        values["error"] = values["error"] or page.pop("closed_message", None)
        request.session.touch()  # as auth_totp: the session must be saved for Odoo's mobile app
        return request.render("notify_rules.otp_login_form", dict(values, **page))

    # ---- the challenge of this login -------------------------------------------------------------------
    def _notify_otp_current(self, user):
        """The challenge this page is about: the session's while it can still be answered, else the user's live
        login challenge asked from another page (reused rather than replaced: a second login within the resend
        cooldown would be refused), else the session's closed one (to say why it is closed)."""
        Otp = request.env["notify.otp"]
        mine = Otp._notify_find(request.session.get(SESSION_KEY))
        if mine and (mine.user_id != user or mine.purpose != LOGIN_PURPOSE):
            mine = Otp.browse()
        if mine and self._notify_otp_live(mine):
            return mine
        live = Otp.sudo().search([("user_id", "=", user.id), ("purpose", "=", LOGIN_PURPOSE),
                                  ("state", "=", "pending"), ("expires_at", ">", fields.Datetime.now())], limit=1)
        if live:
            request.session[SESSION_KEY] = live.public_id
            return live
        return mine

    @staticmethod
    def _notify_otp_live(challenge):
        return challenge.state == "pending" and challenge.expires_at > fields.Datetime.now()

    def _notify_otp_verify(self, user, challenge, code):
        """The engine's verdict; a wrong guess also counts in Odoo's login cooldown of this address, whose own
        refusal is returned when it applies."""
        was_pending = bool(challenge) and challenge.state == "pending"
        check = None
        try:
            with user._assert_can_auth(user=user.id):
                check = (challenge or request.env["notify.otp"].browse())._notify_verify(
                    code, client_ip=request.httprequest.remote_addr)
                if not check.valid and was_pending and check.reason in GUESS_REASONS:
                    raise AccessDenied(check.message)
        except AccessDenied as error:
            if check is None:  # Odoo's cooldown refused the attempt before any check
                return OtpCheck(valid=False, reason="login_cooldown", message=error.args[0])
        return check

    def _notify_otp_page(self, challenge):
        """What the page shows about the challenge: the code form while it is live, the locked state, or only
        "Send a new code"."""
        if not challenge:
            return {"challenge": challenge, "state": "resend"}
        if self._notify_otp_live(challenge):
            channel = dict(challenge._fields["channel"]._description_selection(request.env)).get(challenge.channel)
            number = mask_number(challenge.recipient_e164)
            if channel:
                sent_to = request.env._("A code was sent by %(channel)s to %(number)s.", channel=channel,
                                        number=number)
            else:
                sent_to = request.env._("A code was sent to %(number)s.", number=number)
            return {"challenge": challenge, "state": "code", "sent_to": sent_to,
                    "code_length": challenge.code_length}
        closed = challenge._notify_closed_check() or challenge._otp_check("expired")  # pending, but past expiry
        return {"challenge": challenge, "state": "locked" if challenge.state == "locked" else "resend",
                "closed_message": closed.message}

    # ---- outcomes --------------------------------------------------------------------------------------
    def _notify_otp_trusted_device(self, user):
        key = request.cookies.get(TRUSTED_DEVICE_COOKIE)
        return bool(key) and request.env["auth_totp.device"]._check_credentials_for_uid(
            scope="browser", key=key, uid=user.id)

    def _notify_otp_finalize(self, redirect, remember_days=0):
        """The partial session becomes the user's (auth_totp's steps), and the device is remembered if asked."""
        request.session.pop(SESSION_KEY, None)
        request.session.finalize(request.env)
        request.update_env(user=request.session.uid)
        request.update_context(**request.session.context)
        response = request.redirect(self._login_redirect(request.session.uid, redirect=redirect))
        if remember_days:
            self._notify_otp_remember_device(response, remember_days)
        request.session.touch()
        return response

    def _notify_otp_remember_device(self, response, days):
        agent = request.httprequest.user_agent
        browser = agent.browser or request.env._("Browser")  # not nested in the _() below: babel would miss it
        platform = agent.platform or request.env._("unknown system")
        name = request.env._("%(browser)s on %(platform)s (login code)", browser=browser.capitalize(),
                             platform=platform.capitalize())
        key = request.env["auth_totp.device"].sudo()._generate(
            "browser", name, datetime.now() + timedelta(days=days))
        response.set_cookie(key=TRUSTED_DEVICE_COOKIE, value=key, max_age=days * 86400, httponly=True,
                            samesite="Lax", secure=request.httprequest.scheme == "https")

    def _notify_otp_no_mobile(self, user, values, reason):
        """No number to send the code to: the company says whether the password alone lets the user in."""
        policy = user.sudo().company_id.notify_otp_login_no_mobile or "block"
        _logger.info("Login code: no valid mobile for %s %r (%s)", user, user.sudo().login, policy)
        values = dict(values, reason=reason, state="no_mobile_" + ("allow" if policy == "allow" else "block"))
        if policy == "allow":
            request.session.pop(SESSION_KEY, None)
            request.session.finalize(request.env)
            request.update_env(user=request.session.uid)
            request.update_context(**request.session.context)
            values["continue_url"] = self._login_redirect(request.session.uid, redirect=values["redirect"])
        request.session.touch()
        return request.render("notify_rules.otp_login_form", values)
