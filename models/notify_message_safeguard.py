"""Recipient safeguards: what the dispatcher checks between the claim and the HTTP call.

Every message of the addon passes them, whichever rule, provider or channel it comes from: a number that opted out
(Odoo's ``phone.blacklist``), WhatsApp consent for rules that require it, the company's quiet hours in the
recipient's time zone, a per-recipient limit, and a rule's repeat of the same content to the same number. A message
stopped by one is cancelled or held (back to *Queued*, due when the reason ends) and says which one and why.

A batch costs a fixed handful of queries whatever its size (the blacklist, consent, recent sends, partners' zones),
never one per message. Preview runs the same checks on one record (wizard/notify_rule_preview.py).

Who is spared what, and why:
- money requests (``money_operation_id``): none — a payment the customer started is not a notification;
- one-time codes: never held (quiet hours, limit) nor de-duplicated; opt-out unless their rule is exempted
  (a person's own login code);
- messages a person wrote (the chat composer, Odoo's SMS): opt-out only — the person chose the moment and the words.
"""

from collections import defaultdict, namedtuple
from datetime import timedelta

import pytz

from odoo import api, fields, models
from odoo.tools.sql import create_index

from ..clients.phone import format_international
from ..tools.safeguards import quiet_hours_end, recipient_zone

SAFEGUARDS = [
    ("optout", "Opted out"),
    ("consent", "No WhatsApp consent"),
    ("duplicate", "Same message already sent"),
    ("quiet_hours", "Quiet hours"),
    ("throttle", "Too many messages to this number"),
]
# States of a message that may have reached the recipient: they count against the limit and the repeat check.
REACHED_STATES = ("sending", "sent", "delivered", "read", "unknown")
DIGEST_SQL = "md5(coalesce(template_ref, '') || '|' || coalesce(payload::text, '') || '|' || coalesce(body, ''))"

# kind: 'rule', 'otp', 'money' or 'person'; digest: md5 of the content as DIGEST_SQL computes it
Candidate = namedtuple("Candidate", "key company rule partner recipient channel digest kind")
# action: 'cancel' or 'hold'; text: what the message says; preview: what Preview says before it is sent
Decision = namedtuple("Decision", "safeguard action until text preview")


class NotifyMessage(models.Model):
    _inherit = "notify.message"

    partner_id = fields.Many2one("res.partner", string="Contact", ondelete="set null", index="btree_not_null",
                                 readonly=True, help="The contact whose number the message was sent to, when known.")
    safeguard = fields.Selection(SAFEGUARDS, readonly=True, copy=False,
                                 help="The recipient safeguard that held or stopped this message.")
    safeguard_note = fields.Char(string="Held or stopped because", readonly=True, copy=False)

    def _auto_init(self):
        """The limit and the repeat check read a number's recent attempts. ``last_attempt_at`` is empty when a
        business transaction inserts the message, so this index costs nothing on that path (set at the claim)."""
        res = super()._auto_init()
        create_index(self.env.cr, "notify_message_recipient_attempt_idx", self._table,
                     ["recipient_e164", "last_attempt_at"], where="last_attempt_at IS NOT NULL")
        return res

    # ---- the dispatcher's side ------------------------------------------------------------------------
    def _notify_safeguard(self, now):
        """Check claimed messages (state 'sending', not yet sent); cancel or hold those a safeguard stops.
        Returns the messages that may go."""
        if not self:
            return self
        digests = self._notify_digests()
        candidates = [message._notify_candidate(digests.get(message.id)) for message in self]
        decisions = self._notify_safeguard_decisions(candidates, now)
        if not decisions:
            return self
        for message in self.filtered(lambda m: m.id in decisions):
            message._notify_apply_decision(decisions[message.id])
        return self.filtered(lambda m: m.id not in decisions)

    def _notify_digests(self):
        self.env.cr.execute(f"SELECT id, {DIGEST_SQL} FROM notify_message WHERE id = ANY(%s)", [self.ids])
        return dict(self.env.cr.fetchall())

    def _notify_candidate(self, digest):
        self.ensure_one()
        if self.money_operation_id:
            kind = "money"
        elif self.otp_id:
            kind = "otp"
        elif self.rule_id:
            kind = "rule"
        else:
            kind = "person"
        return Candidate(self.id, self.company_id, self.rule_id, self.partner_id, self.recipient_e164, self.channel,
                         digest, kind)

    def _notify_apply_decision(self, decision):
        vals = {"sending_since": False, "attempts": max(self.attempts - 1, 0), "safeguard": decision.safeguard,
                "safeguard_note": decision.text}
        if decision.action == "hold":
            self.write(dict(vals, state="queued", next_attempt_at=decision.until))
            return
        self.write(dict(vals, state="cancelled", last_error=decision.text))
        self._post_on_record("cancelled", detail=decision.text)
        if self.otp_id or decision.safeguard == "consent":
            # a code tells its challenge (next route, else the person asks again); without consent for
            # WhatsApp, the rule's next route (an SMS) may carry it
            self._notify_fallback(decision.text)

    # ---- the checks, shared with Preview --------------------------------------------------------------
    @api.model
    def _notify_safeguard_decisions(self, candidates, now):
        """{candidate key: Decision} for the candidates a safeguard stops, in a fixed number of queries.

        Checked in this order: opt-out, WhatsApp consent, repeat, quiet hours, limit. Candidates of one batch count
        against each other's limit and repeat, in order."""
        candidates = [c for c in candidates if c.kind != "money" and c.recipient]
        decisions = {}
        blacklisted = self._notify_blacklisted({c.recipient for c in candidates
                                                if not (c.kind in ("otp", "rule") and c.rule.optout_exempt)})
        consenting = self._notify_consenting([c for c in candidates if self._notify_needs_consent(c)])
        recent = self._notify_recent(candidates, now)
        cleared = defaultdict(list)  # (company id, number) -> [(time, rule id, digest)] sent or about to be
        for company_id, number, when, rule_id, digest in recent:
            cleared[company_id, number].append((when, rule_id, digest))
        for candidate in candidates:
            decision = (
                self._notify_check_optout(candidate, blacklisted)
                or self._notify_check_consent(candidate, consenting)
                or self._notify_check_repeat(candidate, cleared, now)
                or self._notify_check_quiet_hours(candidate, now)
                or self._notify_check_limit(candidate, cleared, now)
            )
            if decision:
                decisions[candidate.key] = decision
            else:
                cleared[candidate.company.id, candidate.recipient].append((now, candidate.rule.id, candidate.digest))
        return decisions

    @api.model
    def _notify_blacklisted(self, numbers):
        if not numbers:
            return set()
        self.env["phone.blacklist"].flush_model(["number", "active"])
        self.env.cr.execute("SELECT number FROM phone_blacklist WHERE active AND number = ANY(%s)", [list(numbers)])
        return {row[0] for row in self.env.cr.fetchall()}

    @api.model
    def _notify_needs_consent(self, candidate):
        return candidate.kind == "rule" and candidate.channel == "whatsapp" and candidate.rule.require_whatsapp_consent

    @api.model
    def _notify_consenting(self, candidates):
        """Partners and numbers with a WhatsApp consent: the message's contact, or any contact with that number."""
        if not candidates:
            return set()
        self.env["res.partner"].flush_model(["notify_whatsapp_consent_date", "phone_sanitized"])
        self.env.cr.execute(
            """SELECT id, phone_sanitized FROM res_partner
                WHERE notify_whatsapp_consent_date IS NOT NULL AND (id = ANY(%s) OR phone_sanitized = ANY(%s))""",
            [[c.partner.id for c in candidates if c.partner], [c.recipient for c in candidates]])
        consenting = set()
        for partner_id, number in self.env.cr.fetchall():
            consenting.update({("partner", partner_id), ("number", number)})
        return consenting

    @api.model
    def _notify_recent(self, candidates, now):
        """(company id, number, time, rule id, digest) of the attempts that may have reached these numbers within
        the longest window of their companies; the candidates themselves (claimed: 'sending') excluded."""
        checked = [c for c in candidates if c.kind == "rule"]
        windows = [timedelta(hours=c.company.notify_throttle_hours)
                   for c in checked if c.company.notify_throttle_max]
        windows += [timedelta(minutes=c.company.notify_dedup_minutes)
                    for c in checked if c.company.notify_dedup_minutes]
        if not windows:
            return []
        self.flush_model(["recipient_e164", "last_attempt_at", "state", "template_ref", "payload", "body"])
        self.env.cr.execute(
            f"""SELECT company_id, recipient_e164, last_attempt_at, rule_id, {DIGEST_SQL} FROM notify_message
                 WHERE recipient_e164 = ANY(%s) AND last_attempt_at > %s AND state IN %s AND NOT id = ANY(%s)""",
            [list({c.recipient for c in checked}), now - max(windows), REACHED_STATES,
             [c.key for c in candidates if isinstance(c.key, int)]])
        return self.env.cr.fetchall()

    # ---- each safeguard -------------------------------------------------------------------------------
    def _notify_check_optout(self, candidate, blacklisted):
        if candidate.recipient not in blacklisted:
            return None
        return self._notify_cancel("optout", self.env._(
            "%s opted out: the number is in the phone blacklist (a STOP reply, an opt-out link, or added by hand).",
            format_international(candidate.recipient)))

    def _notify_check_consent(self, candidate, consenting):
        if not self._notify_needs_consent(candidate):
            return None
        if ("number", candidate.recipient) in consenting or (
                candidate.partner and ("partner", candidate.partner.id) in consenting):
            return None
        who = candidate.partner.display_name if candidate.partner else format_international(candidate.recipient)
        return self._notify_cancel("consent", self.env._(
            "%(who)s has not agreed to WhatsApp messages, and the rule %(rule)s sends only to contacts who did "
            "(contact form, Messaging consent).", who=who, rule=candidate.rule.name))

    def _notify_check_repeat(self, candidate, cleared, now):
        minutes = candidate.company.notify_dedup_minutes
        if candidate.kind != "rule" or not minutes or not candidate.digest:
            return None
        since = now - timedelta(minutes=minutes)
        previous = [when for when, rule_id, digest in cleared[candidate.company.id, candidate.recipient]
                    if rule_id == candidate.rule.id and digest == candidate.digest and when > since]
        if not previous:
            return None
        return self._notify_cancel("duplicate", self.env._(
            "The rule %(rule)s already sent this same message to %(number)s %(ago)s ago (no repeat within "
            "%(minutes)s minutes).", rule=candidate.rule.name, number=format_international(candidate.recipient),
            ago=self._notify_duration_text(now - max(previous)), minutes=minutes))

    def _notify_check_quiet_hours(self, candidate, now):
        company = candidate.company
        if candidate.kind != "rule" or not company.notify_quiet_hours:
            return None
        zone, _source = recipient_zone(candidate.partner.tz, candidate.recipient, company.partner_id.tz)
        until = quiet_hours_end(now, zone, company.notify_quiet_start, company.notify_quiet_end)
        if not until:
            return None
        if company.notify_held_policy == "cancel":
            return self._notify_cancel("quiet_hours", self.env._(
                "Quiet hours (%(start)s–%(end)s %(zone)s): cancelled, as the company's settings say.",
                start=self._notify_clock(company.notify_quiet_start), end=self._notify_clock(company.notify_quiet_end),
                zone=zone))
        when = self._notify_local_text(until, zone, now)
        return Decision("quiet_hours", "hold", until, self.env._("Held until %s: quiet hours.", when),
                        self.env._("Would be held until %s: quiet hours.", when))

    def _notify_check_limit(self, candidate, cleared, now):
        company = candidate.company
        limit = company.notify_throttle_max
        if candidate.kind != "rule" or not limit:
            return None
        window = timedelta(hours=company.notify_throttle_hours)
        times = sorted(when for when, _rule, _digest in cleared[company.id, candidate.recipient] if when > now - window)
        if len(times) < limit:
            return None
        zone, _source = recipient_zone(candidate.partner.tz, candidate.recipient, company.partner_id.tz)
        reason = self.env._("%(count)s messages already went to %(number)s in the last %(hours)s hours (limit: "
                            "%(limit)s).", count=len(times), number=format_international(candidate.recipient),
                            hours=company.notify_throttle_hours, limit=limit)
        if company.notify_held_policy == "cancel":
            return self._notify_cancel("throttle", reason)
        until = max(times[len(times) - limit] + window, now) + timedelta(seconds=1)
        when = self._notify_local_text(until, zone, now)
        return Decision("throttle", "hold", until,
                        self.env._("Held until %(time)s: %(reason)s", time=when, reason=reason),
                        self.env._("Would be held until %(time)s: %(reason)s", time=when, reason=reason))

    # ---- words ----------------------------------------------------------------------------------------
    @api.model
    def _notify_cancel(self, safeguard, reason):
        return Decision(safeguard, "cancel", None, reason, self.env._("Would be cancelled: %s", reason))

    @api.model
    def _notify_local_text(self, until, zone, now):
        """'07:00 Africa/Douala', with the date when it is not within a day."""
        local = pytz.utc.localize(until).astimezone(pytz.timezone(zone))
        pattern = "%H:%M" if until - now < timedelta(hours=24) else "%Y-%m-%d %H:%M"
        return f"{local.strftime(pattern)} {zone}"

    @api.model
    def _notify_clock(self, hours):
        minutes = round(hours * 60)
        return f"{minutes // 60:02d}:{minutes % 60:02d}"

    @api.model
    def _notify_duration_text(self, delta):
        minutes = max(int(delta.total_seconds() // 60), 1)
        if minutes < 120:
            return self.env._("%s min", minutes)
        return self.env._("%s h", minutes // 60)
