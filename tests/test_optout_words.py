"""Opt-out words (issue 10): a reply made only of STOP, ARRET, توقف... on a Wazzup chat, received through the real
webhook route over HTTP and posted by the cron, puts the sender's number in Odoo's phone blacklist and says so on
the contact; anything else (a sentence, an echo, a deleted message, a group chat, another company's word, an empty
list) changes nothing."""

import json

from odoo.tests import HttpCase, tagged

from ..models.notify_provider_account_wazzup import crm_key_hash
from ..models.res_company_optout import DEFAULT_OPTOUT_KEYWORDS, normalise_word
from .common import LoopbackCase

CRM_KEY = "crm-key-of-the-optout-test-0123456789"
OTHER_CRM_KEY = "crm-key-of-the-second-company-98765"
ROUTE = "/notify_rules/wazzup/webhook"
NUMBER = "221772457199"


class TestNormaliseWord(LoopbackCase):
    def test_case_accents_and_final_punctuation_do_not_count(self):
        for text in ("Stop", "STOP!", " stop . ", "StOp!!?", "stop…"):
            self.assertEqual(normalise_word(text), "stop", text)
        for text in ("arrêt", "ARRET", "Arrêt !", "ARRÊT."):
            self.assertEqual(normalise_word(text), "arret", text)
        self.assertEqual(normalise_word("توقف"), normalise_word("تَوَقَّفْ؟"))  # short vowels, Arabic question mark

    def test_other_words_stay_other(self):
        self.assertEqual(normalise_word("stop please"), "stop please")
        self.assertEqual(normalise_word("¡stop"), "¡stop")  # only final punctuation goes
        self.assertEqual(normalise_word(""), "")
        self.assertEqual(normalise_word(None), "")


@tagged("post_install", "-at_install")
class TestOptoutWords(HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company = cls.env.company
        cls.account = cls.env["notify.provider.account"].create({
            "name": "Wazzup opt-out", "provider": "wazzup", "environment": "sandbox",
            "base_url": "http://127.0.0.1:9/wazzup", "wazzup_api_key": "api-key",
            "wazzup_crm_key_hash": crm_key_hash(CRM_KEY), "company_id": cls.company.id})
        cls.partner = cls.env["res.partner"].create({"name": "Awa Ndiaye", "mobile": "+221 77 245 71 99"})

    def setUp(self):
        super().setUp()
        self.blacklist = self.env["phone.blacklist"].with_context(active_test=False)
        self.assertFalse(self.blacklist.search([]), "the test starts with an empty blacklist")

    def receive(self, text, message_id, key=CRM_KEY, **values):
        item = dict({"messageId": message_id, "channelId": "chan-1", "chatType": "whatsapp", "chatId": NUMBER,
                     "dateTime": "2026-12-02T08:00:00.000Z", "type": "text", "status": "inbound", "text": text,
                     "isEcho": False, "contact": {"name": "Awa"}}, **values)
        response = self.url_open(ROUTE, data=json.dumps({"messages": [item]}).encode(), headers={
            "Content-Type": "application/json", "Authorization": f"Bearer {key}"})
        self.assertEqual(response.status_code, 200)
        self.env["notify.inbound.event"]._cron_wazzup_messages()
        self.env.invalidate_all()
        return self.env["notify.inbound.event"].search([("source", "=", "wazzup")], order="id desc", limit=1)

    def blacklisted(self, number="+" + NUMBER):
        return self.blacklist.search([("number", "=", number), ("active", "=", True)])

    def notes(self, partner=None, needle="opted out of notifications by replying"):
        return (partner or self.partner).message_ids.filtered(lambda m: needle in (m.body or ""))

    def test_stop_blacklists_the_number_and_notes_it_on_the_contact(self):
        event = self.receive("Stop", "in-stop")
        entry = self.blacklisted()
        self.assertEqual(len(entry), 1)
        self.assertIn("Opted out by replying “Stop” on Whatsapp (Wazzup).", "".join(entry.message_ids.mapped("body")))
        # the reply itself is still on the chatter, from the person, then the note
        replies = self.partner.message_ids.filtered(lambda m: "<p>Stop</p>" in (m.body or ""))
        self.assertEqual(replies.author_id, self.partner)
        note = self.notes()
        self.assertEqual(len(note), 1)
        self.assertIn("The number +221772457199 opted out of notifications by replying “Stop”.", note.body)
        self.assertEqual(note.subtype_id, self.env.ref("mail.mt_note"))
        self.assertTrue(event.result.endswith("; opted out"), event.result)
        self.assertEqual(event.partner_id, self.partner)

    def test_variants_of_the_default_words(self):
        texts = ["STOP!", "arrêt", "ARRET", " Arrêt ! ", "توقف", "تَوَقَّفْ؟", "unsubscribe.", "StopAll"]
        for index, text in enumerate(texts):
            number = f"22177000010{index}"
            self.receive(text, f"in-variant-{index}", chatId=number, contact={"name": f"Client {index}"})
            self.assertTrue(self.blacklisted("+" + number), text)
        self.assertEqual(len(self.blacklist.search([])), len(texts))

    def test_a_sentence_with_stop_is_not_an_opt_out(self):
        for index, text in enumerate(["Stop sending me promos", "Je veux arrêter", "stop stop", "STOP 🛑",
                                      "¿stop", "Bonjour", ""]):
            event = self.receive(text, f"in-sentence-{index}")
            self.assertFalse(event.result.endswith("opted out"), text)
        self.assertFalse(self.blacklist.search([]))
        self.assertFalse(self.notes())

    def test_an_echo_is_not_an_opt_out(self):
        """STOP written by a colleague from the business phone is not the customer's reply."""
        self.receive("STOP", "in-echo", isEcho=True, authorName="Moussa")
        self.assertFalse(self.blacklist.search([]))
        self.assertFalse(self.notes())

    def test_a_deleted_message_or_a_chat_without_number_is_not_an_opt_out(self):
        self.receive("STOP", "in-deleted", isDeleted=True)
        self.receive("STOP", "in-group", chatType="whatsgroup", chatId="120363000000000001")
        self.receive("STOP", "in-telegram", chatType="telegram", chatId="221772457199")
        self.assertFalse(self.blacklist.search([]))

    def test_an_edited_message_that_says_stop_opts_out(self):
        self.receive("Bonjour", "in-edit")
        self.assertFalse(self.blacklisted())
        self.receive("Stop", "in-edit", isEdited=True)
        self.assertTrue(self.blacklisted())

    def test_a_repeated_stop_changes_nothing_more(self):
        self.receive("STOP", "in-first")
        self.receive("STOP", "in-first")  # the same delivery again: applied once
        self.receive("Stop.", "in-second")  # a second reply
        entry = self.blacklisted()
        self.assertEqual(len(entry), 1)
        self.assertEqual(len(self.notes()), 1)
        self.assertEqual(len(self.notes(needle="it had already opted out")), 1)

    def test_a_number_removed_from_the_blacklist_opts_out_again(self):
        self.env["phone.blacklist"]._remove(["+" + NUMBER], message="Asked to receive messages again")
        self.assertFalse(self.blacklisted())
        self.receive("arret", "in-again")
        self.assertEqual(len(self.blacklist.search([("number", "=", "+" + NUMBER)])), 1)
        self.assertTrue(self.blacklisted())

    def test_without_a_contact_the_number_still_opts_out(self):
        self.account.wazzup_create_partners = False
        event = self.receive("STOP", "in-nobody", chatId="221779998877")
        self.assertEqual(event.result, "no contact; opted out")
        self.assertTrue(self.blacklisted("+221779998877"))

    def test_each_company_has_its_words(self):
        self.assertEqual(self.company.notify_optout_keywords, DEFAULT_OPTOUT_KEYWORDS)
        other = self.env["res.company"].create({"name": "Nouakchott Services", "notify_optout_keywords": "FIN"})
        self.env["notify.provider.account"].create({
            "name": "Wazzup Nouakchott", "provider": "wazzup", "environment": "sandbox",
            "base_url": "http://127.0.0.1:9/wazzup", "wazzup_api_key": "api-key-2",
            "wazzup_crm_key_hash": crm_key_hash(OTHER_CRM_KEY), "company_id": other.id})
        self.receive("STOP", "in-other-stop", key=OTHER_CRM_KEY, chatId="22227635642")
        self.assertFalse(self.blacklist.search([]), "STOP is not a word of the second company")
        self.receive("Fin !", "in-other-fin", key=OTHER_CRM_KEY, chatId="22227635642")
        self.assertTrue(self.blacklisted("+22227635642"))
        self.receive("fin", "in-first-fin")
        self.assertFalse(self.blacklisted(), "FIN is not a word of the first company")

    def test_an_empty_list_never_opts_out(self):
        self.company.notify_optout_keywords = False
        self.receive("STOP", "in-empty")
        self.company.notify_optout_keywords = " , ;"
        self.receive("STOP", "in-blank")
        self.assertFalse(self.blacklist.search([]))

    def test_the_setting_is_the_companys(self):
        settings = self.env["res.config.settings"].create({"notify_optout_keywords": "STOP, QUIT"})
        settings.execute()
        self.assertEqual(self.company.notify_optout_keywords, "STOP, QUIT")
        self.assertEqual(self.company._notify_optout_words(), {"stop", "quit"})
