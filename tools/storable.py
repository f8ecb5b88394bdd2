"""What PostgreSQL can keep of a sender's text: no NUL character (text and jsonb refuse it) and no lone surrogate
(not UTF-8). Inbound surfaces (Intech's IPN, Wazzup's webhooks) pass what they store through these."""


def storable_text(text, limit=None):
    if text is None:
        return None
    text = str(text).replace("\x00", "\ufffd").encode("utf-8", "replace").decode("utf-8")
    return text[:limit] if limit else text


def storable_json(value):
    """A JSON value with every string (keys included) made storable."""
    if isinstance(value, str):
        return storable_text(value)
    if isinstance(value, list):
        return [storable_json(item) for item in value]
    if isinstance(value, dict):
        return {storable_text(key): storable_json(item) for key, item in value.items()}
    return value
