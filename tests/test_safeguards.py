"""Recipient safeguards in the dispatcher: opt-out, WhatsApp consent, repeats, quiet hours, per-recipient limit.

Real dispatcher, real WAP simulator over loopback; time moved with freezegun (the dispatcher reads Odoo's clock)."""

from datetime import datetime, timedelta

from freezegun import freeze_time

from odoo.exceptions import ValidationError

from ..models.notify_message_safeguard import Candidate
from ..tools.safeguards import quiet_hours_end, recipient_zone, zone_of_number
from .common import NotifyCase

# 21:30 UTC on a Wednesday: 22:30 in Douala (UTC+1, no DST), 21:30 in Dakar, 02:30 next day in Almaty (UTC+5)
EVENING = datetime(2026, 12, 2, 21, 30)
NOON = datetime(2026, 12, 2, 11, 0)


class TestSafeguards(NotifyCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company = cls.account.company_id
        cls.company.write({"notify_quiet_hours": False, "notify_throttle_max": 0, "notify_dedup_minutes": 60,
                           "notify_held_policy": "wait", "notify_quiet_start": 21.0, "notify_quiet_end": 7.0})

    def sent_to(self, e164_digits):
        return [r for r in self.wap_sim.requests if r["method"] == "POST" and r["json"]["recipient"] == e164_digits]

    def one_message(self, **partner_values):
        partner = self.make_partner(**partner_values)
        return partner, self.messages_of(partner)

    # ---- opt-out --------------------------------------------------------------------------------------
    def test_blacklisted_number_is_cancelled_with_the_reason(self):
        self.env["phone.blacklist"].sudo()._add(["+237690000001"], message="STOP")
        partner, message = self.one_message()
        self.dispatch()
        self.assertEqual(message.state, "cancelled")
        self.assertEqual(message.safeguard, "optout")
        self.assertIn("opted out", message.last_error)
        self.assertIn("+237 6 90 00 00 01", message.safeguard_note)
        self.assertFalse(self.wap_sim.requests, "no request for a number that opted out")
        self.assertIn("opted out", partner.message_ids[0].body)

    def test_resend_after_the_number_left_the_blacklist(self):
        self.env["phone.blacklist"].sudo()._add(["+237690000001"])
        _partner, message = self.one_message()
        self.dispatch()
        self.assertEqual(message.safeguard, "optout")
        message.action_retry()
        self.dispatch()
        self.assertEqual((message.state, message.safeguard), ("cancelled", "optout"), "checked again: still out")
        self.env["phone.blacklist"].sudo()._remove(["+237690000001"])
        message.action_retry()
        self.assertFalse(message.safeguard_note, "a resend forgets what stopped it before")
        self.dispatch()
        self.assertEqual((message.state, message.safeguard), ("sent", False))

    def test_blacklist_entry_archived_again_lets_messages_through(self):
        self.env["phone.blacklist"].sudo()._add(["+237690000001"])
        self.env["phone.blacklist"].sudo()._remove(["+237690000001"])
        _partner, message = self.one_message()
        self.dispatch()
        self.assertEqual(message.state, "sent")

    def test_transactional_rule_may_be_exempted(self):
        self.env["phone.blacklist"].sudo()._add(["+237690000001"])
        self.rule.optout_exempt = True
        _partner, message = self.one_message()
        self.dispatch()
        self.assertEqual(message.state, "sent")

    def test_marketing_rule_cannot_be_exempted(self):
        with self.assertRaises(ValidationError):
            self.rule.write({"purpose": "marketing", "optout_exempt": True})

    def test_a_message_written_by_a_person_is_stopped_by_opt_out_too(self):
        self.env["phone.blacklist"].sudo()._add(["+237690000002"])
        message = self.env["notify.message"].sudo().create({
            "provider_account_id": self.account.id, "recipient_e164": "+237690000002",
            "recipient_provider": "CM 690000002", "template_ref": "tpl-partner-welcome",
            "payload": {"customer_name": "X"}})
        self.dispatch()
        self.assertEqual((message.state, message.safeguard), ("cancelled", "optout"))

    # ---- WhatsApp consent -----------------------------------------------------------------------------
    def test_marketing_whatsapp_needs_consent(self):
        self.rule.purpose = "marketing"
        self.assertTrue(self.rule.require_whatsapp_consent, "required by default for marketing rules")
        partner, message = self.one_message()
        self.dispatch()
        self.assertEqual((message.state, message.safeguard), ("cancelled", "consent"))
        self.assertIn("has not agreed to WhatsApp messages", message.last_error)
        self.assertIn(partner.name, message.last_error)
        self.assertFalse(self.wap_sim.requests)

    def test_consent_of_the_contact_lets_it_through(self):
        self.rule.purpose = "marketing"
        partner = self.env["res.partner"].create({"name": "Consenting", "mobile": "+237690000003"})
        partner.action_notify_whatsapp_consent()
        self.assertEqual(partner.notify_whatsapp_consent_source, "person")
        _other, message = self.one_message(name="Other card, same number", mobile="6 90 00 00 03")
        self.dispatch()
        self.assertEqual(message.state, "sent", "consent is found by the number, whichever contact holds it")
        partner.action_notify_whatsapp_consent_withdraw()
        _third, message = self.one_message(name="Third", mobile="6 90 00 00 03")
        self.dispatch()
        self.assertEqual((message.state, message.safeguard), ("cancelled", "consent"))

    def test_transactional_rule_does_not_ask_for_consent_unless_told(self):
        _partner, message = self.one_message()
        self.dispatch()
        self.assertEqual(message.state, "sent")
        self.rule.require_whatsapp_consent = True
        _partner, message = self.one_message(name="Second")
        self.dispatch()
        self.assertEqual((message.state, message.safeguard), ("cancelled", "consent"))

    # ---- repeats ------------------------------------------------------------------------------------
    def test_same_content_to_the_same_number_is_sent_once(self):
        messages = self.env["notify.message"]
        for _index in range(3):  # a loop of saves: three identical messages in one batch
            messages |= self.one_message()[1]
        self.dispatch()
        self.assertEqual(sorted(messages.mapped("state")), ["cancelled", "cancelled", "sent"])
        self.assertEqual(len(self.sent_to("690000001")), 1)
        cancelled = messages.filtered(lambda m: m.state == "cancelled")
        self.assertEqual(set(cancelled.mapped("safeguard")), {"duplicate"})
        self.assertIn("already sent this same message", cancelled[0].last_error)

    def test_repeat_across_batches_and_after_the_window(self):
        with freeze_time(NOON):
            first = self.one_message()[1]
            self.dispatch()
        with freeze_time(NOON + timedelta(minutes=30)):
            second = self.one_message()[1]
            other_content = self.one_message(name="Another name")[1]
            self.dispatch()
        self.assertEqual(first.state, "sent")
        self.assertEqual((second.state, second.safeguard), ("cancelled", "duplicate"))
        self.assertIn("30 min ago", second.last_error)
        self.assertEqual(other_content.state, "sent", "another content is not a repeat")
        with freeze_time(NOON + timedelta(minutes=61)):
            third = self.one_message()[1]
            self.dispatch()
        self.assertEqual(third.state, "sent", "after the window the same content may go again")

    def test_repeat_check_off(self):
        self.company.notify_dedup_minutes = 0
        messages = self.one_message()[1] | self.one_message()[1]
        self.dispatch()
        self.assertEqual(messages.mapped("state"), ["sent", "sent"])

    # ---- quiet hours ----------------------------------------------------------------------------------
    def test_quiet_hours_hold_until_they_end_in_the_recipients_zone(self):
        self.company.notify_quiet_hours = True
        with freeze_time(EVENING):
            partner, message = self.one_message()
            self.dispatch()
            self.assertEqual(message.state, "queued")
            self.assertEqual(message.safeguard, "quiet_hours")
            self.assertEqual(message.safeguard_note, "Held until 07:00 Africa/Douala: quiet hours.")
            self.assertEqual(message.next_attempt_at, datetime(2026, 12, 3, 6, 0))
            self.assertEqual(message.attempts, 0, "being held is not an attempt")
            self.assertFalse(self.wap_sim.requests)
        with freeze_time(datetime(2026, 12, 3, 5, 59)):
            self.dispatch()
            self.assertEqual(message.state, "queued")
        with freeze_time(datetime(2026, 12, 3, 6, 0, 1)):
            self.dispatch()
            self.assertEqual(message.state, "sent")
        self.assertEqual(message.safeguard_note, "Held until 07:00 Africa/Douala: quiet hours.",
                         "the note stays: it says why it went late")
        self.assertEqual(len(self.sent_to("690000001")), 1)

    def test_partner_time_zone_wins_over_the_numbers_country(self):
        self.company.notify_quiet_hours = True
        with freeze_time(NOON):  # 12:00 in Douala, 17:00 in Almaty, 03:00 in Los Angeles
            _p, almaty = self.one_message(name="Almaty", tz="Asia/Almaty")
            _p, los_angeles = self.one_message(name="LA", tz="America/Los_Angeles")
            self.dispatch()
        self.assertEqual(almaty.state, "sent")
        self.assertEqual((los_angeles.state, los_angeles.safeguard), ("queued", "quiet_hours"))
        self.assertEqual(los_angeles.safeguard_note, "Held until 07:00 America/Los_Angeles: quiet hours.")
        self.assertEqual(los_angeles.next_attempt_at, datetime(2026, 12, 2, 15, 0))

    def test_quiet_hours_on_the_night_clocks_change(self):
        self.company.notify_quiet_hours = True
        with freeze_time(datetime(2026, 3, 29, 0, 30)):  # 01:30 in Paris; at 02:00 clocks go to 03:00
            _partner, message = self.one_message(name="Paris", tz="Europe/Paris")
            self.dispatch()
        self.assertEqual(message.safeguard_note, "Held until 07:00 Europe/Paris: quiet hours.")
        self.assertEqual(message.next_attempt_at, datetime(2026, 3, 29, 5, 0), "07:00 summer time is 05:00 UTC")
        with freeze_time(datetime(2026, 3, 29, 5, 0, 1)):
            self.dispatch()
        self.assertEqual(message.state, "sent")

    def test_quiet_hours_may_cancel_instead(self):
        self.company.write({"notify_quiet_hours": True, "notify_held_policy": "cancel"})
        with freeze_time(EVENING):
            _partner, message = self.one_message()
            self.dispatch()
        self.assertEqual((message.state, message.safeguard), ("cancelled", "quiet_hours"))
        self.assertIn("21:00–07:00 Africa/Douala", message.last_error)

    def test_a_held_batch_does_not_stop_the_messages_behind_it(self):
        self.company.notify_quiet_hours = True
        self.account.concurrency = 2
        with freeze_time(EVENING):
            night = [self.one_message(name=f"Douala {i}", mobile=f"6 90 00 01 0{i}")[1] for i in range(3)]
            night.append(self.one_message(name="Almaty", tz="Asia/Almaty", mobile="6 90 00 02 00")[1])  # 02:30
            night.append(self.one_message(name="Tokyo", tz="Asia/Tokyo", mobile="6 90 00 02 01")[1])  # 06:30
            day = self.one_message(name="Honolulu", tz="Pacific/Honolulu", mobile="6 90 00 02 02")[1]  # 11:30
            self.dispatch()
        self.assertEqual({m.state for m in night}, {"queued"})
        self.assertEqual(day.state, "sent", "claimed after three held batches, in the same run")
        self.assertEqual(len(self.wap_sim.requests), 1)

    def test_no_quiet_hours_for_messages_written_by_a_person(self):
        self.company.notify_quiet_hours = True
        with freeze_time(EVENING):
            message = self.env["notify.message"].sudo().create({
                "provider_account_id": self.account.id, "recipient_e164": "+237690000002",
                "recipient_provider": "CM 690000002", "template_ref": "tpl-partner-welcome",
                "payload": {"customer_name": "X"}})
            self.dispatch()
        self.assertEqual(message.state, "sent")

    def test_one_time_codes_are_never_held(self):
        """The decision the dispatcher takes for a code at night (the OTP flow itself is in test_otp_engine)."""
        self.company.write({"notify_quiet_hours": True, "notify_throttle_max": 1})
        candidate = Candidate(1, self.company, self.rule, self.env["res.partner"], "+237690000001", "whatsapp",
                              "d", "otp")
        rule_candidate = candidate._replace(key=2, kind="rule", recipient="+237690000009")
        decisions = self.env["notify.message"]._notify_safeguard_decisions([candidate, rule_candidate], EVENING)
        self.assertNotIn(1, decisions)
        self.assertEqual(decisions[2].safeguard, "quiet_hours")

    # ---- per-recipient limit --------------------------------------------------------------------------
    def test_limit_per_recipient_holds_until_a_slot_frees(self):
        self.company.write({"notify_throttle_max": 2, "notify_throttle_hours": 24})
        with freeze_time(NOON):
            first = self.one_message(name="One")[1]
            self.dispatch()
        with freeze_time(NOON + timedelta(hours=1)):
            second, third = self.one_message(name="Two")[1], self.one_message(name="Three")[1]
            self.dispatch()
        self.assertEqual((first.state, second.state), ("sent", "sent"))
        self.assertEqual((third.state, third.safeguard), ("queued", "throttle"))
        self.assertEqual(third.next_attempt_at, NOON + timedelta(hours=24, seconds=1))
        self.assertIn("2 messages already went to +237 6 90 00 00 01 in the last 24 hours (limit: 2)",
                      third.safeguard_note)
        with freeze_time(NOON + timedelta(hours=2)):
            other_number = self.one_message(name="Four", mobile="6 90 00 00 04")[1]
            self.dispatch()
        self.assertEqual(other_number.state, "sent", "the limit is per number")
        with freeze_time(NOON + timedelta(hours=24, seconds=2)):
            self.dispatch()
        self.assertEqual(third.state, "sent")

    def test_limit_may_cancel(self):
        self.company.write({"notify_throttle_max": 1, "notify_held_policy": "cancel"})
        messages = self.one_message(name="One")[1] | self.one_message(name="Two")[1]
        self.dispatch()
        self.assertEqual(sorted(messages.mapped("state")), ["cancelled", "sent"])
        self.assertIn("limit: 1", messages.filtered(lambda m: m.state == "cancelled").last_error)

    def test_limit_is_per_company(self):
        self.company.write({"notify_throttle_max": 1})
        other_company = self.env["res.company"].create({"name": "Other NR company"})
        decisions = self.env["notify.message"]._notify_safeguard_decisions([
            Candidate(1, self.company, self.rule, self.env["res.partner"], "+237690000001", "whatsapp", "a", "rule"),
            Candidate(2, other_company, self.rule, self.env["res.partner"], "+237690000001", "whatsapp", "b", "rule"),
            Candidate(3, self.company, self.rule, self.env["res.partner"], "+237690000001", "whatsapp", "c", "rule"),
        ], NOON)
        self.assertEqual(list(decisions), [3])

    # ---- together -------------------------------------------------------------------------------------
    def test_the_first_safeguard_in_order_says_why(self):
        self.company.write({"notify_quiet_hours": True, "notify_throttle_max": 1})
        self.rule.purpose = "marketing"
        self.env["phone.blacklist"].sudo()._add(["+237690000001"])
        with freeze_time(EVENING):
            blacklisted = self.one_message()[1]
            no_consent = self.one_message(name="No consent", mobile="6 90 00 00 05")[1]
            consenting = self.env["res.partner"].create({"name": "Yes", "mobile": "+237690000006"})
            consenting.action_notify_whatsapp_consent()
            at_night = self.one_message(name="Yes", mobile="6 90 00 00 06")[1]
            self.dispatch()
        self.assertEqual([m.safeguard for m in (blacklisted, no_consent, at_night)],
                         ["optout", "consent", "quiet_hours"])
        self.assertEqual([m.state for m in (blacklisted, no_consent, at_night)], ["cancelled", "cancelled", "queued"])

    def test_a_batch_costs_the_same_queries_whatever_its_size(self):
        self.company.write({"notify_quiet_hours": True, "notify_throttle_max": 50})
        self.rule.write({"purpose": "marketing"})
        self.env["phone.blacklist"].sudo()._add(["+237690000099"])
        Message = self.env["notify.message"]

        def queries_for(count, prefix):
            messages = Message
            for index in range(count):
                mobile = f"6 9{prefix} 00 0{index // 10} {index % 10}0"
                partner = self.make_partner(name=f"Q{prefix}{index}", mobile=mobile)
                partner.action_notify_whatsapp_consent()
                messages |= self.messages_of(partner)
            messages.write({"state": "sending", "last_attempt_at": NOON})
            self.env.flush_all()
            self.env.invalidate_all()
            before = self.env.cr.sql_log_count
            with freeze_time(NOON):
                Message.browse(messages.ids)._notify_safeguard(NOON)
            return self.env.cr.sql_log_count - before

        self.assertEqual(queries_for(3, 1), queries_for(30, 2))

    # ---- preview --------------------------------------------------------------------------------------
    def test_preview_says_what_the_safeguards_would_do(self):
        self.company.notify_quiet_hours = True
        partner = self.env["res.partner"].create({"name": "Preview", "mobile": "6 90 00 00 07", "ref": "notify-test",
                                                  "country_id": self.env.ref("base.cm").id})
        preview = self.env["notify.rule.preview"].create({"rule_id": self.rule.id,
                                                          "record_ref": f"res.partner,{partner.id}"})
        with freeze_time(EVENING):
            preview.invalidate_recordset()
            self.assertEqual(preview.safeguard_text, "Would be held until 07:00 Africa/Douala: quiet hours.")
        with freeze_time(NOON):
            preview.invalidate_recordset()
            self.assertEqual(preview.safeguard_text, "None would stop it now.")
            self.env["phone.blacklist"].sudo()._add(["+237690000007"])
            preview.invalidate_recordset()
            self.assertTrue(preview.safeguard_text.startswith("Would be cancelled: +237 6 90 00 00 07 opted out"))

    # ---- settings -------------------------------------------------------------------------------------
    def test_bad_settings_are_refused(self):
        for values in ({"notify_quiet_start": 25.0}, {"notify_quiet_end": -1.0}, {"notify_throttle_max": -1},
                       {"notify_throttle_hours": 0}, {"notify_dedup_minutes": -5}):
            with self.subTest(values=values), self.assertRaises(ValidationError):
                self.company.write(values)

    def test_settings_page_writes_the_company(self):
        settings = self.env["res.config.settings"].create({
            "notify_quiet_hours": True, "notify_quiet_start": 22.5, "notify_quiet_end": 6.0,
            "notify_throttle_max": 4, "notify_held_policy": "cancel"})
        settings.execute()
        company = self.env.company
        self.assertEqual((company.notify_quiet_hours, company.notify_quiet_start, company.notify_throttle_max,
                          company.notify_held_policy), (True, 22.5, 4, "cancel"))


class TestQuietHoursClock(NotifyCase):
    """The time-zone edges, without the dispatcher."""

    def test_zone_of_the_recipient(self):
        self.assertEqual(zone_of_number("+237690000001"), "Africa/Douala")
        self.assertEqual(zone_of_number("+221772457199"), "Africa/Dakar")
        self.assertEqual(zone_of_number("+22236123456"), "Africa/Nouakchott")
        self.assertEqual(zone_of_number("+77012345678"), "Asia/Almaty")
        self.assertIsNone(zone_of_number("not a number"))
        self.assertEqual(recipient_zone("Asia/Tokyo", "+237690000001", "Africa/Dakar"), ("Asia/Tokyo", "partner"))
        self.assertEqual(recipient_zone("Mars/Olympus", "+237690000001", "Africa/Dakar"), ("Africa/Douala", "number"))
        self.assertEqual(recipient_zone(False, "garbage", "Africa/Dakar"), ("Africa/Dakar", "company"))
        self.assertEqual(recipient_zone(False, "garbage", False), ("UTC", "default"))

    def test_windows(self):
        douala = "Africa/Douala"
        cases = [
            (datetime(2026, 12, 2, 19, 59), 21, 7, None),  # 20:59 local: before
            (datetime(2026, 12, 2, 20, 0), 21, 7, datetime(2026, 12, 3, 6, 0)),  # 21:00 local: starts
            (datetime(2026, 12, 2, 23, 30), 21, 7, datetime(2026, 12, 3, 6, 0)),  # 00:30 next day, after midnight
            (datetime(2026, 12, 3, 5, 59), 21, 7, datetime(2026, 12, 3, 6, 0)),
            (datetime(2026, 12, 3, 6, 0), 21, 7, None),  # 07:00 local: over
            (datetime(2026, 12, 2, 12, 15), 13, 14.5, datetime(2026, 12, 2, 13, 30)),  # a lunch break, same day
            (datetime(2026, 12, 2, 12, 15), 9, 9, None),  # start == end: none
        ]
        for now, start, end, expected in cases:
            with self.subTest(now=now, start=start, end=end):
                self.assertEqual(quiet_hours_end(now, douala, start, end), expected)

    def test_daylight_saving_nights(self):
        paris = "Europe/Paris"
        # spring: 2026-03-29 02:00 → 03:00; at 01:30 local (00:30 UTC) quiet until 07:00 CEST = 05:00 UTC
        self.assertEqual(quiet_hours_end(datetime(2026, 3, 29, 0, 30), paris, 21, 7), datetime(2026, 3, 29, 5, 0))
        # autumn: 2026-10-25 03:00 → 02:00; at 23:00 UTC the day before (01:00 CEST) until 07:00 CET = 06:00 UTC
        self.assertEqual(quiet_hours_end(datetime(2026, 10, 24, 23, 0), paris, 21, 7), datetime(2026, 10, 25, 6, 0))
        # a window ending in the spring gap (02:30 does not exist): moved forward by the change, 03:30 CEST
        self.assertEqual(quiet_hours_end(datetime(2026, 3, 29, 0, 10), paris, 1, 2.5), datetime(2026, 3, 29, 1, 30))
