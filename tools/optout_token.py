"""Opt-out links (issue 10): a token that names one phone number and proves that this database wrote it.

The link goes out in WhatsApp/SMS messages and is opened by anyone holding it, without logging in, so the token
itself must say which number it is for and must be impossible to forge for another number: the number (urlsafe
base64, without '=' padding, which some SMS link detectors cut off) then an HMAC-SHA256 of it, keyed with the
database secret, truncated to 32 hex characters (128 bits: enough against guessing, short enough for an SMS).
Plain Python: the caller passes the secret (``database.secret``), so this is testable without a database.
"""

import base64
import binascii
import hashlib
import hmac
import re

import phonenumbers

MESSAGE_PREFIX = "notify-optout:"  # a signature made here is never valid for another use of the same secret
SIGNATURE_LENGTH = 32
MAX_TOKEN_LENGTH = 128
E164_RE = re.compile(r"^\+[1-9][0-9]{6,14}$")
ENCODED_RE = re.compile(r"^[A-Za-z0-9_-]+$")
SIGNATURE_RE = re.compile(r"^[0-9a-f]{%d}$" % SIGNATURE_LENGTH)
MASK = "\u2022"  # •


def _signature(number, secret):
    digest = hmac.new(secret.encode(), (MESSAGE_PREFIX + number).encode(), hashlib.sha256).hexdigest()
    return digest[:SIGNATURE_LENGTH]


def make_token(number, secret):
    """The token of an E.164 number. Refuses an empty secret (every token would be forgeable) and a number that
    is not E.164 (the link must name exactly the number the blacklist will hold)."""
    if not secret:
        raise ValueError("an opt-out token needs the database secret")
    if not E164_RE.match(number or ""):
        raise ValueError(f"not an E.164 number: {number!r}")
    encoded = base64.urlsafe_b64encode(number.encode("ascii")).decode("ascii").rstrip("=")
    return f"{encoded}.{_signature(number, secret)}"


def verify_token(token, secret):
    """The number a token names, or None when it is malformed, altered or signed with another secret. Nothing
    but a well-formed token reaches the comparison, which is in constant time."""
    if not secret or not isinstance(token, str) or len(token) > MAX_TOKEN_LENGTH:
        return None
    encoded, dot, signature = token.partition(".")
    encoded = encoded.rstrip("=")
    if not dot or not ENCODED_RE.match(encoded) or not SIGNATURE_RE.match(signature):
        return None
    try:
        number = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode("ascii")
    except (binascii.Error, ValueError):
        return None
    if not E164_RE.match(number):
        return None
    if not hmac.compare_digest(signature, _signature(number, secret)):
        return None
    return number


def masked_number(number):
    """'+237 6•• •• •• 01': enough for its owner to recognise the number, not enough for whoever else opens the
    link to learn it. The country code, the first digit and the last two digits stay."""
    try:
        text = phonenumbers.format_number(phonenumbers.parse(number), phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    except phonenumbers.NumberParseException:
        text = number
    prefix, _space, rest = text.partition(" ")
    if not rest:  # not formatted by groups: keep the same digits visible
        prefix, rest = text[:4], text[4:]
    positions = [index for index, char in enumerate(rest) if char.isdigit()]
    hidden = set(positions[1:-2])
    return f"{prefix} " + "".join(MASK if index in hidden else char for index, char in enumerate(rest))
