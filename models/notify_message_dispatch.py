"""The dispatcher: claims due messages, sends them through the account's client, applies the answers.

One concern per file (as Odoo's payment_* and OCA's queue_job keep their runner apart from the job model):
the outbox model is in notify_message.py, the status path shared by polling and callbacks in
notify_message_status.py, this file only sends.
"""

import logging
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

import psycopg2

from odoo import api, fields, models
from odoo.exceptions import UserError

from ..clients.base import (
    AccountError,
    OutboundMessage,
    OutcomeUnknownError,
    PermanentError,
    ProviderError,
    RetryableError,
    SendResult,
)
from ..clients.registry import get_client_class
from ..tools.cron_budget import CronBudget
from ..tools.field_path import value_to_text
from ..tools.provider_errors import provider_error_text
from .notify_intent import QUEUE_BATCH

_logger = logging.getLogger(__name__)

STATE_RANK = {"sent": 1, "delivered": 2, "read": 3}
BACKOFF_BASE_SECONDS = 30
BACKOFF_MAX_SECONDS = 3600
POLL_FIRST_DELAY_SECONDS = 60
RATE_WINDOW = timedelta(seconds=60)
# A request is counted when it is claimed, a moment before the provider receives it (and counts it): the window
# is kept that much longer, so that it never frees a slot before the provider's does (measured without it: 20
# of 100 requests refused with 429 at each turn of the minute, bench/bench_dispatch.py --rate-limited).
RATE_MARGIN = timedelta(seconds=2)
RENDER_BATCH = 200
# The dispatcher's claim (_claim_due; bench/bench_scale.py times this very statement, with "{urgent}" empty).
# "= ANY(ARRAY(...))", not "IN (...)": the array is an InitPlan, run once. Under IN the planner may put the sub-select
# on the inner side of a nested loop and run it again for each row; each run then skips the rows this statement
# already updated and the LIMIT is exceeded (tests/test_dispatch.py forces that plan: 5 claimed at a capacity of 2
# before this change).
CLAIM_DUE_SQL = """
    UPDATE notify_message SET state = 'sending', sending_since = %(now)s, last_attempt_at = %(now)s,
           attempts = attempts + 1
     WHERE id = ANY(ARRAY(SELECT id FROM notify_message
                   WHERE provider_account_id = %(account)s AND state = 'queued' AND to_render IS NOT TRUE
                     AND (next_attempt_at IS NULL OR next_attempt_at <= %(now)s)
                     AND (expires_at IS NULL OR expires_at > %(now)s)
                     AND (otp_kind IS DISTINCT FROM 'local' OR otp_code IS NOT NULL)
                     {urgent}
                ORDER BY next_attempt_at NULLS FIRST, id
                   LIMIT %(limit)s
              FOR UPDATE SKIP LOCKED))
 RETURNING id
"""
# After a lost connection, how long the dispatcher keeps trying a new one to record what the provider accepted: a
# PostgreSQL restart refuses connections for a second or two ("the database system is shutting down"; measured
# with bench/chaos_pg.py --restart-postgres: every reconnection attempt made at once failed). Well inside a cron's
# time limit.
RECONNECT_DELAYS = (0.5, 1, 2, 4, 8)


def _auto_commit():
    return not getattr(threading.current_thread(), "testing", False)


_POOLS = {}
_POOLS_LOCK = threading.Lock()


def _thread_pool(size):
    """A thread pool per concurrency, kept for the life of the process: starting ~16 threads for every batch of 20
    cost 15% of the dispatch time (bench/bench_dispatch.py --profile). The threads only run plain-Python client
    calls; a batch still waits for all of its own sends."""
    with _POOLS_LOCK:
        pool = _POOLS.get(size)
        if pool is None:
            pool = _POOLS[size] = ThreadPoolExecutor(max_workers=size, thread_name_prefix=f"notify-send-{size}")
        return pool


class SentColumnsWrittenLater:
    """The columns of a batch's sent messages that no code reads before the batch ends (not sending, sent at, the
    provider's status, cost and currency), grouped by equal values and written at the end of the batch
    (_apply_send_results, _apply_sent). It travels in the context, compared by identity, not by content: Odoo reuses
    an existing Environment whose context compares equal, and a plain dict, empty in an earlier batch's Environment,
    would catch this batch's columns, never to be written (tests/test_fault_matrix.py failed so)."""

    __slots__ = ("groups",)

    def __init__(self):
        self.groups = {}


def _precise_now():
    """UTC now with its microseconds, naive as Odoo stores datetimes."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


class NotifyMessage(models.Model):
    """A message is claimed with ``FOR UPDATE SKIP LOCKED`` and committed as ``sending`` *before* the HTTP call,
    so a crash can never turn it back into ``queued`` (which would send it twice). A message left in
    ``sending`` is recovered by ``_recover_stuck_messages``: looked up at the provider where the provider can
    tell, otherwise marked "outcome unknown" for a person to decide.

    Each message is rendered and each answer applied in its own savepoint: one that raises is recorded with
    the reason and the others go on (a poison message never blocks its account, nor the next ones).
    """

    _inherit = "notify.message"

    # ---- the cron -------------------------------------------------------------------------------------
    @api.model
    def _cron_dispatch(self, batch_limit=None, time_budget=None):
        """Send what is due, account by account, within each account's rate limit and concurrency, and within
        a time budget well inside the cron's time limit: what is left is for the next run, triggered at once."""
        budget = CronBudget(time_budget)
        self._isolated(self._queue_intents)
        self._isolated(self._recover_stuck_messages)
        self._isolated(self._report_archived_accounts)
        self._dispatch_urgent(budget)
        accounts = self.env["notify.provider.account"].sudo().search([("active", "=", True), ("paused", "=", False)])
        # The first unit of work of a run is always allowed: accounts whose timeout is longer than the budget
        # (Intech's 60 s) go first, else they would wait for a run where no other account had work.
        for account in accounts.sorted(lambda a: -a.timeout):
            if budget.exhausted(margin=account.timeout):
                _logger.info("Notify dispatcher: time budget spent, the rest goes in the next run")
                self._trigger_dispatch()
                break
            self._isolated(lambda account=account: self._dispatch_account(account, batch_limit, budget))

    def _isolated(self, function):
        """Run one unit of the dispatcher's work; an unexpected error is logged and undone (to the last commit,
        or to a savepoint in tests), and the next unit runs."""
        if _auto_commit():
            try:
                function()
            except Exception:  # noqa: BLE001 - one account's bug must not stop the others
                _logger.exception("Notify dispatcher: unexpected error, continuing with the next account")
                self.env.cr.rollback()
            return
        try:
            with self.env.cr.savepoint():
                function()
        except Exception:  # noqa: BLE001
            _logger.exception("Notify dispatcher: unexpected error, continuing with the next account")

    @api.model
    def _report_archived_accounts(self):
        """Messages of an archived account wait, and say so (nothing is sent through an archived account)."""
        waiting = self.sudo().search([("state", "=", "queued"), ("provider_account_id.active", "=", False),
                                      ("last_error", "=", False)])
        for account, messages in waiting.grouped("provider_account_id").items():
            messages.write({"last_error": self.env._(
                "Not sent: the provider account %s is archived. Restore it, or cancel these messages.", account.name)})

    # ---- queuing and rendering ------------------------------------------------------------------------
    @api.model
    def _queue_intents(self):
        """The messages the rules decided in committed business transactions (notify.intent), queued: a batch of
        intents per transaction, committed one by one (a run stopped in the middle keeps what it queued). In READ
        COMMITTED, as the claims: another dispatcher may delete an intent this run's snapshot still shows."""
        commit = self._commit_read_committed if _auto_commit() else None
        if commit:
            commit()
        self.env["notify.intent"].sudo()._queue_all(after_batch=commit)

    @api.model
    def _render_pending(self, account=None, limit=RENDER_BATCH):
        """Resolve recipient and variables of due messages queued by rules (their record's current data), after
        queuing those of the intents committed since.

        Locked with SKIP LOCKED so that concurrent dispatchers never render (and log) the same message twice.
        A message that cannot be sent fails here, with the reason, and a note on the record.
        """
        self.env.flush_all()
        taken, made = self.env["notify.intent"].sudo()._queue_messages()
        if account and (made or taken == QUEUE_BATCH):
            self._trigger_dispatch()  # messages of accounts this run may have passed already, or more intents
        query = """
            SELECT id FROM notify_message
             WHERE to_render AND state = 'queued' AND (next_attempt_at IS NULL OR next_attempt_at <= %(now)s)
               {account_clause}
          ORDER BY id LIMIT %(limit)s FOR UPDATE SKIP LOCKED
        """.format(account_clause="AND provider_account_id = %(account)s" if account else "")
        self.env.cr.execute(query, {"now": fields.Datetime.now(), "account": account and account.id, "limit": limit})
        messages = self.sudo().browse([row[0] for row in self.env.cr.fetchall()])
        for message in messages:
            try:
                with self.env.cr.savepoint():
                    message._render()
            except Exception as error:  # noqa: BLE001 - a poison message fails alone, with the reason
                _logger.exception("Could not prepare notify.message %s", message.id)
                message._record_raw(
                    "failed", message._user_env()._("The message could not be prepared: %s", error), to_render=False)
        if account and any(m.state == "queued" and m.provider_account_id != account for m in messages):
            self._trigger_dispatch()  # routed to another account: its dispatch comes in this run or the next
        return messages

    def _render(self):
        self.ensure_one()
        model = self.env[self.res_model].sudo() if self.res_model in self.env else None
        record = model.browse(self.res_id).exists() if model is not None else None
        if not record or not self.rule_id:
            self.write({"to_render": False, "state": "failed",
                        "last_error": self._user_env()._("The record or the rule was deleted before sending.")})
            return
        after_route = self.fallback_of_id.route_id if self.fallback_of_id else None
        vals = self.rule_id.with_env(self._user_env()).sudo()._prepare_message_vals(record, after_route=after_route)
        self.write(dict(vals, to_render=False))
        if self.state == "failed":
            self._post_on_record("unsendable", detail=self.last_error)

    def _record_raw(self, state, reason, provider_ref=None, to_render=None):
        """Last resort when the ORM failed on this message: its state, reason and provider reference, in SQL."""
        self.ensure_one()
        self.env.cr.execute(
            """UPDATE notify_message SET state = %s, last_error = %s, sending_since = NULL,
                      provider_ref = COALESCE(%s, provider_ref), to_render = COALESCE(%s, to_render),
                      sent_at = CASE WHEN %s IS NOT NULL THEN now() AT TIME ZONE 'UTC' ELSE sent_at END
                WHERE id = %s""",
            [state, reason, provider_ref, to_render, provider_ref, self.id],
        )
        self.invalidate_recordset()

    # ---- one account ----------------------------------------------------------------------------------
    @api.model
    def _dispatch_urgent(self, budget):
        """Messages with a priority (one-time codes) first, whichever account they use: called before each batch,
        so a login code waits for one batch at most, never behind a backlog of bulk notifications."""
        self.env.flush_all()
        self.env.cr.execute("""SELECT DISTINCT provider_account_id FROM notify_message
                                WHERE state = 'queued' AND priority IS NOT NULL AND next_attempt_at <= %s""",
                            [fields.Datetime.now()])
        account_ids = [row[0] for row in self.env.cr.fetchall()]
        if not account_ids:
            return
        accounts = self.env["notify.provider.account"].sudo().search(
            [("id", "in", account_ids), ("active", "=", True), ("paused", "=", False)])
        for account in accounts:
            self._isolated(lambda account=account: self._dispatch_account(account, budget=budget, urgent=True))

    @api.model
    def _dispatch_account(self, account, batch_limit=None, budget=None, urgent=False):
        """Send the account's due messages batch after batch; ``urgent``: only those with a priority."""
        client = self._client_or_pause(account)
        if client is None:
            return
        if self._dispatch_account_batches(account, client, batch_limit, budget or CronBudget(), urgent):
            self._trigger_first_poll()
        if _auto_commit():
            self.env.cr.commit()  # pylint: disable=invalid-commit

    def _dispatch_account_batches(self, account, client, batch_limit, budget, urgent):
        """The batches of one account; returns whether any message was sent.

        Pipelined: while one batch's requests are with the provider, this thread applies the answers of the batch
        before and claims the next one (measured with bench/bench_dispatch.py: the thread otherwise waited for the
        provider for a third of the time, then the provider waited for it). One batch at most is in flight, so the
        account's concurrency still bounds the requests at the provider; each batch is committed 'sending' before
        its requests leave, as before."""
        commit = _auto_commit()
        sent_batches = 0
        sent = False
        in_flight = None
        unapplied = None  # (messages, results): answered, not applied yet
        not_started = None  # claimed and committed 'sending', not handed to the threads yet
        try:
            while batch_limit is None or sent_batches < batch_limit:
                if budget.exhausted(margin=account.timeout) and not urgent:
                    self._trigger_dispatch()
                    break
                if commit:
                    self._commit_read_committed()
                if not urgent:
                    self._dispatch_urgent(budget)
                    self._render_pending(account)
                messages, wait_until = self._claim_batch(account, urgent=urgent)
                if commit:
                    self._commit_read_committed()  # 'sending' is durable before any request leaves
                if not messages:
                    if wait_until:
                        self._trigger_dispatch(at=wait_until)
                    break
                not_started = messages
                previous, in_flight = in_flight, None
                if previous:  # its answers first: one batch at the provider at a time
                    unapplied = (previous[0], [future.result() for future in previous[1]])
                in_flight = self._start_batch(account, client, messages)
                not_started = None
                if unapplied:
                    self._apply_send_results(list(zip(*unapplied, strict=True)), client)
                    sent = any(m.state == "sent" for m in unapplied[0]) or sent
                    unapplied = None
                budget.worked()
                sent_batches += 1
                if account.paused:
                    break
        except psycopg2.Error:
            # the database went away (PostgreSQL restarted). Through a new connection: what the provider accepted
            # is kept (it would be 'outcome unknown' after its lease), and what never left goes back to the queue
            answers = list(zip(*unapplied, strict=True)) if unapplied else []
            if in_flight:
                answers += zip(in_flight[0], [future.result() for future in in_flight[1]], strict=True)
            self._keep_accepted_elsewhere(answers, not_started=not_started)
            raise
        if in_flight:
            sent = self._finish_batch(in_flight, client) or sent
        return sent

    def _commit_read_committed(self):
        """Commit, and run the next transaction in READ COMMITTED.

        Odoo's REPEATABLE READ snapshot is taken at a transaction's first statement: a dispatcher that waited
        for another's lock on the account row would then fail to lock the messages the other one just
        committed ("could not serialize access"). In READ COMMITTED each statement sees the latest commits,
        so ``FOR UPDATE SKIP LOCKED`` claims hand out every message exactly once across workers.
        """
        self.env.cr.commit()  # pylint: disable=invalid-commit
        self.env.cr.execute("SET TRANSACTION ISOLATION LEVEL READ COMMITTED")

    @api.model
    def _claim_batch(self, account, urgent=False):
        """Lock the account row (serialises claims per account across workers), then claim due messages.

        Returns (messages, wait_until): when nothing can be claimed, wait_until tells when to come back
        (rate limit window, provider throttle, or next scheduled retry).
        """
        cr = self.env.cr
        now = fields.Datetime.now()
        throttled_until = self._lock_account(account, now)
        if throttled_until:
            return self.browse(), throttled_until
        used, oldest = self._requests_in_window(account, now)
        capacity = min(account.rate_limit_per_minute - used, account.concurrency)
        if capacity <= 0:
            return self.browse(), oldest + RATE_WINDOW + RATE_MARGIN + timedelta(seconds=1)
        while True:
            claimed = self._claim_due(account, now, capacity, urgent)
            if not claimed:
                break
            # recipient safeguards (opt-out, consent, repeats, quiet hours, limit) before any request leaves;
            # when they hold or stop the whole batch, the next due messages are claimed
            messages = claimed._notify_safeguard(now)
            if messages:
                self._count_requests(account, now, len(messages))
                return messages, None
        if urgent:
            return self.browse(), None  # what is not urgent waits for the account's own turn
        cr.execute(
            "SELECT min(next_attempt_at) FROM notify_message WHERE provider_account_id = %s AND state = 'queued'",
            [account.id],
        )
        return self.browse(), cr.fetchone()[0]

    @api.model
    def _claim_due(self, account, now, capacity, urgent):
        """Mark up to ``capacity`` due messages of the account 'sending' (SKIP LOCKED) and return them."""
        self.env.flush_all()  # messages the safeguards held just before must be seen as held
        cr = self.env.cr
        cr.execute(
            CLAIM_DUE_SQL.replace("{urgent}", "AND priority IS NOT NULL" if urgent else ""),
            {"now": now, "account": account.id, "limit": capacity},
        )
        ids = [row[0] for row in cr.fetchall()]
        self.invalidate_model(["state", "sending_since", "last_attempt_at", "attempts"])
        return self.sudo().browse(sorted(ids))

    @api.model
    def _lock_account(self, account, now):
        """Lock the account row, which serialises the claims of sends and status checks across workers.

        FOR NO KEY UPDATE: business transactions inserting messages take KEY SHARE locks on this row (foreign key
        checks), which this lock does not block. Returns until when the provider asked us to wait, if that is
        still ahead, else None."""
        self.env.flush_all()  # the raw SQL of the claims must see pending ORM writes
        self.env.cr.execute(
            "SELECT throttled_until FROM notify_provider_account WHERE id = %s FOR NO KEY UPDATE", [account.id])
        throttled_until = self.env.cr.fetchone()[0]
        return throttled_until if throttled_until and throttled_until > now else None

    @api.model
    def _requests_in_window(self, account, now):
        """(requests made to the account's provider in the last minute, the oldest one's time): sends, retries
        and status checks, each counted once per request (notify.provider.request)."""
        self.env.cr.execute(
            """SELECT count(*), min(requested_at) FROM notify_provider_request
                WHERE provider_account_id = %s AND requested_at > %s""",
            [account.id, _precise_now() - RATE_WINDOW - RATE_MARGIN],
        )
        return self.env.cr.fetchone()

    @api.model
    def _count_requests(self, account, now, count):
        """Reserve `count` requests in the account's rate window (under the account lock), forget old ones.
        Stamped to the microsecond (Odoo's now() drops them: a window that frees up to a second early)."""
        precise = _precise_now()
        self.env.cr.execute(
            """DELETE FROM notify_provider_request WHERE provider_account_id = %(account)s AND requested_at < %(old)s;
               INSERT INTO notify_provider_request (provider_account_id, requested_at)
                    SELECT %(account)s, %(now)s FROM generate_series(1, %(count)s)""",
            {"account": account.id, "now": precise, "count": count, "old": precise - 2 * RATE_WINDOW},
        )

    @api.model
    def _client_or_pause(self, account):
        """The account's client; if the account is misconfigured, pause it (its messages stay queued)."""
        try:
            return account._notify_get_client()
        except (ProviderError, UserError) as error:
            reason = provider_error_text(self.env, error) if isinstance(error, ProviderError) else str(error)
            _logger.warning("Notify account %s cannot send: %s", account.id, reason)
            account._notify_pause(reason)
            return None

    # ---- sending --------------------------------------------------------------------------------------
    def _send_batch(self, account, client, messages):
        """Send a batch and apply its answers; returns whether any message was sent."""
        return self._finish_batch(self._start_batch(account, client, messages), client)

    def _start_batch(self, account, client, messages):
        """Hand the batch's requests to the sending threads (plain Python, no ORM in threads) and return at once:
        (messages, futures). The answers are applied in this thread by ``_finish_batch``."""
        outbound = [message._to_outbound() for message in messages]
        unexpected = self.env._("Unexpected error while sending: %s")  # translated here: threads have no env

        def send(item):
            try:
                if item.kind == "otp":
                    return client.send_otp_message(item)
                if item.kind == "money":
                    return client.send_operation(*item.operation)
                return client.send(item)
            except ProviderError as error:
                return error
            except Exception as error:  # noqa: BLE001 - a bug in a client must not lose the message
                _logger.exception("Unexpected error from the %s client", account.provider)
                return OutcomeUnknownError(unexpected % error)

        pool = _thread_pool(account.concurrency)
        return messages, [pool.submit(send, item) for item in outbound]

    def _finish_batch(self, started, client):
        """Wait for a started batch's answers and apply them; returns whether any message was sent."""
        messages, futures = started
        results = [future.result() for future in futures]
        self._apply_send_results(list(zip(messages, results, strict=True)), client)
        return any(m.state == "sent" for m in messages)

    def _apply_send_results(self, answers, client):
        """Apply a batch's answers in one savepoint, so that the ORM writes them in a few grouped UPDATEs (a
        savepoint per message flushes each one alone: 6 statements per message, half of the dispatch time,
        measured with bench/bench_dispatch.py --profile). If anything raises, the batch is undone and applied
        again one message at a time, each in its own savepoint: a poison answer still fails alone."""
        context = {}
        currencies = {r.currency for _m, r in answers if isinstance(r, SendResult) and r.currency}
        if currencies:  # one lookup per batch, not per message
            found = self.env["res.currency"].with_context(active_test=False).search(
                [("name", "in", list(currencies))])
            context["notify_currency_ids"] = {c.name: c.id for c in found}
        written_later = SentColumnsWrittenLater()
        try:
            with self.env.cr.savepoint():
                for message, result in answers:
                    message.with_context(**context, notify_sent_written_later=written_later)._apply_send_result(
                        result, client)
                for vals, ids in written_later.groups.items():
                    self.browse(ids).write(dict(vals))
                self.env.flush_all()
        except Exception:  # noqa: BLE001 - redone one by one below
            _logger.warning("Notify dispatcher: applying a batch of answers failed, applying them one by one",
                            exc_info=True)
            self.env.invalidate_all()
            try:
                for message, result in answers:
                    message.with_context(**context)._apply_send_result_isolated(result, client)
            except psycopg2.Error:
                self._keep_accepted_elsewhere(answers)
                raise

    def _keep_accepted_elsewhere(self, answers, not_started=None):
        """The database connection broke (PostgreSQL restarted) while a batch was in flight or its answers were
        applied. Through a new connection: what the provider accepted is written with its reference, and claimed
        messages whose requests never left go back to the queue; else, after the lease, both would be 'outcome
        unknown' (bench/chaos_pg.py: 40 of 1,000, half of them never sent). While PostgreSQL restarts, new
        connections are refused for a moment: tried again for up to RECONNECT_DELAYS. Failing that, the log keeps
        each accepted message's reference."""
        accepted = [(message.id, result.provider_ref) for message, result in answers
                    if isinstance(result, SendResult) and result.provider_ref]
        unsent = [message.id for message in (not_started or [])]
        if not (accepted or unsent) or not _auto_commit():
            return
        for delay in (*RECONNECT_DELAYS, None):
            try:
                with self.env.registry.cursor() as cr:
                    for message_id, provider_ref in accepted:
                        cr.execute(
                            """UPDATE notify_message SET state = 'sent', provider_ref = %s, sending_since = NULL,
                                      sent_at = now() AT TIME ZONE 'UTC'
                                WHERE id = %s AND state = 'sending'""", [provider_ref, message_id])
                    if unsent:
                        cr.execute(
                            """UPDATE notify_message SET state = 'queued', sending_since = NULL,
                                      attempts = GREATEST(attempts - 1, 0)
                                WHERE id IN %s AND state = 'sending'""", [tuple(unsent)])
                return
            except psycopg2.Error as error:
                if delay is None:
                    _logger.warning("Notify dispatcher: could not record accepted messages (id, provider reference): "
                                    "%s (%s)", accepted, error)
                    return
                _logger.warning("Notify dispatcher: database not reachable yet (%s), again in %s s", error, delay)
                time.sleep(delay)

    def _trigger_first_poll(self):
        """The poller's first check of what was just sent, soon rather than at its next interval; once per account
        and run, not once per batch."""
        poll_cron = self.env.ref("notify_rules.ir_cron_notify_poll_status").sudo()
        poll_cron._trigger(at=fields.Datetime.now() + timedelta(seconds=POLL_FIRST_DELAY_SECONDS))

    def _to_outbound(self):
        self.ensure_one()
        # A rule's delay is applied by holding the message (next_attempt_at): it leaves to be sent now.
        return OutboundMessage(
            recipient_e164=self.recipient_e164,
            template_ref=self.template_ref,
            variables=dict(self.payload or {}),
            scheduled_at=None,
            idempotency_key=self.idempotency_key,
            channel=self.channel,
            body=self.body or None,
        )

    def _apply_send_result_isolated(self, result, client=None):
        """Apply one answer in its own savepoint; if that fails, still keep what the provider said (above all
        its reference: without it a Resend would send twice)."""
        try:
            with self.env.cr.savepoint():
                self._apply_send_result(result, client)
        except Exception as error:  # noqa: BLE001
            _logger.exception("Could not record the answer for notify.message %s", self.id)
            env = self._user_env()
            if isinstance(result, SendResult):
                self._record_raw("sent", env._("Sent, but recording the answer failed: %s", error),
                                 provider_ref=result.provider_ref)
            elif isinstance(result, (RetryableError, AccountError)):
                self._record_raw("queued", provider_error_text(env, result, retrying=True))
            elif isinstance(result, PermanentError):
                self._record_raw("failed", provider_error_text(env, result))
            else:
                self._record_raw("unknown", provider_error_text(env, result))

    def _apply_send_result(self, result, client=None):
        self.ensure_one()
        account = self.provider_account_id
        if isinstance(result, AccountError):
            # 401/403, a wrong URL: the account is wrong, not the message. It waits, the account pauses.
            reason = provider_error_text(self._user_env(), result)
            account._notify_pause(reason)
            self.write({"state": "queued", "sending_since": False, "attempts": max(self.attempts - 1, 0),
                        "last_error": account._notify_paused_text(reason)})
        elif isinstance(result, RetryableError):
            self._retry_later(result)
        elif isinstance(result, PermanentError):
            reason = provider_error_text(self._user_env(), result)
            self._fail(reason)
            self._notify_fallback(reason)
        elif isinstance(result, OutcomeUnknownError):
            self._apply_outcome_unknown(result, client)
        else:
            self._apply_sent(result)

    def _retry_later(self, result, reason=None):
        now = fields.Datetime.now()
        env = self._user_env()
        # 429: the provider did not look at the message, it asks the whole account to wait. That is not
        # one of the message's attempts (a long throttle must not make messages fail).
        throttled = result.http_status == 429
        if not throttled and self.attempts >= self.provider_account_id.max_attempts:
            self._fail(env._("Gave up after %(n)s attempts. Last error: %(err)s", n=self.attempts,
                             err=reason or provider_error_text(env, result)))
            return
        vals = {"state": "queued", "sending_since": False,
                "last_error": reason or provider_error_text(env, result, retrying=True)}
        if throttled:
            delay = self.provider_account_id.sudo()._notify_throttle(result.retry_after)
            vals["attempts"] = max(self.attempts - 1, 0)
        elif result.retry_after is not None:
            delay = result.retry_after
        else:
            delay = min(BACKOFF_BASE_SECONDS * 2 ** (self.attempts - 1), BACKOFF_MAX_SECONDS)
            delay *= random.uniform(0.5, 1.5)  # jitter: spread retries of a burst
        vals["next_attempt_at"] = now + timedelta(seconds=delay)
        self.write(vals)

    def _apply_outcome_unknown(self, result, client):
        """The provider may have the message. Ask it where it can tell; otherwise the account's policy decides:
        hold for a person (default), or retry and accept a possible duplicate."""
        env = self._user_env()
        account = self.provider_account_id
        transport = getattr(result, "retry_may_duplicate", False)
        if transport and client is not None and client.can_lookup_by_idempotency_key:
            # left in 'sending': once the lease is over, _recover_stuck_messages asks the provider by our key
            self.write({"last_error": provider_error_text(env, result)})
        elif transport and account.ambiguous_send_policy == "retry":
            self._retry_later(result, reason=env._(
                "%(error)s Retrying, as the account's policy says: the recipient may receive it twice.",
                error=provider_error_text(env, result)))
        else:
            self._mark_unknown(provider_error_text(env, result))

    def _apply_sent(self, result):
        state = result.status if result.status in STATE_RANK or result.status == "failed" else "sent"
        own_vals = {
            "state": state,
            "last_error": False,  # read with the state (the Odoo SMS's failure); costs nothing when already empty
            "provider_ref": result.provider_ref,
            "scheduled_at": result.scheduled_at and result.scheduled_at.astimezone(timezone.utc).replace(
                tzinfo=None),
        }
        vals = {
            "sending_since": False,
            "sent_at": fields.Datetime.now(),
            "provider_status": result.provider_status,
            **self._cost_vals(result),
        }
        written_later = self.env.context.get("notify_sent_written_later")
        if written_later is None:
            self.write({**own_vals, **vals})
        else:
            # In a batch (_apply_send_results): the state and the error, which the overrides of write and the code
            # after this one read, and what is the message's own now; the other columns, mostly equal across the
            # batch, in one write per set of equal values at its end. The ORM's write costs per record and field:
            # 12 fields per message were 40% of the dispatcher's main thread (bench/bench_dispatch.py --profile).
            self.write(own_vals)
            written_later.groups.setdefault(tuple(vals.items()), []).append(self.id)
        self._post_on_record("failed" if state == "failed" else "sent", detail=self.route_note)

    def _cost_vals(self, result):
        """Cost and currency, when the provider gives them (send answer or status)."""
        if result.cost is None and not result.currency:
            return {}
        known = self.env.context.get("notify_currency_ids") or {}
        if result.currency in known:
            currency_id = known[result.currency]
        else:
            currency_id = self.env["res.currency"].with_context(active_test=False).search(
                [("name", "=", result.currency)], limit=1).id if result.currency else False
        return {"cost": result.cost or 0.0, "currency": result.currency, "currency_id": currency_id}

    def _fail(self, reason):
        self.write({"state": "failed", "sending_since": False, "last_error": reason})
        self._post_on_record("failed", detail=reason)

    def _mark_unknown(self, reason):
        self.write({"state": "unknown", "sending_since": False, "last_error": reason})
        self._post_on_record("unknown", detail=reason)

    # ---- crash recovery -------------------------------------------------------------------------------
    @api.model
    def _recover_stuck_messages(self):
        """Messages left in 'sending' by a worker that died. Never re-sent blindly."""
        accounts = self.env["notify.provider.account"].sudo().with_context(active_test=False).search(
            [("notify_message_ids.state", "=", "sending")])
        for account in accounts:
            lease = timedelta(seconds=account.timeout * 2 + 60)
            self.env.flush_all()
            # SKIP LOCKED: a concurrent dispatcher recovering the same messages must not note them twice
            self.env.cr.execute(
                """SELECT id FROM notify_message WHERE provider_account_id = %s AND state = 'sending'
                      AND sending_since < %s ORDER BY id FOR UPDATE SKIP LOCKED""",
                [account.id, fields.Datetime.now() - lease],
            )
            stuck = self.sudo().browse([row[0] for row in self.env.cr.fetchall()])
            if not stuck:
                continue
            client = None
            if get_client_class(account.provider).can_lookup_by_idempotency_key:
                client = self._client_or_pause(account)
            for message in stuck:
                if client is not None:
                    try:
                        result = client.lookup(message.idempotency_key)
                    except ProviderError as error:
                        message._mark_unknown(provider_error_text(message._user_env(), error))
                        continue
                    if result is None:
                        message.write({"state": "queued", "sending_since": False})
                    else:
                        message._apply_send_result_isolated(result)
                    continue
                message._mark_unknown(
                    message._user_env()._(
                        "Sending was interrupted (the server stopped while waiting for the provider's answer) and "
                        "%(provider)s offers no way to check whether it was accepted. Check with the recipient or "
                        "in the provider's dashboard, then use Resend or Mark as sent.",
                        provider=value_to_text(account, "provider", account.provider),
                    )
                )
