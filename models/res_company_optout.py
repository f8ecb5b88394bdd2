"""The company's opt-out words (Settings > Notifications > Opt-out): an inbound message made of one of them
blacklists its sender's number (models/notify_inbound_event_optout.py).

Per company, because companies speak to different people: Douala's customers write ARRET, Nouakchott's توقف.
"""

import re
import unicodedata

from odoo import fields, models

DEFAULT_OPTOUT_KEYWORDS = "STOP, ARRET, ARRÊT, STOPALL, UNSUBSCRIBE, توقف"
_SEPARATORS = re.compile(r"[,;\n]")


def normalise_word(text):
    """How a reply is compared with the words: case, accents (and Arabic short vowels, combining marks too),
    surrounding spaces and trailing punctuation do not count, so 'Arrêt !', 'ARRET' and 'arret' are one word;
    anything else does ('stop please' is not 'stop')."""
    text = unicodedata.normalize("NFKD", str(text or "").strip().casefold())
    text = "".join(char for char in text if not unicodedata.combining(char))
    while text and (text[-1].isspace() or unicodedata.category(text[-1]).startswith("P")):
        text = text[:-1]
    return unicodedata.normalize("NFC", text.strip())


class ResCompany(models.Model):
    _inherit = "res.company"

    notify_optout_keywords = fields.Char(
        string="Opt-out words", default=DEFAULT_OPTOUT_KEYWORDS,
        help="Comma-separated. A person who replies with only one of these words (case, accents and final "
        "punctuation ignored) is added to the phone blacklist and gets no more messages. Empty: replies never "
        "opt out.")

    def _notify_optout_words(self):
        """The company's words, normalised as replies are."""
        self.ensure_one()
        words = (normalise_word(word) for word in _SEPARATORS.split(self.notify_optout_keywords or ""))
        return {word for word in words if word}

    def _notify_is_optout_reply(self, text):
        """Whether a reply consists only of one of the company's opt-out words."""
        self.ensure_one()
        word = normalise_word(text)
        return bool(word) and word in self._notify_optout_words()
