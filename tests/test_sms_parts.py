"""How many SMS a text costs (tools/sms_parts.py): GSM-7 vs UCS-2, concatenation headers, extension characters."""

from ..tools.sms_parts import sms_parts, sms_text
from .common import LoopbackCase


class TestSmsParts(LoopbackCase):
    def test_encodings_and_parts(self):
        cases = {
            "": ("GSM-7", 0, 0),
            "Facture réglée": ("GSM-7", 14, 1),  # é is in the GSM-7 alphabet
            "Votre reçu est prêt": ("UCS-2", 19, 1),  # ç and ê are not
            "مرحبا، فاتورتكم متاحة": ("UCS-2", 21, 1),
            "a" * 160: ("GSM-7", 160, 1),
            "a" * 161: ("GSM-7", 161, 2),  # 153 per part once concatenated
            "a" * 306: ("GSM-7", 306, 2),
            "a" * 307: ("GSM-7", 307, 3),
            "ê" * 70: ("UCS-2", 70, 1),
            "ê" * 71: ("UCS-2", 71, 2),  # 67 per part
            "€" * 80: ("GSM-7", 80, 1),  # extension characters take two septets: 160
            "€" * 81: ("GSM-7", 81, 2),
            "😀" * 35: ("UCS-2", 35, 1),  # outside the BMP: two UTF-16 units each, 70
            "😀" * 36: ("UCS-2", 36, 2),
        }
        for text, (encoding, length, parts) in cases.items():
            with self.subTest(text=text[:20]):
                result = sms_parts(text)
                self.assertEqual((result.encoding, result.length, result.parts), (encoding, length, parts))

    def test_non_breaking_spaces_are_sent_plain(self):
        self.assertEqual(sms_text("65\u202f000\u00a0FCFA\u2007!"), "65 000 FCFA !")
        self.assertEqual(sms_parts(sms_text("Montant\u00a0: 65\u202f000 UM")).encoding, "GSM-7")
        self.assertEqual(sms_text(None), "")
