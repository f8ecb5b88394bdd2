"""Phone number helpers: everything we store and send starts from an E.164 number."""

import re

import phonenumbers
from phonenumbers import geocoder

_SEPARATORS = re.compile(r'[\s.\-()/]')


class InvalidPhoneError(ValueError):
    """Raised with a sentence an administrator can act on.

    ``code`` ('empty', 'unknown_country', 'no_country', 'invalid'; for Mauritanian numbers also 'not_mauritanian'
    and 'bad_prefix') with ``raw`` and ``country`` lets the Odoo side say the same thing in the user's language.
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


MR_CALLING_CODE = 222
MR_LOCAL_FIRST_DIGITS = '234'
_PLAIN_NUMBER = re.compile(r'\+?[0-9]+')


def to_mauritanian_e164(raw, default_country=None):
    """Return a Mauritanian number as '+222XXXXXXXX', the one form Chinqit documents, from what people type:
    '+222 27 63 56 42', '27-63-56-42', '0022238089336', '22238089336' (the country code without '+'), '38089336'.

    The rule of validity is the provider's (8 digits after +222, starting with 2, 3 or 4), not phonenumbers'
    metadata, which disagrees on both sides: it refuses numbers Chinqit accepts (its MR ranges leave out 251-257,
    259, 450, 458 and 459, e.g. +222 45 00 00 00) and accepts toll-free 800 numbers that Chinqit refuses.
    phonenumbers only parses (country code, '00', national number).

    A number without country code is Mauritanian, as Chinqit reads it, unless `default_country` (ISO-2: the
    contact's or the account's country) is another country where it is a valid number: then it is that country's.
    """
    cleaned = _SEPARATORS.sub('', raw or '')
    if not cleaned:
        raise InvalidPhoneError('No phone number.', code='empty')
    invalid = InvalidPhoneError(
        f"The number '{raw}' is not a valid Mauritanian phone number: write it as +222 followed by 8 digits.",
        code='invalid', raw=raw, country='MR',
    )
    if not _PLAIN_NUMBER.fullmatch(cleaned):  # phonenumbers would read letters as a keypad's digits
        raise invalid
    if cleaned.startswith('00'):
        cleaned = '+' + cleaned[2:]
    elif len(cleaned) == 11 and cleaned.startswith(str(MR_CALLING_CODE)):  # the document's "222XXXXXXXX"
        cleaned = '+' + cleaned
    region = (default_country or 'MR').upper()
    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise InvalidPhoneError(f"'{default_country}' is not a known country code.", 'unknown_country', raw,
                                default_country)
    number = _parse(cleaned, region)
    if number is not None and number.country_code != MR_CALLING_CODE and (
            cleaned.startswith('+') or phonenumbers.is_valid_number(number)):
        country = phonenumbers.region_code_for_number(number) or ''
        of_country = f', it is a number of {_country_label(country)}' if country else ''
        raise InvalidPhoneError(f"The number '{raw}' is not a Mauritanian number (+222){of_country}.",
                                code='not_mauritanian', raw=raw, country=country)
    if not cleaned.startswith('+'):
        number = _parse(cleaned, 'MR')
    national = phonenumbers.national_significant_number(number) if number is not None else ''
    if len(national) != 8 or not national.isdigit():
        raise invalid
    if national[0] not in MR_LOCAL_FIRST_DIGITS:
        raise InvalidPhoneError(
            f"The number '{raw}' is not a valid Mauritanian phone number: the 8 digits after +222 must start with "
            "2, 3 or 4.", code='bad_prefix', raw=raw, country='MR',
        )
    return f'+{MR_CALLING_CODE}{national}'


def _parse(text, region):
    try:
        return phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None


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
