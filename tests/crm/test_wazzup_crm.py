"""Wazzup with the crm app installed (scripts/test.sh runs this folder in a database with crm): the sales teams as
pipelines with their stages, the leads as deals in batches of 100, Wazzup's createDeal making a lead, and the chat
composer on a lead — over real HTTP to the Wazzup simulator and, for the webhooks, to the Odoo test server."""

from odoo.exceptions import AccessError
from odoo.tests import tagged

from ..simulator.wazzup import DEMO_API_KEY
from ..test_wazzup_composer import LEAD_ACTION, NUMBER, WazzupComposerCase
from ..test_wazzup_connect import WazzupConnectCommon


@tagged("post_install", "-at_install")
class TestWazzupCrmSetup(WazzupConnectCommon):
    def test_pipelines_then_deals_in_batches(self):
        self.assertIn("crm.lead", self.env)
        Team, Stage, Lead = self.env["crm.team"], self.env["crm.stage"], self.env["crm.lead"]
        other = self.env["res.company"].create({"name": "Other company"})
        sales = self.env.ref("sales_team.team_sales_department")
        shared = Stage.search([("team_id", "=", False)])
        won = shared.filtered("is_won")[:1]
        self.assertTrue(won)
        dakar = Team.create({"name": "Ventes Dakar", "company_id": self.company.id})
        long_name = Team.create({"name": "Équipe " + "x" * 120, "company_id": False})
        blank = Team.create({"name": "   ", "company_id": self.company.id})
        Team.create({"name": "Other company's team", "company_id": other.id})
        shared.write({"team_id": sales.id})  # the former shared stages are the Sales team's now
        quote = Stage.create({"name": "Devis envoyé", "team_id": dakar.id, "sequence": 2})
        common = Stage.create({"name": "  Relance  ", "team_id": False, "sequence": 50})

        cameroon = self.env.ref("base.cm")
        partners = self.env["res.partner"].create([{
            "name": f"Client {i:03d}", "mobile": f"6 71 {i // 10000:02d} {i % 10000:04d}", "country_id": cameroon.id,
        } for i in range(151)])
        leads = Lead.create([{"name": f"Affaire {i:03d}", "partner_id": partner.id, "team_id": dakar.id,
                              "stage_id": quote.id, "company_id": self.company.id, "type": "opportunity"}
                             for i, partner in enumerate(partners)])
        leads[-1].stage_id = won
        no_number = Lead.create({"name": "Sans numéro", "company_id": self.company.id,
                                 "partner_id": self.env["res.partner"].create({"name": "No number"}).id})
        elsewhere = Lead.create({"name": "Other company's lead", "company_id": other.id,
                                 "partner_id": partners[0].id})

        account, api_key = self.connect_directly()
        self.run_setup()
        self.assertEqual(account.wazzup_setup_state, "done", account.wazzup_setup_error)

        # pipelines: one per team of the company or shared, with the team's stages and the shared ones, in the
        # pipeline's order; none left out for being empty, `stages` left out when a team has none
        teams = Team.search([("company_id", "in", [self.company.id, False])])
        self.assertIn(dakar, teams)
        [request] = self.requests_to("/v3/pipelines")
        self.assertEqual(request["response_status"], 200)
        self.assertEqual(len(request["json"]), len(teams))
        pipelines = self.wz.account_of(api_key)["pipelines"]
        self.assertEqual(set(pipelines), {str(team.id) for team in teams})
        self.assertEqual(pipelines[str(dakar.id)], {"id": str(dakar.id), "name": "Ventes Dakar", "stages": [
            {"id": str(quote.id), "name": "Devis envoyé"}, {"id": str(common.id), "name": "Relance"}]})
        self.assertEqual(pipelines[str(sales.id)]["stages"],
                         [{"id": str(stage.id), "name": stage.name.strip()} for stage in (shared | common).sorted()])
        self.assertEqual(pipelines[str(long_name.id)]["name"], ("Équipe " + "x" * 120)[:100])
        self.assertEqual(pipelines[str(blank.id)]["name"], str(blank.id))
        common.unlink()
        with self.wz.lock:  # the requests of the second set-up only (the account stays connected)
            self.wz.requests.clear()
        account.action_wazzup_setup()
        self.run_setup()
        [request] = self.requests_to("/v3/pipelines")
        dakar_item = next(item for item in request["json"] if item["id"] == str(dakar.id))
        blank_item = next(item for item in request["json"] if item["id"] == str(blank.id))
        self.assertEqual(dakar_item["stages"], [{"id": str(quote.id), "name": "Devis envoyé"}])
        self.assertNotIn("stages", blank_item)  # no stage of its own and no shared one: `stages` left out
        self.assertEqual(self.wz.account_of(api_key)["pipelines"][str(blank.id)],
                         {"id": str(blank.id), "name": str(blank.id)})

        # deals: the company's leads whose contact was sent, 100 per request; a won lead is closed
        batches = [r["json"] for r in self.requests_to("/v3/deals")]
        self.assertEqual([len(batch) for batch in batches], [100, 51])
        deals = self.wz.account_of(api_key)["deals"]
        self.assertEqual(set(deals), {str(lead.id) for lead in leads})
        self.assertNotIn(str(no_number.id), deals)
        self.assertNotIn(str(elsewhere.id), deals)
        self.assertEqual(deals[str(leads[0].id)], {
            "id": str(leads[0].id), "responsibleUserId": deals[str(leads[0].id)]["responsibleUserId"],
            "name": "Affaire 000", "uri": f"{self.base_url()}/odoo/crm.lead/{leads[0].id}",
            "contacts": [str(partners[0].id)], "closed": False})
        self.assertTrue(deals[str(leads[-1].id)]["closed"])
        note = account.message_ids[0].body
        self.assertIn(f"{len(teams)} pipelines sent (1 requests)", note)
        self.assertIn("151 deals sent (2 requests)", note)

    def test_refused_pipelines_are_reported(self):
        self.env["res.partner"].create({"name": "Client", "mobile": "+237 670 00 00 01"})
        account, _api_key = self.connect_directly()
        self.wz.rate_limit = (3, 60.0)  # webhooks, users and contacts pass; then Wazzup says "too many"
        self.run_setup()
        self.assertEqual(account.wazzup_setup_state, "failed")
        self.assertIn("Pipelines: Wazzup asked us to slow down (too many requests)", account.wazzup_setup_error)
        self.assertIn("Channels: Wazzup asked us to slow down", account.wazzup_setup_error)
        self.assertNotIn("Contacts:", account.wazzup_setup_error)


@tagged("post_install", "-at_install")
class TestWazzupCrmWebhooks(WazzupConnectCommon):
    def test_create_deal_makes_a_lead_once(self):
        account, api_key = self.connect_directly()
        self.run_setup()
        status, contact = self.wz.deliver_create_contact(api_key, "221775556677", name="Moussa Diop")
        self.assertEqual(status, 200)
        partner = self.env["res.partner"].browse(int(contact["id"]))
        self.assertEqual(partner.name, "Moussa Diop")

        status, deal = self.wz.deliver_create_deal(api_key, [contact["id"]], responsible_user_id="7")
        self.env.invalidate_all()
        self.assertEqual(status, 200)
        lead = self.env["crm.lead"].browse(int(deal["id"]))
        self.assertRecordValues(lead, [{"partner_id": partner.id, "company_id": account.company_id.id,
                                        "type": "lead", "name": "WhatsApp: Moussa Diop"}])
        self.assertEqual(deal, {"id": str(lead.id), "responsibleUserId": "7", "name": "WhatsApp: Moussa Diop",
                                "uri": f"{self.base_url()}/odoo/crm.lead/{lead.id}", "contacts": [contact["id"]],
                                "closed": False})
        # Wazzup took the answer as the deal of this chat
        self.assertEqual(self.wz.account_of(api_key)["deals"][str(lead.id)], deal)
        self.assertTrue(self.wz.webhook_log[-1]["entity_valid"])

        # delivered again: the same lead, not a second one
        status, again = self.wz.deliver_create_deal(api_key, [contact["id"]], responsible_user_id="7")
        self.assertEqual((status, again["id"]), (200, deal["id"]))
        self.assertEqual(self.env["crm.lead"].search_count([("partner_id", "=", partner.id)]), 1)

    def test_create_deal_of_an_unknown_contact(self):
        """A contact id Odoo does not have (or not a number): a lead without a contact, answered all the same."""
        _account, api_key = self.connect_directly()
        self.run_setup()
        status, deal = self.wz.deliver_create_deal(api_key, ["999999999", "not-an-id"])
        self.env.invalidate_all()
        self.assertEqual(status, 200)
        lead = self.env["crm.lead"].browse(int(deal["id"]))
        self.assertEqual((lead.partner_id.id, lead.name, deal["contacts"]), (False, "WhatsApp: new client",
                                                                              ["999999999"]))


@tagged("post_install", "-at_install")
class TestWazzupComposerOnLeads(WazzupComposerCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # This database is the main one with crm installed afterwards (scripts/test.sh): the documented case where
        # the lead's action comes with notify_rules' next update, whose <function> makes exactly this call.
        cls.env["notify.wazzup.composer"]._wazzup_bind_crm_lead()

    def test_composer_on_a_lead(self):
        """The lead's action exists with crm, binding again keeps one action; a lead of a contact sends to the
        contact's mobile, a lead alone to its own number."""
        Composer = self.env["notify.wazzup.composer"]
        action = self.env.ref(LEAD_ACTION)
        self.assertEqual((action.binding_model_id.model, action.binding_view_types), ("crm.lead", "form"))
        self.assertEqual(action.groups_id, self.env.ref("notify_rules.group_notify_user"))
        action.binding_view_types = "list"
        self.assertEqual(Composer._wazzup_bind_crm_lead(), action)
        self.assertEqual(action.binding_view_types, "form")
        self.assertEqual(self.env["ir.actions.server"].search_count([("binding_model_id.model", "=", "crm.lead"),
                                                                      ("name", "=", "WhatsApp (Wazzup)")]), 1)
        lead = self.env["crm.lead"].create({"name": "Commande", "partner_id": self.partner.id})
        with self.assertRaises(AccessError):  # a Notify user who may not change leads
            self.open_composer(lead)
        self.user.groups_id = [(4, self.env.ref("sales_team.group_sale_salesman_all_leads").id)]
        form = self.open_composer(lead)
        self.assertEqual((form.phone, form.recipient_e164, form.provider_account_id),
                         ("77 245 71 99", "+" + NUMBER, self.account))
        form.body = "Bonjour Awa, votre devis est prêt."
        form.save().action_send()
        self.dispatch()
        message = self.messages(lead)
        self.assertEqual(message.state, "sent")
        (sent,) = self.sim.sent_messages(DEMO_API_KEY)
        self.assertEqual((sent["chatId"], sent["text"], sent["crmMessageId"]),
                         (NUMBER, "Bonjour Awa, votre devis est prêt.", message.idempotency_key))
        alone = self.env["crm.lead"].create({"name": "Prospect", "phone": "+221 76 123 45 67"})
        form = self.open_composer(alone)
        form.body = "Bonjour"
        form.save().action_send()
        self.dispatch()
        self.assertEqual(self.messages(alone).state, "sent")
        self.assertEqual(self.sim.sent_messages(DEMO_API_KEY)[-1]["chatId"], "221761234567")

    def test_lead_without_a_number_is_refused(self):
        self.user.groups_id = [(4, self.env.ref("sales_team.group_sale_salesman_all_leads").id)]
        lead = self.env["crm.lead"].create({"name": "Sans numéro"})
        form = self.open_composer(lead)
        form.body = "Bonjour"
        composer = form.save()
        self.assert_refused(composer, "No phone number")
        self.assertFalse(self.sim.sent_messages(DEMO_API_KEY))

