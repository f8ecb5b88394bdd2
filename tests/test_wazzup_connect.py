"""Wazzup's marketplace connection, end to end over real HTTP: the publisher's buttons (register, name and logo,
test installation) against the Wazzup simulator; the customer's dance (Wazzup's redirect with `state`, /web/login,
the confirmation page, POST v3/connect, the company's account); the set-up that follows (webhooks, whose test POST
reaches this test server's webhook route, users, contacts in batches of 100, channels); and the same dance as a
person does it in headless Chromium (static/tests/tours/notify_wazzup_connect_tour.js).

The set-up runs in a cron (models/notify_provider_account_wazzup_setup.py): the tests run it from the test thread,
as the cron would, so that Wazzup's test POST can be served by the test server meanwhile.
"""

import base64
import re
from urllib.parse import parse_qs, urlsplit

from odoo import http
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tests import HttpCase, new_test_user, tagged
from odoo.tests.common import HOST, TEST_CURSOR_COOKIE_NAME, Opener

from ..models.notify_provider_account_wazzup import crm_key_hash
from ..models.res_config_settings_wazzup import CONNECT_ROUTE, PARAM
from .common import NotifySimulatorMixin
from .simulator.wazzup import DEMO_CRM_CODE, DEMO_DEVELOPER_KEY, DEMO_SECRET, seed_demo

PASSWORD = "Wazzup-connect-pass-42"
MANAGER = "wz_manager"
SVG = b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10"><rect/></svg>'
PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=")


def csrf_of(html):
    """The CSRF token of a page: its form's, else the one every Odoo page gives its scripts."""
    match = re.search(r'name="csrf_token" value="([^"]+)"', html) or re.search(r'csrf_token: "([^"]+)"', html)
    return match.group(1)


def state_of(url):
    return parse_qs(urlsplit(url).query)["state"][0]


class WazzupConnectCommon(NotifySimulatorMixin, HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        http.root.statics  # noqa: B018 - parse the manifests once (see tests/test_tour.py)
        cls.start_simulator()
        cls.wz = cls.simulator.wazzup
        seed_demo(cls.wz)
        cls.connect_url = cls.base_url() + CONNECT_ROUTE
        # the publisher registered this Odoo's connect page (as "Register with Wazzup" does; tested below)
        cls.wz.register(DEMO_DEVELOPER_KEY, DEMO_CRM_CODE, DEMO_SECRET, auth_redirect_uri=cls.connect_url)
        cls.wz.save_baseline()
        cls.params = cls.env["ir.config_parameter"].sudo()
        cls.params.set_param("web.base.url", cls.base_url())  # the webhook URL must reach this test server
        cls.set_publisher(api_url=cls.simulator.base_url("wazzup"), developer_key=DEMO_DEVELOPER_KEY,
                          crm_code=DEMO_CRM_CODE, secret=DEMO_SECRET)
        cls.company = cls.env.company
        cls.company.country_id = cls.env.ref("base.cm")
        cls.manager = new_test_user(cls.env, login=MANAGER, password=PASSWORD, name="Awa Manager",
                                    groups="base.group_user,notify_rules.group_notify_manager",
                                    company_id=cls.company.id, company_ids=[(6, 0, [cls.company.id])])
        cls.Account = cls.env["notify.provider.account"].sudo()

    @classmethod
    def set_publisher(cls, **values):
        for key, value in values.items():
            cls.params.set_param(PARAM % key, value)

    def setUp(self):
        super().setUp()
        self.wz.reset()

    # ---- helpers --------------------------------------------------------------------------------------
    def wazzup_accounts(self):
        self.env.invalidate_all()
        return self.Account.with_context(active_test=False).search([("provider", "=", "wazzup")])

    def requests_to(self, path, method="POST"):
        return [r for r in self.wz.requests if r["path"] == path and r["method"] == method]

    def new_session(self, login=None):
        """A browser session on the test database: anonymous, or logged in as `login`."""
        self.authenticate(login, PASSWORD if login else None)
        self.opener = Opener(self.cr)
        self.opener.cookies.set("session_id", self.session.sid, domain=HOST, path="/")
        self.opener.cookies.set(TEST_CURSOR_COOKIE_NAME, self.http_request_key, domain=HOST, path="/")

    def page_of(self, answer):
        match = re.search(r'o_notify_wazzup_connect"[^>]*data-page="([a-z_]+)"', answer.text)
        return match and match.group(1)

    def assertInPage(self, text, answer):
        """`text` is on the page as a reader sees it (tags dropped, white space collapsed)."""
        visible = re.sub(r"<[^>]+>", " ", answer.text).replace("&#39;", "'").replace("&quot;", '"')
        self.assertIn(text, re.sub(r"\s+", " ", visible))

    def confirm_page(self, url):
        page = self.url_open(url, allow_redirects=False)
        self.assertEqual((page.status_code, self.page_of(page)), (200, "confirm"), page.text[:300])
        return page

    def post_decision(self, page, decision="confirm", **overrides):
        data = {"csrf_token": csrf_of(page.text), "state": re.search(r'name="state" value="([^"]*)"', page.text)[1],
                "company_id": str(self.company.id), "decision": decision, **overrides}
        return self.url_open(CONNECT_ROUTE, data=data, allow_redirects=False)

    def connect_as_manager(self):
        """Wazzup's redirect followed by a logged-in manager who confirms; returns (account, api key, crm key)."""
        url = self.wz.install(DEMO_CRM_CODE)
        self.new_session(MANAGER)
        answer = self.post_decision(self.confirm_page(url))
        self.assertEqual((answer.status_code, self.page_of(answer)), (200, "connected"), answer.text[:500])
        api_key = self.wz.states[state_of(url)]["api_key"]
        account = self.wazzup_accounts()
        self.assertEqual(len(account), 1)
        return account, api_key, self.wz.account_of(api_key)["crm_key"]

    def connect_directly(self):
        """The model side of the confirmation (real HTTP to the simulator), for the set-up tests."""
        url = self.wz.install(DEMO_CRM_CODE)
        account = self.env["notify.provider.account"]._wazzup_connect(state_of(url), self.company, self.manager)
        return account, self.wz.states[state_of(url)]["api_key"]

    def run_setup(self):
        self.env["notify.provider.account"]._cron_wazzup_setup()
        self.env.invalidate_all()


@tagged("post_install", "-at_install")
class TestWazzupConnectFlow(WazzupConnectCommon):
    def test_the_whole_dance(self):
        url = self.wz.install(DEMO_CRM_CODE)
        self.assertTrue(url.startswith(self.connect_url + "?state="))
        state = state_of(url)

        # not logged in: Odoo's login page, and back here afterwards
        self.new_session()
        answer = self.url_open(url, allow_redirects=False)
        self.assertEqual(answer.status_code, 303)
        location = self.parse_http_location(answer.headers["Location"])
        self.assertEqual(location.path, "/web/login")
        back = parse_qs(location.query)["redirect"][0]
        self.assertEqual(state_of(back), state)
        login_page = self.url_open("/web/login")
        answer = self.url_open("/web/login", data={"login": MANAGER, "password": PASSWORD, "redirect": back,
                                                   "csrf_token": csrf_of(login_page.text)}, allow_redirects=False)
        self.assertEqual(answer.status_code, 303)
        self.assertEqual(self.parse_http_location(answer.headers["Location"]).path, CONNECT_ROUTE)

        # the confirmation page: the company, what is shared; nothing asked of Wazzup yet
        page = self.confirm_page(answer.headers["Location"])
        self.assertInPage(f"Connect Wazzup to {self.company.name}", page)
        self.assertInPage("the contacts that have a phone number", page)
        self.assertInPage("the messages of your WhatsApp channels in Wazzup", page)
        self.assertNotIn("leads and opportunities", page.text, "the CRM app is not installed")
        self.assertFalse(self.requests_to("/v3/connect"))
        self.assertFalse(self.wazzup_accounts())

        answer = self.post_decision(page)
        self.assertEqual((answer.status_code, self.page_of(answer)), (200, "connected"), answer.text[:500])
        self.assertInPage(f"Wazzup is connected to {self.company.name}.", answer)

        [connect] = self.requests_to("/v3/connect")
        self.assertNotIn("Authorization", connect["headers"], "the secret in the body is the authorisation")
        self.assertEqual({k: connect["json"][k] for k in ("state", "secret", "name")},
                         {"state": state, "secret": DEMO_SECRET, "name": self.base_url()})
        api_key = self.wz.states[state]["api_key"]
        crm_key = self.wz.account_of(api_key)["crm_key"]
        self.assertGreaterEqual(len(crm_key), 32)

        account = self.wazzup_accounts()
        self.assertEqual(len(account), 1)
        self.assertRecordValues(account, [{
            "company_id": self.company.id, "environment": "sandbox", "base_url": self.simulator.base_url("wazzup"),
            "wazzup_api_key": api_key, "wazzup_crm_key_hash": crm_key_hash(crm_key), "active": True,
            "wazzup_connected_user_id": self.manager.id, "wazzup_setup_state": "pending",
        }])
        self.assertEqual(self.Account._wazzup_account_for_bearer(f"Bearer {crm_key}"), account)
        # the crmKey is kept nowhere: no field, no chatter message, no page
        values = account.with_context(active_test=False).read()[0]
        self.assertNotIn(crm_key, repr(values))
        self.assertNotIn(crm_key, " ".join(account.message_ids.mapped("body")))
        self.assertNotIn(crm_key, answer.text)
        self.assertIn(f"/{account.id}", re.search(r'o_notify_wazzup_account" href="([^"]+)"', answer.text)[1])
        # the set-up is queued, not run in the customer's request
        cron = self.env.ref("notify_rules.ir_cron_notify_wazzup_setup")
        self.assertTrue(self.env["ir.cron.trigger"].sudo().search([("cron_id", "=", cron.id)]))
        self.assertFalse(self.requests_to("/v3/webhooks", "PATCH"))

    def test_cancel_connects_nothing(self):
        url = self.wz.install(DEMO_CRM_CODE)
        self.new_session(MANAGER)
        answer = self.post_decision(self.confirm_page(url), decision="cancel")
        self.assertEqual((answer.status_code, self.page_of(answer)), (200, "cancelled"))
        self.assertInPage("Odoo shared nothing with it", answer)
        self.assertFalse(self.requests_to("/v3/connect"))
        self.assertFalse(self.wz.states[state_of(url)]["used"])
        self.assertFalse(self.wazzup_accounts())

    def assertRefused(self, answer, sentence):
        self.assertEqual((answer.status_code, self.page_of(answer)), (400, "refused"), answer.text[:500])
        self.assertInPage(sentence, answer)
        self.assertInPage("Nothing was created nor changed in Odoo.", answer)
        self.assertFalse(self.wazzup_accounts())

    def test_invalid_state_is_refused(self):
        self.new_session(MANAGER)
        page = self.confirm_page(CONNECT_ROUTE + "?state=not-a-state-of-wazzup")
        self.assertRefused(self.post_decision(page), "Wazzup refused this connection link")
        self.assertEqual(len(self.requests_to("/v3/connect")), 1)

    def test_reused_state_is_refused(self):
        url = self.wz.install(DEMO_CRM_CODE)
        self.new_session(MANAGER)
        page = self.confirm_page(url)
        self.assertEqual(self.page_of(self.post_decision(page)), "connected")
        account = self.wazzup_accounts()
        key = account.wazzup_api_key
        answer = self.post_decision(page)  # the same state again (a reload, a replay)
        self.assertEqual((answer.status_code, self.page_of(answer)), (400, "refused"))
        self.assertInPage("it was already used, is more than 10 minutes old", answer)
        self.assertEqual(self.wazzup_accounts(), account)
        self.assertEqual(account.wazzup_api_key, key, "nothing changed")

    def test_expired_state_is_refused(self):
        url = self.wz.install(DEMO_CRM_CODE)
        self.new_session(MANAGER)
        page = self.confirm_page(url)
        self.wz.advance_clock(601)
        self.assertRefused(self.post_decision(page), "is more than 10 minutes old")

    def test_bad_secret_is_refused(self):
        self.set_publisher(secret="not-the-registered-secret")
        url = self.wz.install(DEMO_CRM_CODE)
        self.new_session(MANAGER)
        answer = self.post_decision(self.confirm_page(url))
        self.assertRefused(answer, "Wazzup refused the secret of this Odoo: its administrator must register the "
                                   "integration with Wazzup again")
        self.assertFalse(self.wz.states[state_of(url)]["used"])

    def test_wazzup_down_connects_nothing(self):
        url = self.wz.install(DEMO_CRM_CODE)
        self.new_session(MANAGER)
        page = self.confirm_page(url)
        self.set_publisher(api_url="http://127.0.0.1:9/wazzup")  # the discard port: nothing listens
        self.assertRefused(self.post_decision(page), "Wazzup could not be reached, or asked to wait: nothing was "
                                                     "connected.")
        self.set_publisher(api_url=self.simulator.base_url("wazzup"))
        self.wz.fail_next("429")
        self.assertRefused(self.post_decision(page), "Wazzup could not be reached, or asked to wait")
        self.wz.fail_next("503")
        self.assertRefused(self.post_decision(page), "Wazzup did not confirm the connection (no answer, or an error "
                                                     "on its side): nothing was connected in Odoo.")
        self.assertFalse(self.wz.states[state_of(url)]["used"])
        # Wazzup connected its side but the answer was lost: no API key, so no account either
        self.wz.fail_next("processed_500")
        self.assertRefused(self.post_decision(page), "Wazzup did not confirm the connection")
        self.assertTrue(self.wz.states[state_of(url)]["used"])

    def test_not_registered_publisher(self):
        self.set_publisher(crm_code="")
        url = self.wz.install(DEMO_CRM_CODE)
        self.new_session(MANAGER)
        self.assertRefused(self.post_decision(self.confirm_page(url)),
                           "This Odoo is not registered as a Wazzup integration yet")
        self.assertFalse(self.requests_to("/v3/connect"))

    def test_missing_state(self):
        self.new_session(MANAGER)
        answer = self.url_open(CONNECT_ROUTE, allow_redirects=False)
        self.assertEqual((answer.status_code, self.page_of(answer)), (400, "no_state"))
        self.assertInPage("This link has no connection key from Wazzup", answer)

    def test_only_a_notify_manager_connects(self):
        new_test_user(self.env, login="wz_user", password=PASSWORD, groups="base.group_user,"
                      "notify_rules.group_notify_user", company_id=self.company.id)
        url = self.wz.install(DEMO_CRM_CODE)
        self.new_session("wz_user")
        page = self.url_open(url, allow_redirects=False)
        self.assertEqual((page.status_code, self.page_of(page)), (403, "not_manager"))
        self.assertInPage(f"Only a Notifications manager can connect Wazzup to {self.company.name}.", page)
        self.assertNotIn("o_notify_wazzup_confirm_form", page.text)
        answer = self.url_open(CONNECT_ROUTE, data={"csrf_token": csrf_of(page.text), "state": state_of(url),
                                                    "company_id": str(self.company.id), "decision": "confirm"},
                               allow_redirects=False)
        self.assertEqual((answer.status_code, self.page_of(answer)), (403, "not_manager"))
        self.assertFalse(self.requests_to("/v3/connect"))
        self.assertFalse(self.wazzup_accounts())

    def test_post_needs_the_csrf_token(self):
        url = self.wz.install(DEMO_CRM_CODE)
        self.new_session(MANAGER)
        answer = self.url_open(CONNECT_ROUTE, data={"state": state_of(url), "company_id": str(self.company.id),
                                                    "decision": "confirm"}, allow_redirects=False)
        self.assertEqual(answer.status_code, 400)
        self.assertFalse(self.requests_to("/v3/connect"))
        self.assertFalse(self.wazzup_accounts())

    def test_company_the_user_does_not_work_in(self):
        other = self.env["res.company"].create({"name": "Nouakchott Services"})
        url = self.wz.install(DEMO_CRM_CODE)
        self.new_session(MANAGER)
        answer = self.post_decision(self.confirm_page(url), company_id=str(other.id))
        self.assertRefused(answer, "You do not work in the company this page was shown for")
        self.assertFalse(self.requests_to("/v3/connect"))

    def test_reconnecting_updates_the_account(self):
        account, first_key, first_crm_key = self.connect_as_manager()
        self.run_setup()
        self.assertEqual(account.wazzup_setup_state, "done")
        account, second_key, second_crm_key = self.connect_as_manager()
        self.assertNotEqual(first_key, second_key)
        self.assertRecordValues(account, [{"wazzup_api_key": second_key, "wazzup_setup_state": "pending",
                                           "wazzup_crm_key_hash": crm_key_hash(second_crm_key)}])
        self.assertFalse(self.Account._wazzup_account_for_bearer(f"Bearer {first_crm_key}"),
                         "the old key no longer opens the webhook")
        self.assertIn("Wazzup connected again by Awa Manager", account.message_ids[0].body)
        # an archived account of the company comes back rather than a second one
        account.active = False
        account, third_key, _crm_key = self.connect_as_manager()
        self.assertTrue(account.active)
        self.assertEqual(account.wazzup_api_key, third_key)


@tagged("post_install", "-at_install")
class TestWazzupSetup(WazzupConnectCommon):
    def test_webhooks_users_contacts_channels(self):
        Partner = self.env["res.partner"]
        Partner.with_context(active_test=False).search(
            ["|", ("phone", "!=", False), ("mobile", "!=", False)]).write({"phone": False, "mobile": False})
        cameroon = self.env.ref("base.cm")
        other = self.env["res.company"].create({"name": "Dakar Services"})
        seller = new_test_user(self.env, login="wz_seller", password=PASSWORD, groups="base.group_user",
                               company_id=self.company.id, name="Seller")
        stranger = new_test_user(self.env, login="wz_stranger", password=PASSWORD, groups="base.group_user",
                                 company_id=other.id, company_ids=[(6, 0, [other.id])])
        new_test_user(self.env, login="wz_portal", password=PASSWORD, groups="base.group_portal",
                      company_id=self.company.id)
        new_test_user(self.env, login="wz_archived", password=PASSWORD, groups="base.group_user",
                      company_id=self.company.id).active = False
        partners = Partner.create([{
            "name": f"Client {i:03d}", "mobile": f"6 70 {i // 10000:02d} {i % 10000:04d}", "country_id": cameroon.id,
            "company_id": self.company.id if i % 2 else False,
            "user_id": seller.id if i % 3 == 0 else (stranger.id if i % 3 == 1 else False),
        } for i in range(248)])
        both = Partner.create({"name": "Two numbers", "mobile": "+237 690 00 00 01", "phone": "+221 77 245 71 99"})
        invalid = Partner.create([{"name": "Typo", "mobile": "12"}, {"name": "Half", "phone": "+237 6", "mobile":
                                                                        "+237 699 00 00 02"}])
        Partner.create({"name": "Other company", "mobile": "+237 690 00 00 03", "company_id": other.id})
        self.manager.partner_id.mobile = False  # no contact from the users' own partners in this count

        account, api_key = self.connect_directly()
        self.run_setup()

        self.assertEqual(account.wazzup_setup_state, "done", account.wazzup_setup_error)
        self.assertFalse(account.wazzup_setup_error)
        # webhooks: registered with the test server's URL; Wazzup's test POST carried the crmKey and got 200
        crm_key = self.wz.account_of(api_key)["crm_key"]
        webhooks = self.wz.account_of(api_key)["webhooks"]
        self.assertEqual(webhooks["webhooksUri"], f"{self.base_url()}/notify_rules/wazzup/webhook")
        self.assertEqual(webhooks["subscriptions"], {"messagesAndStatuses": True, "contactsAndDealsCreation": True,
                                                     "channelsUpdates": True, "templateStatus": True})
        [test_post] = [entry for entry in self.wz.webhook_log if entry["kind"] == "test"]
        self.assertEqual((test_post["status"], test_post["headers"]["Authorization"]), (200, f"Bearer {crm_key}"))

        # contacts: 248 + 2 valid, in batches of 100; invalid numbers skipped, other companies' left out
        batches = [r["json"] for r in self.requests_to("/v3/contacts")]
        self.assertEqual([len(batch) for batch in batches], [100, 100, 50])
        self.assertTrue(all(r["response_status"] == 200 for r in self.requests_to("/v3/contacts")))
        contacts = self.wz.account_of(api_key)["contacts"]
        self.assertEqual(set(contacts), {str(p.id) for p in partners | both | invalid[1]})
        first = contacts[str(partners[0].id)]
        self.assertEqual(first, {
            "id": str(partners[0].id), "responsibleUserId": str(seller.id), "name": "Client 000",
            "contactData": [{"chatType": "whatsapp", "chatId": "237670000000"}],
            "uri": f"{self.base_url()}/odoo/res.partner/{partners[0].id}"})
        # a salesperson Wazzup does not know (another company's user) gives way to the connecting user
        self.assertEqual(contacts[str(partners[1].id)]["responsibleUserId"], str(self.manager.id))
        self.assertEqual(contacts[str(partners[2].id)]["responsibleUserId"], str(self.manager.id))
        self.assertEqual(contacts[str(both.id)]["contactData"], [{"chatType": "whatsapp", "chatId": "237690000001"},
                                                                 {"chatType": "whatsapp", "chatId": "221772457199"}])
        self.assertEqual(contacts[str(invalid[1].id)]["contactData"],
                         [{"chatType": "whatsapp", "chatId": "237699000002"}])

        # users: the internal active users of the company, not the portal, archived or other company's ones
        users = self.wz.account_of(api_key)["users"]
        self.assertIn(str(self.manager.id), users)
        self.assertIn(str(seller.id), users)
        self.assertEqual(users[str(seller.id)], {"id": str(seller.id), "name": "Seller"})
        expected = self.env["res.users"].search([("share", "=", False), ("company_ids", "in", self.company.id)])
        self.assertEqual(set(users), {str(user.id) for user in expected})
        for login in ("wz_stranger", "wz_portal", "wz_archived"):
            user = self.env["res.users"].with_context(active_test=False).search([("login", "=", login)])
            self.assertNotIn(str(user.id), users, login)

        # no CRM app here: no deals, and no pipeline (a made-up one would only make Wazzup ask for deals this Odoo
        # must refuse; tests/crm/test_wazzup_crm.py sends the sales teams' with crm)
        self.assertNotIn("crm.lead", self.env)
        self.assertFalse(self.requests_to("/v3/deals"))
        self.assertFalse(self.requests_to("/v3/pipelines"))
        self.assertEqual(self.wz.account_of(api_key)["pipelines"], {})

        # channels: the account's WhatsApp channel, active, chosen to send through
        channel = account.wazzup_channel_ids
        self.assertEqual(len(channel), 1)
        self.assertRecordValues(channel, [{"transport": "whatsapp", "plain_id": "221770000000", "state": "active"}])
        self.assertEqual(account.wazzup_channel_id, channel)

        note = account.message_ids[0].body
        for text in ("Set-up with Wazzup done", "webhooks registered", "250 contacts sent (3 requests); 2 numbers "
                     "skipped", f"{len(expected)} users sent (1 requests)",
                     "pipelines: none sent (the CRM app is not installed)",
                     "deals: none sent (the CRM app is not installed)", "1 channels, 1 active"):
            self.assertIn(text, note)

    def test_user_phone_sent_as_digits(self):
        self.manager.partner_id.write({"mobile": "6 90 00 00 42", "country_id": self.env.ref("base.cm").id})
        account, api_key = self.connect_directly()
        self.run_setup()
        users = self.wz.account_of(api_key)["users"]
        self.assertEqual(users[str(self.manager.id)], {"id": str(self.manager.id), "name": "Awa Manager",
                                                       "phone": "237690000042"})

    def test_failed_step_is_shown_and_can_run_again(self):
        """Wazzup cannot reach the webhook URL: the account stays (Wazzup is connected), the other steps still run,
        the form and the chatter say what failed; once web.base.url is right, the set-up runs again."""
        account, api_key = self.connect_directly()
        self.params.set_param("web.base.url", "http://127.0.0.1:9")  # the discard port: nothing answers
        self.run_setup()
        self.assertEqual(account.wazzup_setup_state, "failed")
        self.assertIn("Webhooks: Wazzup could not reach this Odoo at http://127.0.0.1:9/notify_rules/wazzup/webhook "
                      "(its test call got no answer)", account.wazzup_setup_error)
        self.assertIn("did not complete", account.message_ids[0].body)
        self.assertTrue(self.wz.account_of(api_key)["users"], "the other steps ran")
        self.assertTrue(account.wazzup_channel_ids)
        self.assertTrue(account.active and account.wazzup_api_key)

        form = self.env["notify.provider.account"].get_views([(False, "form")])["views"]["form"]["arch"]
        self.assertIn('name="action_wazzup_setup"', form)
        self.assertIn('name="wazzup_setup_error"', form)
        self.params.set_param("web.base.url", self.base_url())
        action = account.with_user(self.manager).action_wazzup_setup()
        self.assertEqual(action["params"]["type"], "info")
        self.assertEqual(account.wazzup_setup_state, "pending")
        self.run_setup()
        self.assertEqual(account.wazzup_setup_state, "done")
        self.assertFalse(account.wazzup_setup_error)
        self.assertEqual(self.wz.account_of(api_key)["webhooks"]["webhooksUri"],
                         f"{self.base_url()}/notify_rules/wazzup/webhook")

    def test_rate_limited_upload_is_reported(self):
        self.env["res.partner"].create({"name": "Client", "mobile": "+237 670 00 00 01"})
        account, _api_key = self.connect_directly()
        self.wz.rate_limit = (2, 60.0)  # the webhook PATCH and the users pass, then Wazzup says "too many"
        self.run_setup()
        self.assertEqual(account.wazzup_setup_state, "failed")
        self.assertIn("Contacts: Wazzup asked us to slow down (too many requests)", account.wazzup_setup_error)
        self.assertIn("Channels: Wazzup asked us to slow down", account.wazzup_setup_error)
        self.assertNotIn("Users:", account.wazzup_setup_error)

    def test_only_wazzup_accounts_and_writers_run_it(self):
        account, _api_key = self.connect_directly()
        wap = self.create_wap_account(self.env)
        with self.assertRaises(UserError):
            wap.action_wazzup_setup()
        reader = new_test_user(self.env, login="wz_reader", password=PASSWORD,
                               groups="base.group_user,notify_rules.group_notify_user", company_id=self.company.id)
        with self.assertRaises(AccessError):
            account.with_user(reader).action_wazzup_setup()


@tagged("post_install", "-at_install")
class TestWazzupPublisherSettings(WazzupConnectCommon):
    def settings_action(self, method):
        settings = self.env["res.config.settings"].create({})
        return getattr(settings, method)()["params"]

    def test_register(self):
        self.wz.register(DEMO_DEVELOPER_KEY, DEMO_CRM_CODE, "an-old-secret")  # registered before, without a page
        params = self.settings_action("action_notify_wazzup_register")
        self.assertEqual(params["type"], "success", params["message"])
        self.assertIn(f"Wazzup registered the integration {DEMO_CRM_CODE}", params["message"])
        self.assertIn(self.connect_url, params["message"])
        registration = self.wz.registration(DEMO_CRM_CODE)
        self.assertEqual((registration["authRedirectUri"], registration["secret"]), (self.connect_url, DEMO_SECRET))
        [request] = self.requests_to("/v3/marketplace")
        self.assertEqual(request["headers"]["Authorization"], f"Bearer {DEMO_DEVELOPER_KEY}")
        form = self.env["res.config.settings"].get_views([(False, "form")])["views"]["form"]["arch"]
        for button in ("action_notify_wazzup_register", "action_notify_wazzup_send_branding",
                       "action_notify_wazzup_test_install"):
            self.assertIn(f'name="{button}"', form)

    def test_register_generates_the_secret(self):
        self.set_publisher(secret="")
        params = self.settings_action("action_notify_wazzup_register")
        self.assertEqual(params["type"], "success", params["message"])
        secret = self.params.get_param(PARAM % "secret")
        self.assertGreaterEqual(len(secret or ""), 32)
        self.assertEqual(self.wz.registration(DEMO_CRM_CODE)["secret"], secret)

    def test_saving_settings_generates_the_secret_once(self):
        self.set_publisher(secret="")
        self.env["res.config.settings"].create({"notify_wazzup_crm_name": "Odoo Notify"}).execute()
        secret = self.params.get_param(PARAM % "secret")
        self.assertGreaterEqual(len(secret or ""), 32)
        self.env["res.config.settings"].create({}).execute()
        self.assertEqual(self.params.get_param(PARAM % "secret"), secret, "an existing secret is kept")

    def test_register_refusals(self):
        self.set_publisher(developer_key="not-a-developer-key")
        params = self.settings_action("action_notify_wazzup_register")
        self.assertEqual(params["type"], "danger")
        self.assertIn("Wazzup refused the developer key (HTTP 401)", params["message"])
        self.set_publisher(developer_key=DEMO_DEVELOPER_KEY, crm_code="not a code!")
        params = self.settings_action("action_notify_wazzup_register")
        self.assertEqual(params["type"], "danger")
        self.assertIn("The CRM code is 1 to 50 Latin letters", params["message"])
        self.set_publisher(developer_key="")
        params = self.settings_action("action_notify_wazzup_register")
        self.assertIn("Enter the developer key", params["message"])
        self.assertEqual(len(self.requests_to("/v3/marketplace")), 1, "only the first one reached Wazzup")

    def test_send_name_and_logo(self):
        self.env["res.config.settings"].create({
            "notify_wazzup_crm_name": "Odoo Notify Rules", "notify_wazzup_logo": base64.b64encode(SVG),
            "notify_wazzup_logo_name": "notify.svg"}).execute()
        params = self.settings_action("action_notify_wazzup_send_branding")
        self.assertEqual(params["type"], "success", params["message"])
        self.assertIn("Wazzup received the public name Odoo Notify Rules and the logo.", params["message"])
        registration = self.wz.registration(DEMO_CRM_CODE)
        self.assertEqual(registration["crmName"], "Odoo Notify Rules")
        self.assertEqual(registration["logo"], {"name": "notify.svg", "content": SVG})

        self.wz.publish(DEMO_CRM_CODE)
        params = self.settings_action("action_notify_wazzup_send_branding")
        self.assertEqual(params["type"], "danger")
        self.assertIn("Wazzup has already published the integration", params["message"])

    def test_logo_must_be_svg(self):
        with self.assertRaises(ValidationError) as refusal:
            self.env["res.config.settings"].create({"notify_wazzup_logo": base64.b64encode(PNG),
                                                    "notify_wazzup_logo_name": "logo.svg"}).execute()
        self.assertIn("The logo must be an SVG file (Wazzup takes no other format): logo.svg is not one.",
                      str(refusal.exception))
        self.assertFalse(self.params.get_param(PARAM % "logo"))
        # stored some other way: the button refuses it before any request
        self.set_publisher(crm_name="Odoo Notify Rules", logo=base64.b64encode(PNG).decode(), logo_name="logo.png")
        params = self.settings_action("action_notify_wazzup_send_branding")
        self.assertEqual(params["type"], "danger")
        self.assertIn("The logo must be an SVG file (Wazzup takes no other format): logo.png is not one.",
                      params["message"])
        self.assertFalse(self.requests_to("/v3/marketplace", "PATCH"))

    def test_test_installation(self):
        params = self.settings_action("action_notify_wazzup_test_install")
        self.assertEqual(params["type"], "success", params["message"])
        [link] = params["links"]
        self.assertTrue(link["url"].startswith(self.connect_url + "?state="))
        self.assertTrue(params["message"].endswith(" %s"))
        # the address is the customer's way in
        self.new_session(MANAGER)
        self.confirm_page(link["url"])

        self.set_publisher(crm_code="unknown-code")
        params = self.settings_action("action_notify_wazzup_test_install")
        self.assertEqual(params["type"], "danger")
        self.assertIn("Wazzup refused the request (HTTP 400): type: unknown crmCode", params["message"])

    def test_settings_are_for_settings_administrators(self):
        manager = self.manager.with_user(self.manager)
        self.assertFalse(manager.env.is_system())
        with self.assertRaises(AccessError):
            manager.env["res.config.settings"].create({}).action_notify_wazzup_register()
        settings = self.env["res.config.settings"].create({})
        with self.assertRaises(UserError):
            settings.with_user(self.manager).action_notify_wazzup_test_install()
        fields = self.env["res.config.settings"].with_user(self.manager).fields_get()
        for name in ("notify_wazzup_developer_key", "notify_wazzup_secret", "notify_wazzup_crm_code"):
            self.assertNotIn(name, fields)


@tagged("post_install", "-at_install")
class TestWazzupConnectTour(WazzupConnectCommon):
    def test_tour(self):
        url = self.wz.install(DEMO_CRM_CODE)
        self.start_tour(url, "notify_wazzup_connect_tour")
        account = self.wazzup_accounts()
        self.assertEqual(len(account), 1)
        self.assertEqual(account.wazzup_api_key, self.wz.states[state_of(url)]["api_key"])
        self.assertEqual(account.wazzup_connected_user_id, self.manager)
