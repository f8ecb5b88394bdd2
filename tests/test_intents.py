"""What the rules decide in a business transaction: one intent row at its commit, made into messages by the
dispatcher (notify.intent)."""

from odoo.tests import tagged

from .common import NotifyCase


@tagged("post_install", "-at_install")
class TestIntents(NotifyCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.second_rule = cls.env["notify.rule"].create({
            "name": "Welcome again", "model_id": cls.env.ref("base.model_res_partner").id, "trigger": "on_create",
            "filter_domain": "[('ref', '=', 'notify-test')]", "provider_account_id": cls.account.id,
            "template_ref": "tpl-second", "recipient_path": "mobile", "delay_minutes": 30,
        })

    def intents(self):
        return self.env["notify.intent"].search([])

    def create_partners(self, count, ref="notify-test"):
        return self.env["res.partner"].create([
            {"name": f"Intent {index}", "mobile": f"6900006{index:02d}", "ref": ref,
             "country_id": self.env.ref("base.cm").id} for index in range(count)])

    def test_one_row_per_transaction_and_no_message_before_the_dispatcher(self):
        self.intents().unlink()
        partners = self.create_partners(3)
        self.env.cr.flush()
        intent = self.intents()
        self.assertEqual(len(intent), 1, "one row, for 2 rules x 3 records")
        self.assertEqual(intent.message_count, 6)
        self.assertEqual(intent.user_id, self.env.user)
        self.assertEqual([entry["rule_id"] for entry in intent.payload], [self.rule.id, self.second_rule.id])
        self.assertFalse(self.env["notify.message"].search([("res_model", "=", "res.partner"),
                                                            ("res_id", "in", partners.ids)]))

        taken, made = self.env["notify.intent"]._queue_messages()
        self.assertEqual((taken, made), (1, 6))
        self.assertFalse(self.intents().exists(), "the intent is gone with the messages made of it")
        messages = self.env["notify.message"].search([("res_model", "=", "res.partner"),
                                                      ("res_id", "in", partners.ids)], order="id")
        self.assertEqual([(m.rule_id, m.res_id) for m in messages],
                         [(self.rule, p.id) for p in partners] + [(self.second_rule, p.id) for p in partners])
        self.assertEqual(set(messages.mapped("state")), {"queued"})
        self.assertTrue(all(messages.mapped("to_render")))
        self.assertEqual(messages.create_uid, self.env.user)
        self.assertEqual(len(set(messages.mapped("idempotency_key"))), 6, "a key of its own for each message")
        delays = {m.rule_id: m.next_attempt_at - m.create_date for m in messages}
        self.assertEqual(delays[self.rule].total_seconds(), 0)
        self.assertEqual(delays[self.second_rule].total_seconds(), 30 * 60, "the rule's delay, from the decision")

    def test_a_transaction_that_fires_no_rule_writes_nothing(self):
        self.intents().unlink()
        self.create_partners(2, ref="not-for-the-rules")
        self.env.cr.flush()
        self.assertFalse(self.intents())

    def test_the_dispatcher_queues_then_sends(self):
        partner = self.create_partners(1)
        self.env.cr.flush()
        self.dispatch()
        sent = self.messages_of(partner).filtered(lambda m: m.state == "sent")
        self.assertEqual(sent.rule_id, self.rule)
        self.assertEqual(self.messages_of(partner).filtered(lambda m: m.state == "queued").rule_id, self.second_rule,
                         "queued, due in 30 minutes")
        self.assertFalse(self.intents())

    def test_a_failed_queuing_keeps_the_intent(self):
        self.intents().unlink()
        partner = self.create_partners(1)
        self.env.cr.flush()
        with self.assertRaises(ZeroDivisionError), self.env.cr.savepoint():
            self.env["notify.intent"]._queue_all()
            raise ZeroDivisionError  # the dispatcher's transaction dies before its commit
        self.env.invalidate_all()
        self.assertEqual(len(self.intents()), 1)
        self.assertFalse(self.messages_of(partner))
        self.assertEqual(self.env["notify.intent"]._queue_all(), 2)
        self.assertEqual(len(self.messages_of(partner)), 2)

    def test_a_rule_deleted_before_queuing_fails_its_message_with_the_reason(self):
        self.second_rule.delay_minutes = 0
        partner = self.create_partners(1)
        self.env.cr.flush()
        self.second_rule.unlink()
        self.env["notify.message"]._render_pending()
        failed = self.messages_of(partner).filtered(lambda m: not m.rule_id)
        self.assertEqual(failed.state, "failed")
        self.assertIn("deleted", failed.last_error)
        self.assertEqual(failed.template_ref, "tpl-second")
        self.assertEqual((self.messages_of(partner) - failed).state, "queued", "the other rule's message goes on")

    def test_an_account_deleted_before_queuing_drops_its_messages_and_says_so(self):
        other = self.create_wap_account(self.env, name="WAP short-lived")
        self.second_rule.provider_account_id = other
        partner = self.create_partners(1)
        self.env.cr.flush()
        self.second_rule.unlink()
        other.unlink()  # possible: it never had a message
        with self.assertLogs("odoo.addons.notify_rules.models.notify_intent", "WARNING") as logs:
            self.assertEqual(self.env["notify.intent"]._queue_all(), 1)
        self.assertIn("1 rule firing(s) dropped", logs.output[0])
        self.assertEqual(self.messages_of(partner).rule_id, self.rule)
        self.assertFalse(self.intents())

    def test_queuing_takes_batches_oldest_first(self):
        self.intents().unlink()
        Intent = self.env["notify.intent"]
        for index in range(3):
            Intent._record([{"rule_id": self.rule.id, "account_id": self.account.id, "provider": "wap",
                             "company_id": self.account.company_id.id, "channel": "whatsapp",
                             "template_ref": f"tpl-{index}", "res_model": "res.partner",
                             "next_attempt_at": "2026-01-01 00:00:00", "res_ids": [index + 1]}],
                           self.env.uid, "2026-01-01 00:00:00")
        self.assertEqual(Intent._queue_messages(limit=2), (2, 2))
        self.assertEqual(Intent._queue_messages(limit=2), (1, 1))
        self.assertEqual(Intent._queue_messages(limit=2), (0, 0))
        made = self.env["notify.message"].search([("template_ref", "in", ["tpl-0", "tpl-1", "tpl-2"])], order="id")
        self.assertEqual(made.mapped("template_ref"), ["tpl-0", "tpl-1", "tpl-2"])
