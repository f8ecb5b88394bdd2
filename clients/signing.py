"""Signature helpers (HMAC) shared by the provider clients."""

import base64
import binascii
import hashlib
import hmac


def hmac_sha256_b64(key_bytes, message):
    """base64(HMAC-SHA256(key_bytes, message as UTF-8))."""
    digest = hmac.new(key_bytes, message.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode('ascii')


def decode_b64_secret(secret_b64):
    """Decode a base64 secret strictly; raise ValueError with plain words if it is not base64."""
    try:
        key = base64.b64decode((secret_b64 or '').strip(), validate=True)
    except (binascii.Error, ValueError):
        key = b''
    if not key:
        raise ValueError('The API secret is not valid base64: copy it exactly as given in the provider contract.')
    return key


def wap_signature(api_key, secret_b64, timestamp):
    """WAP: base64(HMAC-SHA256(key=base64decode(secret), msg=api_key + str(timestamp)))."""
    return hmac_sha256_b64(decode_b64_secret(secret_b64), f'{api_key}{int(timestamp)}')


def signatures_match(a, b):
    """Constant-time comparison of two signatures (str or bytes)."""
    a = a.encode() if isinstance(a, str) else (a or b'')
    b = b.encode() if isinstance(b, str) else (b or b'')
    return hmac.compare_digest(a, b)


def intech_signature(hmac_secret, method, timestamp, body_text):
    """Intech: hex(HMAC-SHA256(key=the HMAC secret as UTF-8, msg=f"{METHOD}:{timestamp}:{body}")), where body is
    JSON.stringify(the request body) (clients/js_json.py) and timestamp the Timestamp header (milliseconds)."""
    message = f'{method.upper()}:{timestamp}:{body_text}'
    return hmac.new((hmac_secret or '').encode(), message.encode('utf-8', 'surrogatepass'), hashlib.sha256).hexdigest()
