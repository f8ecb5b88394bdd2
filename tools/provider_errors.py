"""The provider clients' errors and results in the user's language.

The clients (plain Python, no `odoo`) raise ProviderError with an English `message` for the logs, a stable `code`
and `params`; this module turns the code into a sentence translated with `env._`. A code without an entry here (an
error built elsewhere, e.g. "unexpected error") falls back to the error's `message`.

Every sentence is written for the administrator who has to act on it; whether a retry follows is the caller's
business (`retrying=True`), since the same error can come from a connection test where nothing is retried.
"""

from ..clients.base import OutcomeUnknownError


def _seconds(value):
    """10.0 -> '10', 0.5 -> '0.5', 7.3 -> '8' (delays of a second or more are rounded up)."""
    value = float(value)
    if value >= 1 and value != int(value):
        value = int(value) + 1
    return f'{value:g}'


def _rate_limited(env, p):
    if p.get('retry_after') is not None:
        return env._(
            "%(provider)s asked us to slow down (too many requests) and to wait %(seconds)s seconds.",
            provider=p['provider'], seconds=_seconds(p['retry_after']),
        )
    return env._("%(provider)s asked us to slow down (too many requests).", provider=p['provider'])


def _refused(env, p):
    reason = p.get('provider_message') or env._("no reason given")
    status = p.get('status')
    if status and not 200 <= int(status) < 300:
        return env._("%(provider)s refused the request (HTTP %(status)s): %(provider_message)s",
                     provider=p['provider'], status=status, provider_message=reason)
    return env._("%(provider)s refused the request: %(provider_message)s",
                 provider=p['provider'], provider_message=reason)


def _no_answer_in_time(env, p):
    return env._("%(provider)s did not answer within %(timeout)s seconds.",
                 provider=p['provider'], timeout=_seconds(p['timeout']))


# code -> function(env, params) returning the translated sentence. Each text is a literal in an `env._` call so that
# the translation export finds it. A missing required param (KeyError) makes the caller fall back to `message`.
ERROR_TEXTS = {
    # -- configuration of the provider account (raised before anything is sent) --
    'no_base_url': lambda env, p: env._(
        "The %(provider)s account has no base URL for the environment '%(environment)s'.",
        provider=p['provider'], environment=p['environment']),
    'missing_credentials': lambda env, p: env._(
        "The %(provider)s account needs both the API key and the API secret.", provider=p['provider']),
    'bad_secret': lambda env, p: env._(
        "The API secret of the %(provider)s account is not valid base64: copy it exactly as given in the provider "
        "contract.", provider=p['provider']),
    'not_provider_url': lambda env, p: env._(
        "%(url)s does not answer like %(provider)s (HTTP %(status)s from something else): check the base URL.",
        url=p['url'], provider=p['provider'], status=p['status'])
    if p.get('status') else env._(
        "%(url)s does not answer like %(provider)s (HTTP 404 from something else): check the base URL.",
        url=p['url'], provider=p['provider']),
    'bad_url': lambda env, p: env._(
        "The base URL of the %(provider)s account, %(url)s, is not a valid web address.",
        provider=p['provider'], url=p['url']),
    'unknown_provider': lambda env, p: env._(
        "No client is available for the provider '%(provider)s'.", provider=p['provider']),
    'missing_api_key': lambda env, p: env._(
        "%(provider)s says that the API key is missing (HTTP %(status)s): check the API key of the provider account.",
        provider=p['provider'], status=p['status'])
    if p.get('status') else env._(
        "The %(provider)s account needs an API key.", provider=p['provider']),
    # -- the message itself --
    'no_template': lambda env, p: env._(
        "The message has no %(provider)s template reference: set the template reference on the rule.",
        provider=p['provider']),
    'bad_recipient': lambda env, p: env._(
        "The number '%(number)s' is not a valid international phone number.", number=p['number']),
    'not_mauritanian_recipient': lambda env, p: env._(
        "%(provider)s only sends to Mauritanian numbers (+222): '%(number)s' is not one.",
        provider=p['provider'], number=p['number']),
    'bad_mauritanian_recipient': lambda env, p: env._(
        "The number '%(number)s' is not a valid Mauritanian number: %(provider)s expects +222 followed by 8 digits "
        "starting with 2, 3 or 4.", number=p['number'], provider=p['provider']),
    'channel_not_supported': lambda env, p: env._(
        "%(provider)s cannot send this on the channel '%(channel)s'.", provider=p['provider'], channel=p['channel']),
    'empty_body': lambda env, p: env._(
        "The message has no text to send through %(provider)s.", provider=p['provider']),
    # -- one-time codes (OTP) --
    'bad_app_hash': lambda env, p: env._(
        "The SMS Retriever hash of the app must be exactly 11 characters (letters, digits, + or /) and only goes "
        "with the SMS channel of %(provider)s.", provider=p['provider']),
    'bad_otp_format': lambda env, p: env._("A verification code is exactly 6 digits."),
    'otp_unsupported': lambda env, p: env._(
        "%(provider)s does not send nor check one-time codes itself: send our code in a template or an SMS.",
        provider=p['provider']),
    'otp_only': lambda env, p: env._(
        "%(provider)s only sends the one-time codes it generates itself: it cannot send this message. Choose "
        "another provider account for this rule.", provider=p['provider']),
    'bad_otp_purpose': lambda env, p: env._(
        "The purpose of a %(provider)s code must be a text of 1 to %(max)s characters.",
        provider=p['provider'], max=p['max']),
    'missing_otp_reference': lambda env, p: env._(
        "There is no %(provider)s reference to check this code against: ask for a new code.",
        provider=p['provider']),
    # -- network --
    'unreachable': lambda env, p: env._(
        "%(provider)s could not be reached (%(error_type)s): check the base URL of the provider account and the "
        "server's internet access.", provider=p['provider'], error_type=p['error_type']),
    'timeout': _no_answer_in_time,
    'no_answer': _no_answer_in_time,  # + the "may or may not have been accepted" sentence of OutcomeUnknown
    # -- answers of the provider --
    'rate_limited': _rate_limited,
    'server_error': lambda env, p: env._(
        "%(provider)s had a problem on its side (HTTP %(status)s).", provider=p['provider'], status=p['status']),
    # + the "may or may not have been accepted" sentence of OutcomeUnknown
    'server_error_unknown': lambda env, p: env._(
        "%(provider)s had a problem on its side (HTTP %(status)s) after receiving the message.",
        provider=p['provider'], status=p['status']),
    'credentials': lambda env, p: env._(
        "%(provider)s refused the API key: check the API key of the provider account.", provider=p['provider'])
    if p.get('api_key_only') else env._(
        "%(provider)s refused the credentials: check the API key and secret of the provider account.",
        provider=p['provider']),
    'refused': _refused,
    'automation_not_found': lambda env, p: env._(
        "%(provider)s does not know the automation '%(reference)s', or it is inactive: check the template "
        "reference of the rule.", provider=p['provider'], reference=p['reference']),
    'message_not_found': lambda env, p: env._(
        "%(provider)s does not know the message '%(reference)s'.",
        provider=p['provider'], reference=p['reference']),
    'whatsapp_provider_error': lambda env, p: env._(
        "%(provider)s could not send through WhatsApp (HTTP %(status)s): %(provider_message)s",
        provider=p['provider'], status=p['status'], provider_message=p['provider_message']),
    'unreadable_answer': lambda env, p: env._(
        "%(provider)s sent an answer that cannot be read.", provider=p['provider']),
    'no_reference': lambda env, p: env._(
        "%(provider)s answered without a message reference.", provider=p['provider']),
    # -- Wazzup --
    'wazzup_not_connected': lambda env, p: env._(
        "The %(provider)s account is not connected: connect it from Wazzup's marketplace.", provider=p['provider']),
    'wazzup_no_channel': lambda env, p: env._(
        "The %(provider)s account has no active channel to send through: choose one on the account.",
        provider=p['provider']),
    'wazzup_text_too_long': lambda env, p: env._(
        "The text is %(length)s characters long; this %(provider)s channel takes %(limit)s at most.",
        provider=p['provider'], length=p['length'], limit=p['limit']),
    'wazzup_bad_crm_code': lambda env, p: env._(
        "The CRM code is 1 to 50 Latin letters, digits, hyphens or underscores.", provider=p['provider']),
    'wazzup_uri_too_long': lambda env, p: env._(
        "The webhook URL is longer than the 200 characters %(provider)s accepts.", provider=p['provider']),
    # Wazzup: the publisher's settings, a customer's connection, the set-up after it (from Wazzup's error codes,
    # models/notify_provider_account_wazzup_setup.py wazzup_error)
    'wazzup_developer_key_refused': lambda env, p: env._(
        "%(provider)s refused the developer key (HTTP %(status)s): check it in Settings > Notifications > Wazzup "
        "marketplace.", provider=p['provider'], status=p['status']),
    'wazzup_already_published': lambda env, p: env._(
        "%(provider)s has already published the integration: only its support can change the name and logo now.",
        provider=p['provider']),
    'wazzup_invalid_state': lambda env, p: env._(
        "%(provider)s refused this connection link: it was already used, is more than 10 minutes old, or does not "
        "come from %(provider)s. Click Connect in %(provider)s again.", provider=p['provider']),
    'wazzup_invalid_secret': lambda env, p: env._(
        "%(provider)s refused the secret of this Odoo: its administrator must register the integration with "
        "%(provider)s again (Settings > Notifications > Wazzup marketplace).", provider=p['provider']),
    'wazzup_connect_unreachable': lambda env, p: env._(
        "%(provider)s could not be reached, or asked to wait: nothing was connected. Click Connect in %(provider)s "
        "again in a few minutes.", provider=p['provider']),
    'wazzup_connect_unconfirmed': lambda env, p: env._(
        "%(provider)s did not confirm the connection (no answer, or an error on its side): nothing was connected "
        "in Odoo. Click Connect in %(provider)s again.", provider=p['provider']),
    'wazzup_test_post_failed': lambda env, p: env._(
        "%(provider)s could not reach this Odoo at %(url)s (its test call got %(answer)s): the system parameter "
        "web.base.url must be the public address of this Odoo, reachable from the internet.",
        provider=p['provider'], url=p['url'], answer=p['answer']),
    'wazzup_uri_not_valid': lambda env, p: env._(
        "%(provider)s refused the webhook address %(url)s as not valid: the system parameter web.base.url must be "
        "the public address of this Odoo.", provider=p['provider'], url=p['url']),
    # -- Intech (mobile money) --
    'missing_secret_key': lambda env, p: env._(
        "The %(provider)s account needs its secret key (Secretkey) to read the catalogue of services.",
        provider=p['provider']),
    'intech_missing_keys': lambda env, p: env._(
        "The %(provider)s account needs its API key and its HMAC secret to request an operation.",
        provider=p['provider']),
    'intech_secret_key_refused': lambda env, p: env._(
        "%(provider)s refused the secret key (Secretkey): %(provider_message)s",
        provider=p['provider'], provider_message=p.get('provider_message') or env._("no reason given")),
    'intech_bad_phone': lambda env, p: env._(
        "%(provider)s cannot serve the number '%(number)s' with this service: %(reason)s",
        provider=p['provider'], number=p['number'], reason=p['reason']),
    'intech_bad_amount': lambda env, p: env._(
        "The amount must be a whole number above 0 (%(provider)s takes amounts without decimals), not %(amount)s.",
        provider=p['provider'], amount=p['amount']),
    'intech_bad_reference': lambda env, p: env._(
        "The operation has no valid external transaction id.", provider=p['provider']),
    'intech_unreadable': lambda env, p: env._(
        "%(provider)s answered without saying whether the operation was accepted. Check in your %(provider)s "
        "dashboard whether it exists before asking again: its IPN may still report it.", provider=p['provider']),
}

STATUS_ERROR_TEXTS = {
    'delivery_failed': lambda env, p: env._(
        "%(provider)s could not deliver the message: %(provider_message)s",
        provider=p['provider'], provider_message=p['provider_message'])
    if p.get('provider_message') else env._(
        "%(provider)s reports the message as '%(provider_status)s'.",
        provider=p['provider'], provider_status=p['provider_status']),
}

CONNECTION_TEXTS = {
    'connection_ok': lambda env, p: env._(
        "Connection OK: %(provider)s accepted the credentials (%(url)s).",
        provider=p['provider'], url=p['url']),
    'wazzup_connection_ok': lambda env, p: env._(
        "Connection OK: %(provider)s accepted the API key (%(active)s of %(count)s channels active).",
        provider=p['provider'], active=p['active'], count=p['count']),
    'intech_connection_ok': lambda env, p: env._(
        "Connection OK: %(provider)s accepted the secret key and lists %(count)s services. The API key and the HMAC "
        "secret are checked by the first operation.", provider=p['provider'], count=p['count']),
}


def _text(env, texts, code, params, fallback):
    build = texts.get(code)
    if build is None:
        return fallback, False
    params = dict(params or {})
    if not params.get('provider'):
        params['provider'] = env._("The provider")
    try:
        return build(env, params), True
    except (KeyError, TypeError, ValueError):  # params not as expected: the English message is still right
        return fallback, False


def provider_error_text(env, error, *, retrying=False):
    """The sentence of a ProviderError in `env`'s language; `retrying=True` adds that a retry is scheduled.

    An OutcomeUnknownError (sent, but no readable answer) also says that the message may have been accepted.
    """
    fallback = getattr(error, 'message', None) or str(error)
    text, translated = _text(env, ERROR_TEXTS, getattr(error, 'code', None), getattr(error, 'params', None),
                             fallback)
    if translated and isinstance(error, OutcomeUnknownError) and (getattr(error, 'params', None) or {}).get('money'):
        text += ' ' + env._("The operation may or may not have been carried out: it will not be requested again. "
                            "Its IPN may still tell; otherwise check in the provider's dashboard and mark it done or "
                            "failed.")
    elif translated and isinstance(error, OutcomeUnknownError):
        text += ' ' + env._("The message may or may not have been accepted: check in the provider's dashboard or "
                            "with the recipient before sending it again.")
    if retrying:
        text += ' ' + env._("It will be retried automatically.")
    return text


def connection_result_text(env, result):
    """The success sentence of test_connection() (a ConnectionResult, or any str) in `env`'s language."""
    return _text(env, CONNECTION_TEXTS, getattr(result, 'code', None), getattr(result, 'params', None),
                 str(result))[0]


def status_error_text(env, status):
    """Why a StatusResult says 'failed', in `env`'s language; False when it carries no error."""
    if not (status.error or status.error_code):
        return False
    return _text(env, STATUS_ERROR_TEXTS, getattr(status, 'error_code', None),
                 getattr(status, 'error_params', None), status.error)[0]


# InvalidPhoneError code -> sentence; params: raw (the number as typed), code (country code), country (its name).
PHONE_ERROR_TEXTS = {
    'empty': lambda env, p: env._("No phone number."),
    'unknown_country': lambda env, p: env._("'%(code)s' is not a known country code.", code=p['code']),
    'no_country': lambda env, p: env._(
        "The number '%(raw)s' has no country code: write it as +<country code><number> or set a country "
        "on the contact or the provider account.", raw=p['raw']),
    'invalid': lambda env, p: env._("The number '%(raw)s' is not a valid phone number for %(country)s.",
                                    raw=p['raw'], country=p['country'])
    if p.get('country') else env._("The number '%(raw)s' is not a valid phone number.", raw=p['raw']),
    # Chinqit (clients/phone.py to_mauritanian_e164)
    'not_mauritanian': lambda env, p: env._(
        "Chinqit only sends to Mauritanian numbers (+222): '%(raw)s' is not one.", raw=p['raw']),
    'bad_prefix': lambda env, p: env._(
        "'%(raw)s' is not a Mauritanian mobile number: the 8 digits after +222 must start with 2, 3 or 4.",
        raw=p['raw']),
}


def phone_error_text(env, error, country_name=''):
    """An InvalidPhoneError (clients/phone.py) in `env`'s language; a provider with its own number rules adds the
    codes of its errors here."""
    params = {'raw': error.raw, 'code': error.country, 'country': country_name}
    return _text(env, PHONE_ERROR_TEXTS, error.code, params, str(error))[0]
