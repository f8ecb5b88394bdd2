"""Provider accounts under stress: who may point signed requests where, what pauses an account, and what
happens to a message whose answer was lost (no silent duplicates)."""

from odoo.exceptions import AccessError
from odoo.tests import Form, new_test_user

from .common import NotifyCase
from .simulator import Simulator
from .simulator.wap import DEMO_API_KEY, DEMO_SECRET_B64, seed_demo

ROTATED_SECRET = "cm90YXRlZA=="  # base64 of "rotated"


class TestAccountDestination(NotifyCase):
    """A Notify Manager who is not a Settings administrator cannot make the account sign a request for a host
    of their choosing (WAP's signature covers only api_key + timestamp: it could be replayed with any body)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.manager = new_test_user(cls.env, "dest_manager", groups="notify_rules.group_notify_manager")
        cls.attacker = Simulator().start()  # the host the manager would like the signature sent to
        cls.addClassCleanup(cls.attacker.stop)
        seed_demo(cls.attacker.wap)

    def setUp(self):
        super().setUp()
        self.attacker.reset()

    def test_manager_cannot_redirect_signed_requests(self):
        account = self.account.with_user(self.manager)
        for field, value in (("base_url", self.attacker.base_url("wap")), ("environment", "production"),
                             ("environment", "test")):
            with self.subTest(field=field, value=value), self.assertRaisesRegex(AccessError, "Settings administrators"):
                account.write({field: value})
        self.assertEqual(self.account.base_url, self.simulator.base_url("wap"))
        account.action_test_connection()
        self.assertFalse(self.attacker.wap.requests, "no signed request reached the other host")
        self.assertEqual(len(self.wap_sim.requests), 1, "the test went to the configured host")

    def test_manager_copy_or_new_account_carries_no_credentials(self):
        copy = self.account.with_user(self.manager).copy({"name": "Mine", "base_url": self.attacker.base_url("wap")})
        result = copy.action_test_connection()
        self.assertEqual(result["params"]["type"], "danger")
        self.assertIn("API key", result["params"]["message"])
        with self.assertRaises(AccessError):
            copy.write({"wap_api_key": "stolen"})
        self.assertFalse(self.attacker.wap.requests)

    def test_manager_keeps_editing_the_rest_and_the_form_says_it(self):
        account = self.account.with_user(self.manager)
        account.write({"timeout": 7, "rate_limit_per_minute": 50, "base_url": self.account.base_url})
        self.assertEqual(self.account.timeout, 7)
        self.assertFalse(account.can_edit_destination)
        self.assertTrue(self.account.can_edit_destination)
        with Form(account) as form:
            form.timeout = 8
            with self.assertRaises(AssertionError):  # read-only in the form
                form.base_url = self.attacker.base_url("wap")

    def test_administrator_changes_the_destination(self):
        self.account.write({"base_url": self.attacker.base_url("wap")})
        self.assertEqual(self.account.action_test_connection()["params"]["type"], "success")
        self.assertEqual(len(self.attacker.wap.requests), 1)


class TestAccountPause(NotifyCase):
    def rotate_key_at_wap(self):
        self.wap_sim.add_account(DEMO_API_KEY, ROTATED_SECRET)
        self.addCleanup(self.wap_sim.add_account, DEMO_API_KEY, DEMO_SECRET_B64)

    def test_rejected_credentials_pause_the_account_not_the_backlog(self):
        messages = self.env["notify.message"]
        for index in range(3):
            messages |= self.messages_of(self.make_partner(name=f"P{index}", mobile=f"69000070{index}"))
        self.rotate_key_at_wap()
        self.dispatch()
        self.assertEqual(set(messages.mapped("state")), {"queued"}, "nothing failed")
        self.assertEqual(set(messages.mapped("attempts")), {0})
        self.assertTrue(self.account.paused)
        self.assertIn("credentials", self.account.pause_reason)
        self.assertIn("is paused", messages[0].last_error)
        [note] = self.account.message_ids.filtered(lambda m: "is paused" in str(m.body))
        self.assertIn("credentials", note.body)
        self.assertIn(self.env.ref("base.user_admin").partner_id, note.partner_ids, "managers are told")
        requests_before = len(self.wap_sim.requests)
        self.dispatch()
        self.env["notify.message"]._cron_poll_status()
        self.assertEqual(len(self.wap_sim.requests), requests_before, "a paused account sends nothing")
        self.assertEqual(len(self.account.message_ids.filtered(lambda m: "is paused" in str(m.body))), 1,
                         "the managers are told once")
        # the administrator enters the new secret: the account resumes and the backlog goes out
        self.account.wap_api_secret = ROTATED_SECRET
        self.assertFalse(self.account.paused)
        self.dispatch()
        self.assertEqual(set(messages.mapped("state")), {"sent"})

    def test_resume_button_and_test_connection(self):
        message = self.messages_of(self.make_partner())
        self.rotate_key_at_wap()
        self.dispatch()
        self.assertTrue(self.account.paused)
        result = self.account.action_test_connection()
        self.assertEqual(result["params"]["type"], "danger")
        self.assertTrue(self.account.paused, "a failed test does not resume")
        self.wap_sim.add_account(DEMO_API_KEY, DEMO_SECRET_B64)  # fixed on WAP's side
        self.account.action_resume()
        self.assertFalse(self.account.paused)
        self.dispatch()
        self.assertEqual(message.state, "sent")

    def test_wrong_base_url_pauses(self):
        message = self.messages_of(self.make_partner())
        self.account.base_url = self.simulator.url + "/nowhere"
        self.dispatch()
        self.assertEqual(message.state, "queued")
        self.assertTrue(self.account.paused)
        self.assertIn("base URL", self.account.pause_reason)
        self.account.base_url = self.simulator.base_url("wap")
        self.assertFalse(self.account.paused)
        self.dispatch()
        self.assertEqual(message.state, "sent")

    def test_unknown_template_still_fails_only_its_message(self):
        good = self.messages_of(self.make_partner())
        bad = self.messages_of(self.make_partner(name="Other", mobile="690000071"))
        bad.template_ref = "tpl-that-does-not-exist"
        self.dispatch()
        self.assertEqual((good.state, bad.state), ("sent", "failed"))
        self.assertFalse(self.account.paused)


class TestAmbiguousAnswers(NotifyCase):
    def test_server_error_after_receiving_is_held_by_default(self):
        message = self.messages_of(self.make_partner())
        for fault in ("500", "504"):
            with self.subTest(fault=fault):
                self.wap_sim.fail_next(fault)
                self.make_due(message)
                message.sudo().write({"state": "queued"})
                self.dispatch()
                self.assertEqual(message.state, "unknown")
                self.assertIn("may or may not have been accepted", message.last_error)
        self.dispatch()
        self.assertEqual(self.wap_sim.sent_count(), 0)
        self.assertEqual(len(self.wap_sim.requests), 2, "never resent by itself")

    def test_unprocessed_statuses_are_retried(self):
        message = self.messages_of(self.make_partner())
        for fault in ("502", "503"):
            with self.subTest(fault=fault):
                self.wap_sim.fail_next(fault)
                self.make_due(message)
                self.dispatch()
                self.assertEqual(message.state, "queued")
                self.assertIn("retried automatically", message.last_error)
        self.make_due(message)
        self.dispatch()
        self.assertEqual((message.state, self.wap_sim.sent_count()), ("sent", 1))

    def test_opt_in_policy_retries_and_says_a_duplicate_is_possible(self):
        self.account.ambiguous_send_policy = "retry"
        message = self.messages_of(self.make_partner())
        self.wap_sim.fail_next("500")
        self.dispatch()
        self.assertEqual(message.state, "queued")
        self.assertIn("may receive it twice", message.last_error)
        self.make_due(message)
        self.dispatch()
        self.assertEqual(message.state, "sent")

    def test_policy_never_resends_an_unreadable_success(self):
        """A 200 with an unreadable body means the provider most likely took it: held whatever the policy."""
        self.account.ambiguous_send_policy = "retry"
        message = self.messages_of(self.make_partner())
        self.wap_sim.fail_next("malformed")
        self.dispatch()
        self.assertEqual(message.state, "unknown")

    def test_policy_shown_in_the_form(self):
        arch = self.env["notify.provider.account"].get_view(view_type="form")["arch"]
        self.assertIn('name="ambiguous_send_policy"', arch)
