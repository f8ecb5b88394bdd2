"""The opt-out link (issue 10): its token (plain Python), the variable that puts it in a template for the message's
recipient, and the public page over real HTTP: GET shows the masked number and writes nothing (link previews fetch
it), POST with the CSRF token blacklists the number once, a forged or altered token is a 404 that writes nothing."""

import base64
import re
from urllib.parse import urlsplit

from odoo.tests import HttpCase, tagged
from odoo.tools import mute_logger

from ..tools.field_path import RenderError
from ..tools.optout_token import MAX_TOKEN_LENGTH, _signature, make_token, masked_number, verify_token
from .common import LoopbackCase, NotifyCase

SECRET = "a-database-secret"
NUMBER = "+237690000001"
OTHER = "+237690000002"


def csrf_of(html):
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


class TestOptoutToken(LoopbackCase):
    def test_a_token_names_its_number(self):
        token = make_token(NUMBER, SECRET)
        self.assertEqual(verify_token(token, SECRET), NUMBER)
        encoded, signature = token.split(".")
        self.assertEqual(base64.urlsafe_b64decode(encoded + "=="), NUMBER.encode())
        self.assertRegex(signature, r"^[0-9a-f]{32}$")
        self.assertNotIn("=", token)
        self.assertEqual(verify_token(encoded + "=." + signature, SECRET), NUMBER, "padding is accepted")

    def test_forged_or_altered_tokens_name_nothing(self):
        token = make_token(NUMBER, SECRET)
        encoded, signature = token.split(".")
        other_encoded = make_token(OTHER, SECRET).split(".")[0]
        flipped = signature[:-1] + ("0" if signature[-1] != "0" else "1")
        for bad in (
            make_token(NUMBER, "another-secret"),  # made by another database
            f"{other_encoded}.{signature}",  # another number with this number's signature
            f"{encoded}.{flipped}",  # one character of the signature changed
            f"{encoded}.{signature[:-2]}",  # truncated
            f"{encoded}.{signature.upper()}",
            encoded, "", ".", f".{signature}", f"{encoded}.",
            f"{encoded}!.{signature}", f"{encoded}.{signature}.x",
            "A" * (MAX_TOKEN_LENGTH + 1),
        ):
            self.assertIsNone(verify_token(bad, SECRET), bad)
        self.assertIsNone(verify_token(token, ""), "no secret: nothing is valid")
        self.assertIsNone(verify_token(None, SECRET))

    def test_a_signed_text_that_is_not_a_number_names_nothing(self):
        text = "not-a-number"
        encoded = base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")
        self.assertIsNone(verify_token(f"{encoded}.{_signature(text, SECRET)}", SECRET))

    def test_make_refuses_what_it_cannot_sign(self):
        with self.assertRaises(ValueError):
            make_token(NUMBER, "")
        for number in ("690000001", "+0237690000001", "+237 690000001", "", None):
            with self.assertRaises(ValueError):
                make_token(number, SECRET)

    def test_masked_number(self):
        self.assertEqual(masked_number("+237690000001"), "+237 6 •• •• •• 01")
        self.assertEqual(masked_number("+22227635642"), "+222 2• •• •• 42")
        self.assertEqual(masked_number("+221772457199"), "+221 7• ••• •• 99")


@tagged("post_install", "-at_install")
class TestOptoutPage(HttpCase):
    def setUp(self):
        super().setUp()
        self.blacklist = self.env["phone.blacklist"].with_context(active_test=False)
        self.assertFalse(self.blacklist.search([]))

    def url(self, number=NUMBER):
        return urlsplit(self.env["phone.blacklist"]._notify_optout_url(number)).path

    def get(self, path):
        response = self.url_open(path)
        self.env.invalidate_all()
        return response

    def confirm(self, path, csrf=True):
        """The Confirm button: a POST with the CSRF token of the page shown just before (as a browser does)."""
        page = self.url_open(path)
        data = {"csrf_token": csrf_of(page.text)} if csrf else {"confirm": "1"}
        response = self.url_open(path, data=data)
        self.env.invalidate_all()
        return response

    def page_of(self, response):
        return re.search(r'data-page="([a-z]+)"', response.text).group(1)

    def test_get_shows_the_masked_number_and_writes_nothing(self):
        for _repeat in range(2):  # a link preview, then the person
            response = self.get(self.url())
            self.assertEqual(response.status_code, 200)
            self.assertEqual(self.page_of(response), "confirm")
        self.assertIn("+237 6 •• •• •• 01", response.text)
        self.assertNotIn("690000001", response.text)
        self.assertIn('name="csrf_token"', response.text)
        self.assertFalse(self.blacklist.search([]))

    def test_post_blacklists_the_number_once(self):
        csrf = csrf_of(self.url_open(self.url()).text)
        response = self.url_open(self.url(), data={"csrf_token": csrf})
        self.env.invalidate_all()
        self.assertEqual((response.status_code, self.page_of(response)), (200, "done"))
        entry = self.blacklist.search([("number", "=", NUMBER)])
        self.assertTrue(entry.active)
        self.assertIn("Opted out from a notification link", "".join(entry.message_ids.mapped("body")))
        again = self.url_open(self.url(), data={"csrf_token": csrf})  # the form submitted twice
        self.env.invalidate_all()
        self.assertEqual((again.status_code, self.page_of(again)), (200, "already"))
        self.assertEqual(self.page_of(self.get(self.url())), "already")
        self.assertEqual(len(self.blacklist.search([])), 1)
        self.assertEqual(len(entry.message_ids.filtered(lambda m: "notification link" in (m.body or ""))), 1)

    def test_a_number_removed_earlier_is_blacklisted_again(self):
        self.env["phone.blacklist"]._remove([NUMBER], message="Wants messages again")
        self.assertEqual(self.page_of(self.get(self.url())), "confirm")
        self.assertEqual(self.page_of(self.confirm(self.url())), "done")
        self.assertTrue(self.blacklist.search([("number", "=", NUMBER)]).active)

    def test_post_without_the_csrf_token_writes_nothing(self):
        with mute_logger("odoo.http"):
            response = self.confirm(self.url(), csrf=False)
        self.assertEqual(response.status_code, 400)
        with mute_logger("odoo.http"):
            response = self.url_open(self.url(), data={"csrf_token": "0" * 40 + "o9999999999"})
        self.assertEqual(response.status_code, 400)
        self.assertFalse(self.blacklist.search([]))

    def test_forged_or_tampered_tokens_are_not_found(self):
        token = self.url().rsplit("/", 1)[1]
        encoded, signature = token.split(".")
        other_encoded = self.url(OTHER).rsplit("/", 1)[1].split(".")[0]
        csrf = csrf_of(self.url_open(self.url()).text)
        secret = self.env["ir.config_parameter"].sudo().get_param("database.secret")
        self.assertNotEqual(secret, SECRET)
        for bad in (make_token(NUMBER, SECRET), f"{other_encoded}.{signature}", f"{encoded}.{'0' * 32}",
                    encoded, "nothing"):
            path = "/notify/optout/" + bad
            for response in (self.get(path), self.url_open(path, data={"csrf_token": csrf})):
                self.assertEqual(response.status_code, 404, bad)
                self.assertEqual(self.page_of(response), "invalid")
                self.assertNotIn("+237", response.text)
        self.assertFalse(self.blacklist.search([]))

    def test_a_token_only_opts_out_its_own_number(self):
        self.assertEqual(self.page_of(self.confirm(self.url(OTHER))), "done")
        self.assertEqual(self.blacklist.search([]).mapped("number"), [OTHER])
        self.assertEqual(self.page_of(self.get(self.url())), "confirm")

    def test_the_page_speaks_the_visitors_language(self):
        self.env["res.lang"]._activate_lang("fr_FR")
        response = self.url_open(self.url(), headers={"Accept-Language": "fr-CM,fr;q=0.9"})
        self.assertIn('lang="fr-FR"', response.text)
        response = self.url_open(self.url(), headers={"Accept-Language": "en-US"})
        self.assertIn('lang="en-US"', response.text)


@tagged("post_install", "-at_install")
class TestOptoutVariable(NotifyCase):
    TEMPLATE = "tpl-with-optout"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.wap_sim.add_automation(cls.TEMPLATE, variables=["customer_name", "optout_url"])
        cls.rule.write({"template_ref": cls.TEMPLATE, "variable_ids": [
            (0, 0, {"name": "optout_url", "source": "optout_link"})]})

    def expected_url(self, number):
        base = self.env["ir.config_parameter"].sudo().get_param("web.base.url").rstrip("/")
        return f"{base}/notify/optout/{make_token(number, self.env['phone.blacklist']._notify_optout_secret())}"

    def test_the_line_needs_no_field_nor_template(self):
        line = self.rule.variable_ids.filtered(lambda v: v.source == "optout_link")
        self.assertFalse(line.field_path or line.template)

    def test_the_message_carries_the_link_of_its_recipient(self):
        partner = self.make_partner(mobile="6 90 00 00 01")
        message = self.messages_of(partner)
        self.assertEqual(message.payload["optout_url"], self.expected_url(NUMBER))
        token = message.payload["optout_url"].rsplit("/", 1)[1]
        self.assertEqual(self.env["phone.blacklist"]._notify_optout_number(token), NUMBER)
        self.dispatch()
        self.assertEqual(message.state, "sent")
        self.assertEqual(self.accepted_posts()[0]["json"]["variables"]["optout_url"], self.expected_url(NUMBER))

    def test_the_preview_shows_the_link(self):
        partner = self.make_partner(mobile="690 00 00 02")
        preview = self.env["notify.rule.preview"].create(
            {"rule_id": self.rule.id, "record_ref": f"res.partner,{partner.id}"})
        self.assertTrue(preview.ok)
        self.assertIn(f"optout_url: {self.expected_url(OTHER)}", preview.variables_text)

    def test_without_a_number_the_link_is_an_error(self):
        partner = self.make_partner(mobile=False)
        preview = self.env["notify.rule.preview"].create(
            {"rule_id": self.rule.id, "record_ref": f"res.partner,{partner.id}"})
        self.assertFalse(preview.ok)
        self.assertIn("Variable optout_url: the opt-out link needs the recipient's number", preview.error)
        message = self.messages_of(partner)
        self.assertEqual(message.state, "failed")
        self.assertIn("opt-out link needs the recipient's number", message.last_error)

    def test_an_optional_link_without_a_number_is_empty(self):
        line = self.rule.variable_ids.filtered(lambda v: v.source == "optout_link")
        line.required = False
        self.assertEqual(line._render(self.env["res.partner"].create({"name": "Nobody"})), "")

    def test_a_number_that_is_not_e164_gets_no_link(self):
        line = self.rule.variable_ids.filtered(lambda v: v.source == "optout_link")
        with self.assertRaisesRegex(RenderError, "Variable optout_url: no opt-out link: not an E.164 number"):
            line._render(self.env["res.partner"].create({"name": "Local"}), recipient="690000001")
