"""Odoo's own SMS (sms.sms: templates, the composer, 'Send SMS' actions) through a Chinqit account, over real HTTP
to the Chinqit simulator: what Odoo's SMS screens and chatter show (sms state, failure type, notification)."""

from odoo.exceptions import UserError, ValidationError
from odoo.tests import tagged
from odoo.tools import mute_logger

from odoo.addons.sms.tests.common import MockSMS

from .common import NotifySimulatorMixin
from .simulator.chinqit import DEMO_API_KEY as CHINQIT_KEY
from .simulator.chinqit import seed_demo as seed_chinqit

MR_MOBILE = "+222 38 08 93 36"
MR_E164 = "+22238089336"


@tagged("post_install", "-at_install")
class TestOdooSms(NotifySimulatorMixin, MockSMS):
    """MockSMS (Odoo's own helper) only serves the Odoo IAP case: it never touches the Chinqit path."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.start_simulator()
        cls.chinqit_sim = cls.simulator.chinqit
        seed_chinqit(cls.chinqit_sim)
        cls.mr = cls.env.ref("base.mr")
        cls.company = cls.env.company
        cls.account = cls.env["notify.provider.account"].create({
            "name": "Chinqit Nouakchott",
            "provider": "chinqit",
            "environment": "sandbox",
            "base_url": cls.simulator.base_url("chinqit"),
            "chinqit_api_key": CHINQIT_KEY,
            "default_country_id": cls.mr.id,
            "timeout": 5,
        })
        settings = cls.env["res.config.settings"].create({"notify_sms_account_id": cls.account.id})
        settings.execute()
        cls.template = cls.env["sms.template"].create({
            "name": "Rendez-vous",
            "model_id": cls.env.ref("base.model_res_partner").id,
            "body": "Bonjour {{ object.name }}, votre rendez-vous est confirmé.",
        })
        cls.env["iap.account"].get("sms")  # the IAP case: Odoo's own SMSCase does the same

    def setUp(self):
        super().setUp()
        self.chinqit_sim.reset()

    # ---- helpers -------------------------------------------------------------------------------------
    def partner(self, mobile=MR_MOBILE, country="base.mr", **values):
        return self.env["res.partner"].create(dict(
            {"name": "Mariem Mint Ahmed", "mobile": mobile, "country_id": self.env.ref(country).id}, **values))

    def send_with_composer(self, partner):
        composer = self.env["sms.composer"].with_context(
            active_model="res.partner", active_id=partner.id, default_template_id=self.template.id,
        ).create({})
        self.assertEqual(composer.composition_mode, "comment")
        composer.action_send_sms()
        return partner.message_ids.filtered(lambda m: m.message_type == "sms")[:1]

    def sms_of(self, chatter_message):
        return self.env["sms.sms"].sudo().search([("mail_message_id", "=", chatter_message.id)])

    def outbox_of(self, sms):
        return self.env["notify.message"].search([("sms_uuid", "=", sms.uuid)])

    def notification_of(self, chatter_message):
        return chatter_message.notification_ids.filtered(lambda n: n.notification_type == "sms")

    def chinqit_sends(self):
        return [r for r in self.chinqit_sim.requests if r["path"] == "/messages/send"]

    def dispatch(self):
        self.env["notify.message"]._cron_dispatch()

    def refuse_next_send(self, reason):
        """Chinqit answers the next send with HTTP 400 (its validation envelope), over the wire."""
        sim = self.chinqit_sim

        def refuse(_api_key, _payload):
            del sim._send  # the simulator's own handler answers again
            return sim._refusal(400, "Validation failed", [reason])

        sim._send = refuse
        self.addCleanup(lambda: sim.__dict__.pop("_send", None))

    # ---- settings ------------------------------------------------------------------------------------
    def test_setting_takes_only_a_chinqit_account_of_the_company(self):
        self.assertEqual(self.company.notify_sms_account_id, self.account)
        self.assertEqual(self.env["res.config.settings"].create({}).notify_sms_account_id, self.account)
        wap = self.create_wap_account(self.env)
        with self.assertRaisesRegex(ValidationError, "choose a Chinqit account"):
            self.company.notify_sms_account_id = wap
        other = self.env["res.company"].create({"name": "Other company"})
        foreign = self.account.copy({"company_id": other.id, "chinqit_api_key": CHINQIT_KEY})
        with self.assertRaisesRegex(ValidationError, "belongs to Other company"):
            self.company.notify_sms_account_id = foreign

    # ---- (1) the happy path --------------------------------------------------------------------------
    def test_template_from_the_composer_goes_through_chinqit(self):
        partner = self.partner()
        chatter_message = self.send_with_composer(partner)
        sms = self.sms_of(chatter_message)
        message = self.outbox_of(sms)
        self.assertEqual(len(message), 1)
        self.assertEqual((message.state, message.channel, message.provider_account_id), ("queued", "sms", self.account))
        self.assertEqual((message.res_model, message.res_id), ("res.partner", partner.id))
        self.assertEqual(message.recipient_e164, MR_E164)
        self.assertEqual(message.body, "Bonjour Mariem Mint Ahmed, votre rendez-vous est confirmé.")
        self.assertIn("Odoo SMS", message.display_label)
        self.assertEqual(sms.state, "process")
        self.assertEqual(self.notification_of(chatter_message).notification_status, "process")
        self.assertFalse(self.chinqit_sim.requests, "sending from Odoo only queues: the dispatcher sends")

        chatter = partner.message_ids
        self.dispatch()
        [request] = self.chinqit_sends()
        self.assertEqual(request["json"], {"message": "Bonjour Mariem Mint Ahmed, votre rendez-vous est confirmé.",
                                           "phoneNumber": MR_E164})
        self.assertEqual(message.state, "sent")
        self.assertEqual((sms.state, sms.failure_type), ("pending", False))  # Odoo's "Sent"
        self.assertTrue(sms.to_delete, "sent: Odoo's send() asked to delete it (unlink_sent), as its gateway does")
        notification = self.notification_of(chatter_message)
        self.assertEqual((notification.notification_status, notification.failure_type), ("pending", False))
        self.assertEqual(partner.message_ids, chatter, "Odoo shows its SMS in the chatter: no note of ours")
        self.env["notify.message"]._cron_poll_status()  # Chinqit has no status call: it stays "Sent"
        self.assertEqual((len(self.chinqit_sim.requests), sms.state), (1, "pending"))

    def test_national_number_of_a_mauritanian_contact(self):
        partner = self.partner(mobile="38089336")
        self.send_with_composer(partner)
        self.dispatch()
        self.assertEqual(self.chinqit_sends()[0]["json"]["phoneNumber"], MR_E164)

    # ---- (2) numbers refused before any request ------------------------------------------------------
    def test_foreign_number_fails_at_once_as_country_not_supported(self):
        partner = self.partner(mobile="+33 6 12 34 56 78", country="base.fr")
        chatter_message = self.send_with_composer(partner)
        sms = self.sms_of(chatter_message)
        self.assertEqual((sms.state, sms.failure_type), ("error", "sms_country_not_supported"))
        notification = self.notification_of(chatter_message)
        self.assertEqual((notification.notification_status, notification.failure_type),
                         ("exception", "sms_country_not_supported"))
        self.assertTrue(chatter_message.has_sms_error)
        message = self.outbox_of(sms)
        self.assertEqual(message.state, "failed")
        self.assertIn("Mauritanian", message.last_error)
        self.dispatch()
        self.assertFalse(self.chinqit_sim.requests)

    def test_bad_prefix_and_missing_number(self):
        for mobile, failure_type in (("12345678", "sms_number_format"), (False, "sms_number_missing")):
            with self.subTest(mobile=mobile):
                partner = self.partner(mobile=mobile)
                chatter_message = partner._message_sms("Bonjour", partner_ids=partner.ids)
                sms = self.sms_of(chatter_message)
                self.assertEqual((sms.state, sms.failure_type), ("error", failure_type))
                self.assertEqual(self.notification_of(chatter_message).notification_status, "exception")
                self.assertEqual(self.outbox_of(sms).state, "failed")
        self.dispatch()
        self.assertFalse(self.chinqit_sim.requests)

    def test_resend_wizard_after_fixing_the_number(self):
        partner = self.partner(mobile="+33 6 12 34 56 78", country="base.fr")
        chatter_message = self.send_with_composer(partner)
        wizard = self.env["sms.resend"].with_context(default_mail_message_id=chatter_message.id).create({})
        self.assertEqual(wizard.recipient_ids.failure_type, "sms_country_not_supported")
        wizard.recipient_ids.sms_number = MR_MOBILE
        wizard.action_resend()
        self.dispatch()
        self.assertEqual(self.chinqit_sends()[0]["json"]["phoneNumber"], MR_E164)
        notification = self.notification_of(chatter_message)
        self.assertEqual((notification.notification_status, notification.failure_type), ("pending", False))
        self.assertFalse(chatter_message.has_sms_error)

    # ---- (3) the account is wrong, not the SMS -------------------------------------------------------
    def test_refused_key_pauses_the_account_and_the_sms_waits(self):
        self.account.chinqit_api_key = "not-the-key"
        chatter_message = self.send_with_composer(self.partner())
        sms = self.sms_of(chatter_message)
        with mute_logger("odoo.addons.notify_rules.models.notify_message_dispatch"):
            self.dispatch()
        message = self.outbox_of(sms)
        self.assertTrue(self.account.paused)
        self.assertEqual(message.state, "queued")
        self.assertEqual(sms.state, "process")
        self.assertEqual(self.notification_of(chatter_message).notification_status, "process")
        self.assertFalse(chatter_message.has_sms_error)

        self.account.chinqit_api_key = CHINQIT_KEY  # the fix resumes the account
        self.dispatch()
        self.assertEqual((message.state, sms.state), ("sent", "pending"))
        self.assertEqual(self.notification_of(chatter_message).notification_status, "pending")

    def test_cancelled_in_the_outbox_cancels_the_sms(self):
        self.account.chinqit_api_key = "not-the-key"
        chatter_message = self.send_with_composer(self.partner())
        sms = self.sms_of(chatter_message)
        self.outbox_of(sms).action_cancel()
        self.assertEqual(sms.state, "canceled")
        self.assertEqual(self.notification_of(chatter_message).notification_status, "canceled")

    def test_opted_out_number_is_cancelled_as_odoo_says_it(self):
        self.env["phone.blacklist"].sudo()._add([MR_E164], message="STOP")
        chatter_message = self.send_with_composer(self.partner())
        sms = self.sms_of(chatter_message)
        message = self.outbox_of(sms)
        self.dispatch()
        self.assertEqual((message.state, message.safeguard), ("cancelled", "optout"))
        self.assertEqual((sms.state, sms.failure_type), ("canceled", "sms_blacklist"))
        self.assertEqual(self.notification_of(chatter_message).notification_status, "canceled")
        self.assertFalse(self.chinqit_sends())

    # ---- (4) refused by Chinqit, resent from Odoo ----------------------------------------------------
    def test_refusal_then_resend_from_odoo(self):
        chatter_message = self.send_with_composer(self.partner())
        sms = self.sms_of(chatter_message)
        self.refuse_next_send("message is too long")
        self.dispatch()
        first = self.outbox_of(sms)
        self.assertEqual(first.state, "failed")
        self.assertEqual((sms.state, sms.failure_type), ("error", "unknown"))
        notification = self.notification_of(chatter_message)
        self.assertEqual((notification.notification_status, notification.failure_type), ("exception", "unknown"))
        self.assertIn("message is too long", notification.failure_reason)
        self.assertTrue(chatter_message.has_sms_error)

        sms.resend_failed()
        self.assertEqual(sms.state, "process")
        messages = self.outbox_of(sms)
        self.assertEqual(len(messages), 2, "the refused message keeps its history; the resend is a new one")
        second = messages - first
        self.assertEqual((first.state, second.state), ("failed", "queued"))
        with self.assertRaisesRegex(UserError, "sent again from Odoo"):
            first.action_retry()
        self.dispatch()
        self.assertEqual(second.state, "sent")
        self.assertEqual((sms.state, sms.failure_type), ("pending", False))
        notification = self.notification_of(chatter_message)
        self.assertEqual((notification.notification_status, notification.failure_type), ("pending", False))
        self.assertEqual(len([r for r in self.chinqit_sends() if r["response_status"] == 200]), 1)

    def test_refusal_then_resend_from_the_outbox(self):
        chatter_message = self.send_with_composer(self.partner())
        sms = self.sms_of(chatter_message)
        self.refuse_next_send("message is too long")
        self.dispatch()
        message = self.outbox_of(sms)
        self.assertEqual((message.state, sms.state), ("failed", "error"))
        message.action_retry()
        self.assertEqual((sms.state, sms.failure_type), ("process", False))
        self.assertEqual(self.notification_of(chatter_message).notification_status, "process")
        self.dispatch()
        self.assertEqual((message.state, sms.state), ("sent", "pending"))
        self.assertEqual(self.notification_of(chatter_message).notification_status, "pending")
        self.assertFalse(chatter_message.has_sms_error)

    def test_gave_up_after_server_errors_is_a_server_error(self):
        self.account.max_attempts = 1
        chatter_message = self.send_with_composer(self.partner())
        self.chinqit_sim.fail_next("502")
        self.dispatch()
        sms = self.sms_of(chatter_message)
        self.assertEqual((self.outbox_of(sms).state, sms.state, sms.failure_type), ("failed", "error", "sms_server"))
        self.assertEqual(self.notification_of(chatter_message).failure_type, "sms_server")

    def test_lost_answer_is_an_unknown_error_with_the_reason(self):
        self.account.ambiguous_send_policy = "hold"  # Chinqit accounts retry a 500 by default
        chatter_message = self.send_with_composer(self.partner())
        self.chinqit_sim.fail_next("500")
        self.dispatch()
        sms = self.sms_of(chatter_message)
        self.assertEqual((self.outbox_of(sms).state, sms.state, sms.failure_type), ("unknown", "error", "unknown"))
        self.assertIn("may or may not", self.notification_of(chatter_message).failure_reason)

    # ---- (5) Odoo IAP when the company chose nothing -------------------------------------------------
    def test_batch_split_between_chinqit_and_odoo_iap(self):
        """One batch, two companies: the SMS of the company with an account go to the outbox, super() sends the
        others through Odoo IAP (Odoo's own gateway mock)."""
        other = self.env["res.company"].create({"name": "IAP company"})
        here = self.partner(name="Here")
        there = self.partner(name="There", mobile="+222 27 63 56 42", company_id=other.id)
        composer = self.env["sms.composer"].with_context(
            active_model="res.partner", active_ids=(here | there).ids, default_template_id=self.template.id,
            default_composition_mode="mass", default_mass_force_send=True,
        ).create({})
        with self.mockSMSGateway():
            composer.action_send_sms()
        self.assertEqual([sms["number"] for sms in self._sms], ["+22227635642"])
        sms_here = self.env["sms.sms"].sudo().search([("partner_id", "=", here.id)])
        sms_there = self.env["sms.sms"].sudo().search([("partner_id", "=", there.id)])
        self.assertEqual(sms_there.state, "pending")
        self.assertFalse(self.outbox_of(sms_there))
        self.assertEqual((sms_here.state, self.outbox_of(sms_here).state), ("process", "queued"))

    def test_without_the_setting_odoo_iap_sends(self):
        self.company.notify_sms_account_id = False
        partner = self.partner()
        with self.mockSMSGateway():
            chatter_message = self.send_with_composer(partner)
        self.assertEqual([sms["number"] for sms in self._sms], [MR_E164])
        self.assertEqual(self.sms_of(chatter_message).state, "pending")
        self.assertFalse(self.env["notify.message"].search([("sms_uuid", "!=", False)]))
        self.dispatch()
        self.assertFalse(self.chinqit_sim.requests)

    # ---- (6) a 'Send SMS' server action, sent by Odoo's SMS queue cron -------------------------------
    def test_send_sms_server_action_goes_through_chinqit(self):
        partner = self.partner()
        action = self.env["ir.actions.server"].create({
            "name": "SMS the contact",
            "model_id": self.env.ref("base.model_res_partner").id,
            "state": "sms",
            "sms_template_id": self.template.id,
        })
        self.assertEqual(action.sms_method, "sms")  # mass mode: queued for Odoo's SMS cron
        action.with_context(active_model="res.partner", active_id=partner.id, active_ids=partner.ids).run()
        sms = self.env["sms.sms"].sudo().search([("partner_id", "=", partner.id)])
        self.assertEqual(sms.state, "outgoing")
        self.env["sms.sms"]._process_queue()
        self.assertEqual((sms.state, self.outbox_of(sms).state), ("process", "queued"))
        self.dispatch()
        self.assertEqual(self.chinqit_sends()[0]["json"]["phoneNumber"], MR_E164)
        self.assertEqual(sms.state, "pending")
