"""How many SMS a text costs: GSM 03.38 (7-bit) when every character is in its alphabet, UCS-2 otherwise.

French accents split: é, è, à, ù, ì, ò, É, Ç... are GSM-7 (é and É are; ê, â, î, ô, ç are not), so "Facture
réglée" fits 160 characters while "Votre reçu est prêt" falls back to UCS-2 (70). Arabic is always UCS-2.
Characters of the GSM extension table (€ [ ] { } ~ ^ \\ |) take two septets.
"""

from typing import NamedTuple

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")

GSM7_SINGLE, GSM7_PART = 160, 153  # a concatenated part carries a 7-octet header
UCS2_SINGLE, UCS2_PART = 70, 67


# Spaces that French number and date formats put in a text (65 000 FCFA, 14 h 30): not GSM-7, they would turn
# a whole SMS into UCS-2 (70 characters a part instead of 160) for a character nobody sees.
NARROW_SPACES = str.maketrans({"\u00a0": " ", "\u202f": " ", "\u2007": " "})


def sms_text(text):
    """The text as it is sent: invisible non-breaking spaces made plain."""
    return (text or "").translate(NARROW_SPACES)


class SmsParts(NamedTuple):
    encoding: str  # 'GSM-7' or 'UCS-2'
    length: int  # characters as the user counts them
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)
    parts: int


def sms_parts(text):
    """SmsParts of `text` (empty text: 0 parts)."""
    text = text or ""
    if all(char in GSM7_BASIC or char in GSM7_EXTENSION for char in text):
        encoding, single, part = "GSM-7", GSM7_SINGLE, GSM7_PART
        units = sum(2 if char in GSM7_EXTENSION else 1 for char in text)
    else:
        encoding, single, part = "UCS-2", UCS2_SINGLE, UCS2_PART
        units = len(text.encode("utf-16-le")) // 2  # an emoji outside the BMP takes two units
    if not units:
        parts = 0
    elif units <= single:
        parts = 1
    else:
        parts = -(-units // part)
    return SmsParts(encoding, len(text), units, parts)
