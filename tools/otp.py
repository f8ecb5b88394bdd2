"""The OTP engine's plain parts: code generation, keyed hashing, the refusal and the verdict.

A code is drawn with `secrets`, sent once, and kept only as HMAC-SHA256(key, challenge salt + code): a database
dump does not give the codes away (the key is the database secret, outside the table), and a check compares in
constant time. The outbox keeps a mask ("••••••") in place of the code; the clear code lives on the queued
message only until the provider has it (notify.message.otp_code, wiped on any final state).
"""

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from odoo.exceptions import UserError

MASK_CHAR = "\u2022"
MIN_LENGTH, MAX_LENGTH = 4, 10
LOGIN_PURPOSE = "odoo_login"  # Odoo's own second factor; refused from the served API
PRIORITY = 10  # notify.message.priority of a code: sent ahead of every bulk notification

# Brute force: wrong codes counted across challenges, per client IP and per user, over the last hour
WRONG_CODES_PER_IP_HOUR = 20
WRONG_CODES_PER_USER_HOUR = 10

# Why a request or a check was refused (machine-readable: the served API and the login page map them)
REFUSAL_REASONS = (
    "invalid_phone", "country_not_allowed", "cooldown", "phone_limit", "ip_limit", "no_rule", "no_delivery",
    "provider_limit", "user_blocked",
)
CHECK_REASONS = (
    "invalid_code", "expired", "used", "too_many_attempts", "replaced", "not_sent", "ip_blocked", "user_blocked",
    "unknown_challenge", "provider_error",
)


class OtpRefused(UserError):
    """A code request refused before anything was sent: `reason` (one of REFUSAL_REASONS), the sentence for the
    person (already translated), and `retry_after` seconds when waiting will help."""

    def __init__(self, message, *, reason, retry_after=None):
        super().__init__(message)
        self.reason = reason
        self.retry_after = retry_after


@dataclass
class OtpCheck:
    """The verdict on a code: valid, or why not (one of CHECK_REASONS) with the sentence for the person."""

    valid: bool
    reason: str | None = None
    message: str | None = None
    retry_after: int | None = None


def new_code(length):
    if not MIN_LENGTH <= length <= MAX_LENGTH:
        raise ValueError(f"an OTP code has {MIN_LENGTH} to {MAX_LENGTH} digits")
    return "".join(secrets.choice("0123456789") for _ in range(length))


def new_salt():
    return secrets.token_hex(16)


def code_hash(key, salt, code):
    return hmac.new(key.encode(), f"{salt}:{code}".encode(), hashlib.sha256).hexdigest()


def code_matches(key, salt, code, stored_hash):
    if not stored_hash:
        return False
    return hmac.compare_digest(code_hash(key, salt, str(code)), stored_hash)


def mask(length):
    return MASK_CHAR * length
