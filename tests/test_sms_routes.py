"""SMS rules, per-country routes and fallback, over real HTTP to the WAP and Chinqit simulators."""

from odoo.exceptions import ValidationError
from odoo.tools import mute_logger

from ..tools.sms_parts import sms_parts
from .common import PARTNER_TEMPLATE, NotifyCase
from .simulator.chinqit import DEMO_API_KEY as CHINQIT_KEY
from .simulator.chinqit import seed_demo as seed_chinqit


class SmsRouteCase(NotifyCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.chinqit_sim = cls.simulator.chinqit
        seed_chinqit(cls.chinqit_sim)
        cls.chinqit = cls.env["notify.provider.account"].create({
            "name": "Chinqit Nouakchott",
            "provider": "chinqit",
            "environment": "sandbox",
            "base_url": cls.simulator.base_url("chinqit"),
            "chinqit_api_key": CHINQIT_KEY,
            "default_country_id": cls.env.ref("base.mr").id,
            "timeout": 5,
        })
        cls.mr = cls.env.ref("base.mr")
        cls.cm = cls.env.ref("base.cm")

    def setUp(self):
        super().setUp()
        self.chinqit_sim.reset()

    def sms_rule(self, **values):
        self.rule.active = False
        return self.env["notify.rule"].create(dict({
            "name": "SMS welcome",
            "model_id": self.env.ref("base.model_res_partner").id,
            "trigger": "on_create",
            "filter_domain": "[('ref', '=', 'notify-test')]",
            "action": "send_sms",
            "channel": "sms",
            "provider_account_id": self.chinqit.id,
            "sms_body": "Bonjour {{ object.name }}, bienvenue.",
            "recipient_path": "mobile",
        }, **values))

    def mr_partner(self, name="Mariem Mint Ahmed", mobile="27 63 56 42", **values):
        return self.make_partner(name=name, mobile=mobile, country_id=self.mr.id, **values)

    def chinqit_sends(self):
        return [r for r in self.chinqit_sim.requests if r["path"] == "/messages/send" and r["response_status"] == 200]


class TestSmsRule(SmsRouteCase):
    def test_sms_rule_renders_and_sends_through_chinqit(self):
        self.sms_rule()
        partner = self.mr_partner()
        message = self.messages_of(partner)
        self.assertEqual(message.state, "queued")
        self.assertEqual(message.channel, "sms")
        self.assertEqual(message.body, "Bonjour Mariem Mint Ahmed, bienvenue.")
        self.assertEqual(message.recipient_e164, "+22227635642")
        self.assertEqual(message.provider_account_id, self.chinqit)
        self.assertFalse(self.chinqit_sim.requests, "the business transaction must not call the provider")

        self.dispatch()
        self.assertEqual(message.state, "sent")
        [request] = self.chinqit_sends()
        self.assertEqual(request["json"], {"message": "Bonjour Mariem Mint Ahmed, bienvenue.",
                                           "phoneNumber": "+22227635642"})
        self.assertEqual(request["headers"]["X-API-Key"], CHINQIT_KEY)
        self.assertIn(message.provider_ref, self.chinqit_sim.messages)
        self.assertIn("SMS to +222 27 63 56 42: sent", partner.message_ids[0].body)
        # Chinqit has no status call: the poller leaves it alone
        self.env["notify.message"]._cron_poll_status()
        self.assertEqual(len(self.chinqit_sim.requests), 1)

    def test_sms_text_in_the_recipients_language(self):
        self.env["res.lang"]._activate_lang("fr_FR")
        rule = self.sms_rule(sms_body="Hello {{ object.name }}")
        rule.with_context(lang="fr_FR").sms_body = "Bonjour {{ object.name }}"
        french = self.messages_of(self.mr_partner(name="Fatimetou", lang="fr_FR"))
        english = self.messages_of(self.mr_partner(name="Sidi", mobile="38089336", lang="en_US"))
        self.assertEqual(french.body, "Bonjour Fatimetou")
        self.assertEqual(english.body, "Hello Sidi")

    def test_french_spaces_do_not_make_it_ucs2(self):
        """French formats put non-breaking spaces in amounts (65 000 FCFA) and before ! ? : ; sent as plain
        spaces, the SMS stays GSM-7 (160 characters a part, not 70)."""
        self.sms_rule(sms_body="Bonjour\u00a0{{ object.name }}\u202f! Solde\u00a0: 65\u202f000 UM")
        message = self.messages_of(self.mr_partner(name="Mariem"))
        self.assertEqual(message.body, "Bonjour Mariem ! Solde : 65 000 UM")
        self.assertEqual(sms_parts(message.body).encoding, "GSM-7")

    def test_numbers_refused_before_any_request(self):
        self.sms_rule()
        cases = {
            "12345678": "must start with 2, 3 or 4",
            "+237 6 90 00 00 01": "only sends to Mauritanian numbers",
        }
        for mobile, reason in cases.items():
            with self.subTest(mobile=mobile):
                message = self.messages_of(self.mr_partner(mobile=mobile))
                self.assertEqual(message.state, "failed")
                self.assertIn(reason, message.last_error)
        self.dispatch()
        self.assertFalse(self.chinqit_sim.requests)

    def test_bad_sms_configuration_refused_at_save(self):
        with self.assertRaisesRegex(ValidationError, "write the SMS text"):
            self.sms_rule(sms_body=False)
        with self.assertRaisesRegex(ValidationError, "does not carry SMS"):
            self.sms_rule(provider_account_id=self.account.id)
        with self.assertRaisesRegex(ValidationError, "an SMS goes on the SMS channel"):
            self.sms_rule(channel="whatsapp")
        with self.assertRaisesRegex(ValidationError, "nosuchfield"):
            self.sms_rule(sms_body="{{ object.nosuchfield }}")

    def test_sms_text_with_code_needs_a_template_editor(self):
        manager = self.env["res.users"].create({
            "name": "Notify manager", "login": "notify-sms-manager",
            "groups_id": [(6, 0, [self.env.ref("notify_rules.group_notify_manager").id,
                                  self.env.ref("base.group_partner_manager").id])],
        })
        with self.assertRaisesRegex(ValidationError, "may write templates with code"):
            self.sms_rule(sms_body="{{ object.env['res.users'].search([]) }}").with_user(manager).write(
                {"sms_body": "{{ object.env['res.users'].search([]) }}"})

    def test_preview_shows_text_length_and_parts(self):
        rule = self.sms_rule(sms_body="Reçu {{ object.name }}")
        partner = self.mr_partner(name="Aminetou")
        preview = self.env["notify.rule.preview"].create(
            {"rule_id": rule.id, "record_ref": f"res.partner,{partner.id}"})
        self.assertEqual(preview.sms_text, "Reçu Aminetou")
        self.assertEqual(preview.sms_summary, "13 characters, UCS-2, 1 SMS")  # ç is not GSM-7
        self.assertEqual(preview.recipient_provider, "+22227635642")
        self.assertIn("Chinqit Nouakchott", preview.delivery_text)
        rule.sms_body = "Facture réglée, merci {{ object.name }}. " * 6
        preview.invalidate_recordset()
        self.assertEqual(preview.sms_summary, "191 characters, GSM-7, 2 SMS")  # é is GSM-7


class TestRoutes(SmsRouteCase):
    def routed_rule(self, fallback=False):
        """Cameroon through WAP's template, Mauritania through a Chinqit SMS."""
        self.rule.write({
            "country_ids": [(6, 0, self.cm.ids)],
            "route_fallback": fallback,
            "route_ids": [(0, 0, {"country_ids": [(6, 0, self.mr.ids)], "action": "send_sms", "channel": "sms",
                                  "provider_account_id": self.chinqit.id,
                                  "sms_body": "Bienvenue {{ object.name }}"})],
        })
        return self.rule

    def test_one_rule_reaches_each_country_through_its_route(self):
        self.routed_rule()
        cameroon = self.messages_of(self.make_partner())
        mauritania = self.messages_of(self.mr_partner())
        self.assertEqual((cameroon.provider_account_id, cameroon.channel), (self.account, "whatsapp"))
        self.assertFalse(cameroon.route_id)
        self.assertEqual((mauritania.provider_account_id, mauritania.channel), (self.chinqit, "sms"))
        self.assertEqual(mauritania.route_id, self.rule.route_ids)
        self.assertEqual(mauritania.body, "Bienvenue Mariem Mint Ahmed")

        self.dispatch()
        self.assertEqual((cameroon.state, mauritania.state), ("sent", "sent"))
        self.assertEqual(len(self.accepted_posts()), 1)
        self.assertEqual(self.accepted_posts()[0]["json"]["recipient"], "690000001")
        self.assertEqual(len(self.chinqit_sends()), 1)

    def test_country_without_route_fails_with_the_reason(self):
        self.routed_rule()
        message = self.messages_of(self.make_partner(mobile="+221 77 123 45 67", country_id=self.env.ref("base.sn").id))
        self.assertEqual(message.state, "failed")
        self.assertIn("serves recipients in Senegal", message.last_error)

    def test_existing_one_route_rule_is_unchanged(self):
        """A rule saved before routes existed: no countries, no routes; it sends to every country as before."""
        self.assertFalse(self.rule.country_ids or self.rule.route_ids or self.rule.route_fallback)
        message = self.messages_of(self.make_partner())
        self.assertEqual(message.provider_account_id, self.account)
        self.assertEqual(message.template_ref, PARTNER_TEMPLATE)
        self.assertFalse(message.route_id)
        self.assertEqual(message.recipient_provider, "CM 690000001")

    def test_provider_that_cannot_serve_the_number_falls_back_at_rendering(self):
        """Chinqit first for every country: a Cameroonian number is not for it; with fallback, WAP takes it."""
        self.rule.write({
            "action": "send_sms", "channel": "sms", "provider_account_id": self.chinqit.id,
            "sms_body": "Bienvenue {{ object.name }}", "template_ref": False,
            "route_ids": [(0, 0, {"action": "send_template", "channel": "whatsapp",
                                  "provider_account_id": self.account.id, "template_ref": PARTNER_TEMPLATE})],
        })
        without = self.messages_of(self.make_partner(name="Sans repli"))
        self.assertEqual(without.state, "failed")
        self.assertIn("only sends to Mauritanian numbers", without.last_error)

        self.rule.route_fallback = True
        partner = self.make_partner(name="Avec repli", mobile="6 90 00 00 02")
        message = self.messages_of(partner)
        self.assertEqual((message.state, message.provider_account_id), ("queued", self.account))
        self.assertIn("Chinqit Nouakchott cannot carry it", message.route_note)
        self.dispatch()
        self.assertEqual(message.state, "sent")
        self.assertIn("cannot carry it", partner.message_ids[0].body)

    @mute_logger("odoo.addons.notify_rules.models.notify_message_dispatch")
    def test_permanent_refusal_falls_back_once_and_chatter_shows_both(self):
        """WAP refuses (unknown automation): the Chinqit SMS route serving Mauritania is tried, once."""
        self.rule.write({
            "template_ref": "no-such-automation",
            "route_fallback": True,
            "route_ids": [(0, 0, {"country_ids": [(6, 0, self.mr.ids)], "action": "send_sms", "channel": "sms",
                                  "provider_account_id": self.chinqit.id,
                                  "sms_body": "Bienvenue {{ object.name }}"})],
        })
        partner = self.mr_partner()
        first = self.messages_of(partner)
        self.assertEqual(first.provider_account_id, self.account)
        self.dispatch()
        self.assertEqual(first.state, "failed")
        second = self.messages_of(partner) - first
        self.assertEqual(second.fallback_of_id, first)
        self.assertEqual((second.provider_account_id, second.channel), (self.chinqit, "sms"))
        self.dispatch()
        self.assertEqual(second.state, "sent")
        self.assertEqual(len(self.chinqit_sends()), 1)
        notes = partner.message_ids.mapped("body")
        self.assertTrue(any("WhatsApp to +222 27 63 56 42: failed" in n for n in notes), notes)
        self.assertTrue(any("SMS to +222 27 63 56 42: sent" in n and "Tried after WAP test refused it" in n
                            for n in notes), notes)

    @mute_logger("odoo.addons.notify_rules.models.notify_message_dispatch")
    def test_fallback_is_tried_once_and_not_without_the_option(self):
        self.rule.write({"template_ref": "no-such-automation", "route_ids": [(0, 0, {
            "action": "send_template", "channel": "whatsapp", "provider_account_id": self.account.id,
            "template_ref": "no-such-automation-either"})]})
        partner = self.make_partner()
        self.dispatch()
        self.assertEqual(len(self.messages_of(partner)), 1, "no fallback unless the rule asks for it")
        self.rule.route_fallback = True
        partner = self.make_partner(name="Second")
        self.dispatch()
        self.dispatch()
        messages = self.messages_of(partner)
        self.assertEqual(len(messages), 2, "the fallback's own refusal does not fall back again")
        self.assertEqual(set(messages.mapped("state")), {"failed"})

    def test_route_of_another_company_refused(self):
        other = self.env["res.company"].create({"name": "Autre société"})
        account = self.chinqit.copy({"name": "Chinqit autre", "company_id": other.id})
        with self.assertRaisesRegex(ValidationError, "belongs to Autre société"):
            self.rule.write({"route_ids": [(0, 0, {"action": "send_sms", "channel": "sms",
                                                   "provider_account_id": account.id, "sms_body": "x"})]})

    def test_account_used_by_a_route_cannot_move_company(self):
        self.routed_rule()
        other = self.env["res.company"].create({"name": "Autre société"})
        with self.assertRaisesRegex(ValidationError, "uses this account"):
            self.chinqit.company_id = other
