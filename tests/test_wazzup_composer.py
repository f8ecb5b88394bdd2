"""The chat composer "WhatsApp (Wazzup)": opened from a contact (a lead with crm), it queues one outbox message, and
the dispatcher sends it over real HTTP to the Wazzup simulator, which checks the message as Wazzup would
(channel, chatType, chatId digits, text limit, crmMessageId used once)."""

from odoo.exceptions import AccessError, UserError
from odoo.tests import Form, TransactionCase, new_test_user, tagged

from .common import LoopbackRequestsMixin
from .simulator import Simulator
from .simulator.wazzup import DEMO_API_KEY, DEMO_CHANNEL_ID, WazzupSimulator, seed_demo

PARTNER_ACTION = "notify_rules.action_notify_wazzup_composer_from_partner"
LEAD_ACTION = "notify_rules.action_notify_wazzup_composer_from_lead"
NUMBER = "221772457199"


class WazzupComposerCase(LoopbackRequestsMixin, TransactionCase):
    """A Wazzup account on the simulator, a contact, a Notify user; the composer's helpers (also for tests/crm)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.simulator = Simulator(providers=[WazzupSimulator()]).start()
        cls.addClassCleanup(cls.simulator.stop)
        cls.sim = seed_demo(cls.simulator.wazzup)
        cls.company = cls.env.company
        cls.account = cls.env["notify.provider.account"].create({
            "name": "Wazzup composer test", "provider": "wazzup", "environment": "sandbox",
            "base_url": cls.simulator.base_url("wazzup"), "wazzup_api_key": DEMO_API_KEY, "timeout": 5,
            "company_id": cls.company.id})
        cls.account._wazzup_sync_channels()  # GET /v3/channels: the demo's active WhatsApp channel sends
        cls.channel = cls.account.wazzup_channel_id
        cls.senegal = cls.env.ref("base.sn")
        cls.partner = cls.env["res.partner"].create({
            "name": "Awa Ndiaye", "mobile": "77 245 71 99", "phone": "33 800 00 00", "country_id": cls.senegal.id})
        cls.user = new_test_user(cls.env, login="wazzup_composer_user", company_id=cls.company.id,
                                 groups="base.group_user,base.group_partner_manager,notify_rules.group_notify_user",
                                 company_ids=[(6, 0, cls.company.ids)])

    def setUp(self):
        super().setUp()
        self.sim.reset()
        self.account.throttled_until = False

    # ---- helpers ------------------------------------------------------------------------------------------
    def open_composer(self, record, user=None):
        """What the Action menu does: run the bound server action on the record; returns the composer's form."""
        env = self.env(user=user or self.user)
        action = env.ref(PARTNER_ACTION if record._name == "res.partner" else LEAD_ACTION).with_context(
            active_model=record._name, active_id=record.id, active_ids=record.ids).run()
        self.assertEqual((action["res_model"], action["target"]), ("notify.wazzup.composer", "new"))
        return Form(env["notify.wazzup.composer"].with_context(**action["context"]))

    def composer(self, record=None, body="Bonjour Awa, votre commande est prête.", **values):
        form = self.open_composer(record or self.partner)
        form.body = body
        for name, value in values.items():
            setattr(form, name, value)
        return form.save()

    def messages(self, record=None):
        record = record or self.partner
        return self.env["notify.message"].search([("res_model", "=", record._name), ("res_id", "=", record.id)])

    def dispatch(self):
        self.env["notify.message"]._cron_dispatch()
        self.env.invalidate_all()

    def message_requests(self):
        return [r for r in self.sim.requests if r["path"] == "/v3/message"]

    def dispatch_triggers(self):
        cron = self.env.ref("notify_rules.ir_cron_notify_dispatch")
        return self.env["ir.cron.trigger"].search_count([("cron_id", "=", cron.id)])

    def assert_refused(self, composer, reason):
        with self.assertRaises(UserError) as caught:
            composer.action_send()
        self.assertIn(reason, str(caught.exception))
        self.assertFalse(self.messages(self.env[composer.res_model].browse(composer.res_id)))
        return caught.exception


@tagged("post_install", "-at_install")
class TestWazzupComposer(WazzupComposerCase):

    # ---- happy path -----------------------------------------------------------------------------------------
    def test_opened_from_the_contact_with_its_account_number_and_limit(self):
        form = self.open_composer(self.partner)
        self.assertEqual(form.provider_account_id, self.account)  # the only one of the company
        self.assertEqual(form.channel_id.channel_id, DEMO_CHANNEL_ID)
        self.assertEqual(form.phone, "77 245 71 99")  # the mobile before the phone
        self.assertEqual(form.recipient_e164, "+" + NUMBER)  # read in the contact's country
        self.assertFalse(form.number_error)
        self.assertEqual(form.res_name, "Awa Ndiaye")
        form.body = "  Bonjour  "
        self.assertEqual((form.text_length, form.text_limit, form.too_long), (7, 10000, False))
        form.body = "x" * 10001
        self.assertEqual((form.text_length, form.too_long), (10001, True))
        self.partner.mobile = False
        self.assertEqual(self.open_composer(self.partner).phone, "33 800 00 00")  # no mobile: the phone
        action = self.env.ref(PARTNER_ACTION)
        self.assertEqual((action.binding_model_id.model, action.binding_view_types), ("res.partner", "form"))
        self.assertEqual(action.groups_id, self.env.ref("notify_rules.group_notify_user"))

    def test_send_queues_one_message_and_the_dispatcher_sends_it(self):
        composer = self.composer(body="  Bonjour Awa, votre commande est prête.\n")
        triggers = self.dispatch_triggers()
        result = composer.action_send()
        self.assertEqual(result["params"]["type"], "success")
        message = self.messages()
        self.assertEqual(len(message), 1)
        self.assertEqual(
            (message.state, message.provider_account_id, message.channel, message.recipient_e164,
             message.recipient_provider, message.body, message.res_name, message.create_uid),
            ("queued", self.account, "whatsapp", "+" + NUMBER, NUMBER, "Bonjour Awa, votre commande est prête.",
             "Awa Ndiaye", self.user))
        self.assertFalse(self.sim.requests)  # the click never waits on Wazzup
        self.assertEqual(self.dispatch_triggers(), triggers + 1)  # the dispatcher is woken up

        self.dispatch()
        (sent,) = self.sim.sent_messages(DEMO_API_KEY)
        self.assertEqual(
            {key: sent[key] for key in ("channelId", "chatType", "chatId", "text", "crmMessageId")},
            {"channelId": DEMO_CHANNEL_ID, "chatType": "whatsapp", "chatId": NUMBER,
             "text": "Bonjour Awa, votre commande est prête.", "crmMessageId": message.idempotency_key})
        self.assertEqual(self.message_requests()[0]["headers"]["Authorization"], f"Bearer {DEMO_API_KEY}")
        self.assertEqual((message.state, message.provider_ref), ("sent", sent["messageId"]))
        note = self.partner.message_ids.filtered(lambda m: f'data-oe-id="{message.id}"' in (m.body or ""))
        self.assertEqual(len(note), 1, "the chatter says it was sent, once")
        self.assertIn("+221 77 245 71 99", note.body)

    def test_the_longest_text_wazzup_takes_is_sent(self):
        self.composer(body="é" * 10000).action_send()
        self.dispatch()
        self.assertEqual(len(self.sim.sent_messages(DEMO_API_KEY)[0]["text"]), 10000)
        self.assertEqual(self.messages().state, "sent")

    def test_a_number_typed_in_the_composer_wins(self):
        composer = self.composer(phone="+221 70 111 22 33")
        composer.action_send()
        self.assertEqual(self.messages().recipient_e164, "+221701112233")
        self.dispatch()
        self.assertEqual(self.sim.sent_messages(DEMO_API_KEY)[0]["chatId"], "221701112233")

    # ---- faults -----------------------------------------------------------------------------------------------
    def test_lost_answer_then_retry_is_not_sent_twice(self):
        """Wazzup processed the message but its answer was lost (500 after processing): the dispatcher retries
        with the same crmMessageId, Wazzup answers repeatedCrmMessageId, and the message is Sent, once."""
        self.composer().action_send()
        message = self.messages()
        self.sim.fail_next("processed_500")
        self.dispatch()
        self.assertEqual(message.state, "queued")  # safe to resend: Wazzup deduplicates by crmMessageId
        self.assertTrue(message.last_error)
        self.assertEqual(len(self.sim.sent_messages(DEMO_API_KEY)), 1)
        message.sudo().next_attempt_at = "2000-01-01 00:00:00"
        self.dispatch()
        first, retry = self.message_requests()
        self.assertEqual((first["processed"], first["response_status"]), (True, 500))
        self.assertEqual(retry["response_status"], 400)
        self.assertEqual(retry["json"]["crmMessageId"], first["json"]["crmMessageId"])
        self.assertEqual(first["json"]["crmMessageId"], message.idempotency_key)
        self.assertEqual(len(self.sim.sent_messages(DEMO_API_KEY)), 1, "sent twice")
        self.assertEqual((message.state, message.provider_status), ("sent", "repeatedCrmMessageId"))

    # ---- bad input ----------------------------------------------------------------------------------------------
    def test_empty_or_too_long_text(self):
        self.assert_refused(self.composer(body=False), "Write the message.")
        self.assert_refused(self.composer(body=" \n\t "), "Write the message.")
        self.assert_refused(self.composer(body="x" * 10001),
                            "The message is 10001 characters long: WhatsApp through Wazzup takes at most 10000.")

    def test_no_or_invalid_number(self):
        self.partner.write({"mobile": False, "phone": False})
        composer = self.composer()
        self.assertEqual(composer.number_error, "No phone number: type the number to write to.")
        self.assert_refused(composer, "No phone number")
        self.assert_refused(self.composer(phone="12 34"), "'12 34' is not a valid phone number for Senegal.")
        # no country on the contact: the account's, else the company's; none at all: the number needs its code
        self.partner.country_id = False
        self.account.default_country_id = self.env.ref("base.ci")
        self.assert_refused(self.composer(phone="77 245 71 99"), "is not a valid phone number for Côte d'Ivoire")
        self.account.default_country_id = False
        self.company.country_id = self.senegal
        self.assertEqual(self.composer(phone="77 245 71 99").recipient_e164, "+" + NUMBER)
        self.company.country_id = False
        self.assert_refused(self.composer(phone="77 245 71 99"), "has no country code")
        self.assertFalse(self.sim.requests)

    def test_no_wazzup_account(self):
        other = self.env["res.company"].create({"name": "Sans Wazzup SARL"})
        self.user.company_ids = [(4, other.id)]
        partner = self.env["res.partner"].create({"name": "Fatou Sall", "mobile": "+221 77 000 11 22",
                                                  "company_id": other.id})
        form = self.open_composer(partner)
        self.assertFalse(form.provider_account_id)
        form.body = "Bonjour"
        self.assert_refused(form.save(), "Sans Wazzup SARL has no Wazzup account")

    def test_several_accounts_one_must_be_chosen(self):
        self.env["notify.provider.account"].create({
            "name": "Wazzup second", "provider": "wazzup", "environment": "sandbox",
            "base_url": self.simulator.base_url("wazzup"), "company_id": self.company.id})
        composer = self.composer()
        self.assertFalse(composer.provider_account_id)
        self.assert_refused(composer, "Choose the Wazzup account to send through.")
        composer.provider_account_id = self.account
        composer.action_send()
        self.assertEqual(self.messages().provider_account_id, self.account)

    def test_no_active_channel(self):
        self.channel.state = "phoneunavailable"
        self.assert_refused(self.composer(), "has no active WhatsApp channel")
        self.channel.state = "active"
        self.channel.transport = "telegram"
        self.assert_refused(self.composer(), "has no active WhatsApp channel")
        self.account.wazzup_channel_id = False
        self.assert_refused(self.composer(), "(none chosen)")
        self.assertFalse(self.sim.requests)

    # ---- access -------------------------------------------------------------------------------------------------
    def test_who_may_write(self):
        other = self.env["res.company"].create({"name": "Autre SARL"})
        foreign = self.env["res.partner"].create({"name": "Hors société", "mobile": "+221 77 000 00 01",
                                                  "company_id": other.id})
        with self.assertRaises(AccessError):  # a contact this user may not write (another company's)
            self.open_composer(foreign)
        reader = new_test_user(self.env, login="wazzup_reader", groups="base.group_user,notify_rules.group_notify_user")
        with self.assertRaises(AccessError):  # a Notify user who may not change contacts (no Contact Creation)
            self.open_composer(self.partner, user=reader)
        composer = self.composer()
        composer.sudo().res_id = foreign.id  # a composer pointed elsewhere by RPC is refused when sending
        with self.assertRaises(AccessError):
            composer.action_send()
        plain = new_test_user(self.env, login="wazzup_plain_user", groups="base.group_user")
        with self.assertRaises(AccessError):  # the action is for Notify users and managers
            self.open_composer(self.partner, user=plain)
        with self.assertRaises(AccessError):
            self.env(user=plain)["notify.wazzup.composer"].create({"res_model": "res.partner",
                                                                   "res_id": self.partner.id})
        composer.sudo().write({"res_model": "res.users", "res_id": self.user.id})
        with self.assertRaises(UserError):  # only contacts and leads
            composer.action_send()
        self.assertFalse(self.env["notify.message"].search([("res_id", "in", [foreign.id, self.user.id])]))

    # ---- leads: without crm here (tests/crm/test_wazzup_crm.py runs the lead's composer with crm) ---------------
    def test_no_lead_binding_without_crm(self):
        """The addon installs without crm: no lead action then, and binding it (each update of the addon) makes
        none."""
        self.assertNotIn("crm.lead", self.env)
        self.assertFalse(self.env.ref(LEAD_ACTION, raise_if_not_found=False))
        self.assertFalse(self.env["notify.wazzup.composer"]._wazzup_bind_crm_lead())
        self.assertFalse(self.env.ref(LEAD_ACTION, raise_if_not_found=False))
