"""JSON exactly as JavaScript's ``JSON.stringify(value)`` writes it (no indentation argument).

Intech signs ``METHOD:timestamp:JSON.stringify(body)`` and its own validator re-serialises the parsed body with
``JSON.stringify`` (shared/provider-docs/intech-api.md): our bytes must be those, character for character, or the
signature fails. Python's ``json.dumps`` differs in four ways, each handled here:

- numbers: JavaScript prints a Number by ECMAScript's Number::toString (``100.0`` -> ``100``, ``1e-7`` ->
  ``1e-7``, ``1e21`` -> ``1e+21``, ``-0`` -> ``0``, NaN and Infinity -> ``null``); an integer is a double, so one
  beyond 2**53 loses its last digits exactly as in JavaScript, and one beyond the largest double is Infinity;
- key order: an object's keys that are array indices (``"0"``, ``"17"``, canonical integers below 2**32 - 1) come
  first in ascending order, then the others in insertion order;
- strings: non-ASCII is written as it is (``ensure_ascii=False``), control characters as ``\\b \\f \\n \\r \\t`` or
  ``\\u00xx``, and a lone surrogate as ``\\udxxx`` (well-formed JSON.stringify, ES2019); a JavaScript string
  is UTF-16, so two surrogate code points in a row (a pair) are one character, written as it is;
- no spaces after ``,`` and ``:``.

Cross-checked against Node's own JSON.stringify in tests/test_clients_js_json.py.
"""

import json
import math
import re
from decimal import Decimal

_ARRAY_INDEX_RE = re.compile(r'0|[1-9][0-9]*')
_MAX_ARRAY_INDEX = 2**32 - 2
_LONE_SURROGATE_RE = re.compile('[\ud800-\udfff]')


def _is_array_index(key):
    return bool(_ARRAY_INDEX_RE.fullmatch(key)) and int(key) <= _MAX_ARRAY_INDEX


def js_number(value):
    """ECMAScript Number::toString(value) for a Python int or float (after JavaScript's conversion to a double)."""
    try:
        number = float(value)
    except OverflowError:  # an integer beyond the largest double: JavaScript reads it as Infinity
        return 'null'
    if math.isnan(number) or math.isinf(number):
        return 'null'  # JSON.stringify writes non-finite numbers as null
    if number == 0:
        return '0'  # -0 too
    sign = '-' if number < 0 else ''
    # repr() gives the shortest digits that read back as the same double, as ECMAScript requires
    digits_tuple, exponent = Decimal(repr(abs(number))).normalize().as_tuple()[1:]
    digits = ''.join(map(str, digits_tuple))
    k = len(digits)
    n = exponent + k  # the decimal point sits after n digits
    if k <= n <= 21:
        text = digits + '0' * (n - k)
    elif 0 < n <= 21:
        text = digits[:n] + '.' + digits[n:]
    elif -6 < n <= 0:
        text = '0.' + '0' * (-n) + digits
    else:
        e = n - 1
        mantissa = digits if k == 1 else digits[0] + '.' + digits[1:]
        text = f"{mantissa}e{'+' if e >= 0 else '-'}{abs(e)}"
    return sign + text


def _js_string(text):
    if _LONE_SURROGATE_RE.search(text):
        # a JavaScript string is UTF-16: two surrogate code points in a row there are one character, written as is
        text = text.encode('utf-16-le', 'surrogatepass').decode('utf-16-le', 'surrogatepass')
    # json.dumps escapes exactly JSON.stringify's set (quote, backslash, control characters) when not ensure_ascii
    dumped = json.dumps(text, ensure_ascii=False)
    return _LONE_SURROGATE_RE.sub(lambda m: f'\\u{ord(m.group()):04x}', dumped)


def js_stringify(value):
    """The text JSON.stringify(value) returns, for what json.loads gives (dict, list, str, int, float, bool, None).

    Tuples are arrays. Keys must be strings, as in a JavaScript object."""
    if value is None:
        return 'null'
    if value is True:
        return 'true'
    if value is False:
        return 'false'
    if isinstance(value, (int, float)):
        return js_number(value)
    if isinstance(value, str):
        return _js_string(value)
    if isinstance(value, (list, tuple)):
        return '[' + ','.join(js_stringify(item) for item in value) + ']'
    if isinstance(value, dict):
        keys = list(value)
        if any(not isinstance(key, str) for key in keys):
            raise TypeError('JSON object keys must be strings')
        indices = sorted((key for key in keys if _is_array_index(key)), key=int)
        ordered = indices + [key for key in keys if not _is_array_index(key)]
        return '{' + ','.join(f'{_js_string(key)}:{js_stringify(value[key])}' for key in ordered) + '}'
    raise TypeError(f'{type(value).__name__} is not JSON serialisable')


def js_stringify_bytes(value):
    """js_stringify(value) as the UTF-8 bytes sent on the wire (a lone surrogate is already escaped)."""
    return js_stringify(value).encode('utf-8')
