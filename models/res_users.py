"""The login second factor by a code sent by SMS or WhatsApp, plugged into Odoo's own MFA hooks as auth_totp is.

After the password, ``Session.authenticate`` leaves a partial session (``pre_uid``) whenever ``_mfa_url()`` names
a second step; ``/web/login/notify_otp`` (controllers/otp_login.py) asks the OTP engine for a code, checks it and
finalizes the session. Each MFA module answers ``_mfa_type`` only when ``super()`` has nothing: a user with an
authenticator app (auth_totp) keeps it, and our code is asked only of the others whom the company's policy covers.
"""

from odoo import api, fields, models

MFA_TYPE = "notify_otp"
MFA_URL = "/web/login/notify_otp"


class ResUsers(models.Model):
    _inherit = "res.users"

    notify_otp_login = fields.Boolean(
        string="Login code by SMS/WhatsApp", copy=False,
        help="Ask for a code sent to your mobile after your password, when your company lets each user choose "
             "(policy \"Users who turned it on\"). Companies may also require it for everyone.")
    notify_otp_login_required = fields.Boolean(
        string="Login code asked", compute="_compute_notify_otp_login",
        help="A code sent to the mobile is asked after the password at the next login (the company's policy, "
             "or the user's choice).")
    notify_otp_login_mobile = fields.Char(
        string="Login codes go to", compute="_compute_notify_otp_login",
        help="The contact's mobile, else its phone.")

    @property
    def SELF_READABLE_FIELDS(self):
        return super().SELF_READABLE_FIELDS + [
            "notify_otp_login", "notify_otp_login_required", "notify_otp_login_mobile"]

    @property
    def SELF_WRITEABLE_FIELDS(self):
        return super().SELF_WRITEABLE_FIELDS + ["notify_otp_login"]

    @api.depends("notify_otp_login", "company_id.notify_otp_login_policy", "share", "partner_id.mobile",
                 "partner_id.phone")
    def _compute_notify_otp_login(self):
        for user in self:
            user.notify_otp_login_required = bool(user.id) and user._notify_otp_required()
            user.notify_otp_login_mobile = user._notify_otp_phone()

    def _notify_otp_required(self):
        """Whether the policy of the user's company asks this user for a code: off → nobody, selected → the
        users who opted in, internal → internal users, all → every user, portal included."""
        self.ensure_one()
        user = self.sudo()
        policy = user.company_id.notify_otp_login_policy or "off"
        if policy == "selected":
            return user.notify_otp_login
        if policy == "internal":
            return user._is_internal()
        return policy == "all"

    def _notify_otp_phone(self):
        """Where the code goes, as the user typed it (the engine normalises and validates it)."""
        self.ensure_one()
        partner = self.sudo().partner_id
        return (partner.mobile or partner.phone or "").strip()

    def _notify_otp_trusted_days(self):
        return max(self.sudo().company_id.notify_otp_trusted_days or 0, 0)

    def _mfa_type(self):
        mfa_type = super()._mfa_type()
        if mfa_type is not None:
            return mfa_type
        if self._notify_otp_required():
            return MFA_TYPE
        return None

    def _mfa_url(self):
        url = super()._mfa_url()
        if url is not None:
            return url
        if self._mfa_type() == MFA_TYPE:
            return MFA_URL
        return None

    def _rpc_api_keys_only(self):
        """As with auth_totp: a password alone must not open XML-RPC/JSON-RPC for a user the policy protects with a
        second factor (that would bypass it); such integrations use an API key."""
        self.ensure_one()
        return self._mfa_type() == MFA_TYPE or super()._rpc_api_keys_only()
