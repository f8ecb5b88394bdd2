from odoo import api, fields, models

from ..clients.base import PermanentError, RetryableError
from ..clients.phone import InvalidPhoneError, to_mauritanian_e164

# The document gives no request limit for SMS sends; OTP sends are limited per number (3/min, 10/h, 20/day,
# enforced by notify.otp.request before any call). 60 requests a minute is a conservative default.
CHINQIT_DEFAULT_RATE = 60


class NotifyProviderAccount(models.Model):
    _inherit = "notify.provider.account"

    provider = fields.Selection(
        selection_add=[("chinqit", "Chinqit (SMS and OTP, Mauritania)")], ondelete={"chinqit": "cascade"}
    )
    chinqit_api_key = fields.Char(
        string="Chinqit API key", groups="base.group_system", copy=False,
        help="The key Chinqit gave you (sent as the X-API-Key header).",
    )

    def _notify_default_rate_limit(self):
        if self.provider == "chinqit":
            return CHINQIT_DEFAULT_RATE
        return super()._notify_default_rate_limit()

    def _notify_default_ambiguous_policy(self):
        # "Implémenter une logique de nouvelle tentative pour les erreurs transitoires (429, 500, 502)": Chinqit
        # asks for retries of its 500s. Without an idempotency key a retry may duplicate an SMS: the account says
        # so in its form, and an administrator may choose Hold instead.
        if self.provider == "chinqit":
            return "retry"
        return super()._notify_default_ambiguous_policy()

    @api.model
    def _notify_credential_fields(self):
        return dict(super()._notify_credential_fields(), chinqit=[("chinqit_api_key", True)])

    def _notify_credentials(self):
        if self.provider == "chinqit":
            return {"api_key": self.chinqit_api_key or ""}
        return super()._notify_credentials()

    def _notify_provider_recipient(self, e164):
        """Chinqit takes only Mauritanian numbers, as +222 and 8 digits starting with 2, 3 or 4."""
        if self.provider == "chinqit":
            return to_mauritanian_e164(e164)
        return super()._notify_provider_recipient(e164)

    def _notify_explain_invalid(self, raw, country):
        if self.provider == "chinqit" and country == "MR":
            try:
                to_mauritanian_e164(raw, country)
            except InvalidPhoneError as error:
                return error
        return super()._notify_explain_invalid(raw, country)

    # ---- OTP (the verification engine builds on these) -------------------------------------------------
    def _chinqit_send_otp(self, recipient_e164, channel="sms", lang=None, app_hash=None):
        """Ask Chinqit to send a code. The provider's per-number limits are enforced here first: a person over
        them gets a UserError saying when to retry, and no request is made. Returns the client's OtpSendResult.
        Provider errors (ProviderError) are the caller's to show."""
        self.ensure_one()
        number = to_mauritanian_e164(recipient_e164)
        reservation = self.env["notify.otp.request"]._reserve(self, number, channel)
        try:
            result = self._notify_get_client().send_otp(number, channel=channel, language=lang, app_hash=app_hash)
        except (PermanentError, RetryableError) as error:
            if error.http_status != 429:  # refused or not processed: no code went out, the slot is free again
                reservation.unlink()
            raise
        reservation.provider_ref = result.message_id
        return result

    def _chinqit_verify_otp(self, recipient_e164, code, channel="sms"):
        """Ask Chinqit whether the code is right; returns the client's OtpVerifyResult (retries_left kept)."""
        self.ensure_one()
        return self._notify_get_client().verify_otp(to_mauritanian_e164(recipient_e164), code, channel=channel)
