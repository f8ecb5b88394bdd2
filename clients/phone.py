"""Phone number helpers: everything we store and send starts from an E.164 number."""

import re

import phonenumbers
from phonenumbers import geocoder

_SEPARATORS = re.compile(r'[\s.\-()/]')


class InvalidPhoneError(ValueError):
    """Raised with a sentence an administrator can act on.

    ``code`` ('empty', 'unknown_country', 'no_country', 'invalid') with ``raw`` and ``country`` lets the Odoo
    side say the same thing in the user's language.
    """

    def __init__(self, message, code='invalid', raw='', country=''):
        super().__init__(message)
        self.code, self.raw, self.country = code, raw, country


def country_name(region, lang='en'):
    """The country's name for an ISO-2 region, through phonenumbers' public API ('' when unknown)."""
    example = phonenumbers.example_number(region) if region else None
    return geocoder.country_name_for_number(example, lang) if example else ''


def _country_label(region):
    name = country_name(region)
    return f'{name} ({region})' if name else region


def to_e164(raw, default_country=None):
    """Return `raw` as E.164 ('+237690000000'); accept spaces, dots, dashes, a '00' prefix or a national number
    when `default_country` (ISO-2) is given. Raise InvalidPhoneError otherwise."""
    cleaned = _SEPARATORS.sub('', raw or '')
    if not cleaned:
        raise InvalidPhoneError('No phone number.', code='empty')
    if cleaned.startswith('00'):
        cleaned = '+' + cleaned[2:]
    region = (default_country or '').upper() or None
    if region and region not in phonenumbers.SUPPORTED_REGIONS:
        raise InvalidPhoneError(f"'{default_country}' is not a known country code.", 'unknown_country', raw,
                                default_country)
    international = cleaned.startswith('+')
    if not international and not region:
        raise InvalidPhoneError(
            f"The number '{raw}' has no country code: write it as +<country code><number> or set a country.",
            'no_country', raw,
        )
    where = '' if international else f' for {_country_label(region)}'
    try:
        number = phonenumbers.parse(cleaned, region)
    except phonenumbers.NumberParseException:
        number = None
    if number is None or not phonenumbers.is_valid_number(number):
        raise InvalidPhoneError(f"The number '{raw}' is not a valid phone number{where}.", 'invalid', raw,
                                '' if international else region)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def split_e164(e164):
    """Return (ISO-2 country, national significant number): '+237690000000' -> ('CM', '690000000')."""
    try:
        number = phonenumbers.parse(e164 or '', None)
    except phonenumbers.NumberParseException:
        number = None
    if number is None or not phonenumbers.is_valid_number(number):
        raise InvalidPhoneError(
            f"The number '{e164}' is not a valid international (E.164) phone number.", 'invalid', e164
        )
    return phonenumbers.region_code_for_number(number), phonenumbers.national_significant_number(number)


def format_international(e164):
    """'+237690000001' -> '+237 6 90 00 00 01' for people to read; '' when not a valid number."""
    try:
        number = phonenumbers.parse(e164 or '', None)
    except phonenumbers.NumberParseException:
        return ''
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
