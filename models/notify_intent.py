import logging

from odoo import api, fields, models
from odoo.tools import SQL

_logger = logging.getLogger(__name__)

# the columns of a message queued from an intent (see _queue_messages), in the order of its SELECT
INTENT_COLUMNS = ("provider_account_id", "provider", "company_id", "channel", "rule_id", "template_ref", "res_model",
                  "res_id", "state", "attempts", "status_check_failures", "next_attempt_at", "idempotency_key",
                  "to_render", "create_uid", "create_date", "write_uid", "write_date")
# intents turned into messages per statement: one intent is one business transaction (up to thousands of messages)
QUEUE_BATCH = 50


class NotifyIntent(models.Model):
    """What the notify rules decided in one business transaction, written at its commit as ONE row: which rules
    fire on which records. The dispatcher turns it into outbox messages (``_queue_messages``) at its next run,
    triggered by that commit.

    Why a row per transaction rather than the messages themselves: each message row costs PostgreSQL five
    foreign-key checks (account, company, rule, creating and writing user) and its index entries. Measured on
    posting an invoice that 20 rules match (2026-12-02, this 2-core machine): the 20-row INSERT took 5.6 ms, 2.4 ms
    of it in those checks (EXPLAIN ANALYZE), about 4% of posting the invoice; bench/bench_intents.py --messages 20:
    the commit cost 7.6 ms more than an empty one with the messages, 3.3 ms with this row. It has one foreign key
    and no ORM log columns. An intent and the messages made of it never coexist: the dispatcher deletes the one
    and inserts the others in one statement."""

    _name = "notify.intent"
    _description = "Notification intent (not yet queued)"
    _order = "id"
    _log_access = False

    queued_at = fields.Datetime(string="Decided at", required=True, readonly=True)
    user_id = fields.Many2one("res.users", string="Decided by", ondelete="set null", readonly=True,
                              help="The user whose transaction fired the rules; the messages are created as theirs.")
    payload = fields.Json(
        readonly=True,
        help="One entry per rule that fired: the rule, its account, channel, template and model, when the messages "
             "are due, and the ids of the records.")
    message_count = fields.Integer(string="Messages", compute="_compute_message_count")

    def _compute_message_count(self):
        for intent in self:
            intent.message_count = sum(len(entry.get("res_ids") or ()) for entry in intent.payload or ())

    @api.model
    def _record(self, entries, uid, now):
        """One row for the transaction. ``entries``: dicts with rule_id, account_id, provider, company_id, channel,
        template_ref, res_model, next_attempt_at (a string) and res_ids."""
        self.env.cr.execute(
            "INSERT INTO notify_intent (queued_at, user_id, payload) VALUES (%s, %s, %s)",
            [now, uid, self._fields["payload"].convert_to_column(entries, self)],
        )

    @api.model
    def _queue_messages(self, limit=QUEUE_BATCH):
        """Turn up to ``limit`` intents into queued messages, oldest first, in one statement; return how many
        intents were taken and how many messages were made.

        Intents another transaction holds are skipped (SKIP LOCKED), so two dispatchers never queue the same
        intent twice; the rows are deleted in the same statement, so a crash keeps either the intent and no
        message, or the messages and no intent.

        A rule deleted in between leaves its messages without a rule: rendering then fails them with the reason,
        as for a rule deleted after queuing. An account deleted in between (only possible while it had no message)
        cannot hold messages: those are dropped, and logged."""
        self.env.cr.execute(SQL(
            """WITH taken AS (
                   DELETE FROM notify_intent
                    WHERE id = ANY(ARRAY(SELECT id FROM notify_intent ORDER BY id LIMIT %(limit)s
                                         FOR UPDATE SKIP LOCKED))
                RETURNING id, queued_at, user_id, payload
               ), wanted AS (
                   SELECT taken.id AS intent_id, taken.queued_at, taken.user_id, entry.position AS entry_position,
                          EXISTS (SELECT 1 FROM notify_provider_account WHERE id = rule.account_id) AS account_exists,
                          rule.*
                     FROM taken
                    CROSS JOIN LATERAL jsonb_array_elements(taken.payload) WITH ORDINALITY AS entry(value, position)
                    CROSS JOIN LATERAL jsonb_to_record(entry.value) AS rule(
                          rule_id integer, account_id integer, provider varchar, company_id integer, channel varchar,
                          template_ref varchar, res_model varchar, next_attempt_at timestamp, res_ids integer[])
               ), made AS (
                   INSERT INTO notify_message (%(columns)s)
                   SELECT wanted.account_id, wanted.provider, wanted.company_id, wanted.channel,
                          (SELECT id FROM notify_rule WHERE id = wanted.rule_id), wanted.template_ref,
                          wanted.res_model, record.res_id, 'queued', 0, 0, wanted.next_attempt_at,
                          replace(gen_random_uuid()::text, '-', ''), TRUE, wanted.user_id, wanted.queued_at,
                          wanted.user_id, wanted.queued_at
                     FROM wanted
                    CROSS JOIN LATERAL unnest(wanted.res_ids) WITH ORDINALITY AS record(res_id, position)
                    WHERE wanted.account_exists
                 ORDER BY wanted.intent_id, wanted.entry_position, record.position
                RETURNING 1
               )
               SELECT (SELECT count(*) FROM taken), (SELECT count(*) FROM made),
                      (SELECT count(*) FROM wanted WHERE NOT wanted.account_exists)""",
            columns=SQL(", ").join(SQL.identifier(column) for column in INTENT_COLUMNS),
            limit=limit,
        ))
        taken, made, dropped = self.env.cr.fetchone()
        if dropped:
            _logger.warning("Notify rules: %s rule firing(s) dropped: their provider account was deleted before "
                            "the dispatcher queued them.", dropped)
        if made:
            # the ORM's caches of the messages (and the rules' counters) do not know of rows written in SQL
            self.env["notify.message"].invalidate_model()
        return taken, made

    @api.model
    def _queue_all(self, after_batch=None):
        """Every waiting intent, batch after batch; ``after_batch`` is called after each one (the dispatcher
        commits there). Returns how many messages were made."""
        total, taken = 0, QUEUE_BATCH
        while taken == QUEUE_BATCH:
            taken, made = self._queue_messages()
            total += made
            if after_batch:
                after_batch()
        return total
