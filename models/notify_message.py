import logging
import random
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta, timezone

from markupsafe import Markup

from odoo import api, fields, models
from odoo.exceptions import UserError
from odoo.tools.sql import create_index

from ..clients.base import OutboundMessage, OutcomeUnknownError, PermanentError, ProviderError, RetryableError
from ..clients.phone import format_international
from ..clients.registry import get_client_class
from ..tools.field_path import value_to_text
from ..tools.provider_errors import provider_error_text, status_error_text

_logger = logging.getLogger(__name__)

STATES = [
    ("queued", "Queued"),
    ("sending", "Sending"),
    ("sent", "Sent"),
    ("delivered", "Delivered"),
    ("read", "Read"),
    ("failed", "Failed"),
    ("unknown", "Outcome unknown"),
    ("cancelled", "Cancelled"),
]
STATE_RANK = {"sent": 1, "delivered": 2, "read": 3}
BACKOFF_BASE_SECONDS = 30
BACKOFF_MAX_SECONDS = 3600
POLL_MAX_AGE_DAYS = 7
POLL_FIRST_DELAY_SECONDS = 60
# how long before asking again about the same message (a delivered one can still be read, but that can wait)
POLL_SENT_INTERVAL = timedelta(minutes=5)
POLL_DELIVERED_INTERVAL = timedelta(hours=1)
RATE_WINDOW = timedelta(seconds=60)
RENDER_BATCH = 200


def _auto_commit():
    return not getattr(threading.current_thread(), "testing", False)


class NotifyMessage(models.Model):
    """The outbox. Rules only create rows here; the dispatcher cron sends them.

    A message is claimed with ``FOR UPDATE SKIP LOCKED`` and committed as ``sending`` *before* the HTTP call,
    so a crash can never turn it back into ``queued`` (which would send it twice). A message left in
    ``sending`` is recovered by ``_recover_stuck_messages``: looked up at the provider where the provider can
    tell, otherwise marked "outcome unknown" for a person to decide.
    """

    _name = "notify.message"
    _description = "Outgoing notification"
    _order = "id desc"
    _rec_name = "display_label"

    # Everything is written by the rules engine and the dispatcher: the form is a read-only audit trail.
    display_label = fields.Char(compute="_compute_display_label")
    provider_account_id = fields.Many2one(
        "notify.provider.account", string="Provider account", required=True, ondelete="restrict",
        readonly=True,
    )
    provider = fields.Selection(related="provider_account_id.provider", store=True)
    company_id = fields.Many2one(related="provider_account_id.company_id", store=True)
    channel = fields.Selection(
        [("whatsapp", "WhatsApp"), ("sms", "SMS")], required=True, default="whatsapp", readonly=True
    )
    rule_id = fields.Many2one("notify.rule", ondelete="set null", index=True, readonly=True)
    recipient_e164 = fields.Char(string="Recipient", readonly=True)
    recipient_provider = fields.Char(string="Recipient (provider format)", readonly=True)
    template_ref = fields.Char(string="Template", readonly=True)
    payload = fields.Json(string="Variables", readonly=True)
    payload_text = fields.Text(string="Variables (text)", compute="_compute_payload_text")
    res_model = fields.Char(string="Related model", readonly=True)
    res_id = fields.Many2oneReference(string="Related record ID", model_field="res_model", readonly=True)
    res_name = fields.Char(string="Document", readonly=True)
    state = fields.Selection(
        STATES, string="Status", required=True, default="queued", index=True, copy=False, readonly=True
    )
    provider_ref = fields.Char(string="Provider reference", index=True, copy=False, readonly=True)
    provider_status = fields.Char(string="Provider status", copy=False, readonly=True)
    attempts = fields.Integer(default=0, copy=False, readonly=True)
    next_attempt_at = fields.Datetime(string="Next attempt", default=fields.Datetime.now, copy=False,
                                      readonly=True)
    sending_since = fields.Datetime(string="Sending since", copy=False, readonly=True)
    last_attempt_at = fields.Datetime(string="Last attempt", copy=False, readonly=True)
    sent_at = fields.Datetime(string="Sent on", copy=False, readonly=True)
    last_polled_at = fields.Datetime(string="Last status check", copy=False, readonly=True)
    last_error = fields.Text(string="Last error", copy=False, readonly=True)
    cost = fields.Monetary(copy=False, readonly=True, currency_field="currency_id")
    currency_id = fields.Many2one("res.currency", copy=False, readonly=True)
    currency = fields.Char(string="Provider currency code", copy=False, readonly=True)
    scheduled_at = fields.Datetime(string="Scheduled for", readonly=True, copy=False,
                                   help="When the provider says it will deliver the message (from its answer).")
    idempotency_key = fields.Char(required=True, copy=False, default=lambda self: uuid.uuid4().hex,
                                  readonly=True)
    to_render = fields.Boolean(
        readonly=True, copy=False, help="Recipient and variables are resolved by the dispatcher, just before sending."
    )

    _sql_constraints = [
        ("idempotency_key_unique", "UNIQUE(idempotency_key)", "A message with this idempotency key already exists."),
    ]

    def _auto_init(self):
        """Few, composite indexes: every message is inserted inside a business transaction, and each index
        costs on that path. They serve the dispatcher's claim and rate window, and the record's lookups."""
        res = super()._auto_init()
        cr = self.env.cr
        create_index(cr, "notify_message_due_idx", self._table, ["provider_account_id", "next_attempt_at"],
                     where="state = 'queued'")
        create_index(cr, "notify_message_window_idx", self._table, ["provider_account_id", "last_attempt_at"],
                     where="last_attempt_at IS NOT NULL")
        create_index(cr, "notify_message_polled_idx", self._table, ["provider_account_id", "last_polled_at"],
                     where="last_polled_at IS NOT NULL")
        create_index(cr, "notify_message_record_idx", self._table, ["res_model", "res_id"])
        return res

    def _compute_display_label(self):
        no_phone = self.env._("no phone number")
        pending = self.env._("recipient resolved when sending")
        for message in self:
            label = message.rule_id.name or message.template_ref or ""
            recipient = message.recipient_e164 or (pending if message.to_render else no_phone)
            message.display_label = f"{label} → {recipient}"

    def _compute_payload_text(self):
        for message in self:
            payload = dict(message.payload or {})
            # the database sorts JSON keys: show them in the rule's order
            order = message.rule_id.variable_ids.mapped("name")
            names = [n for n in order if n in payload] + sorted(n for n in payload if n not in order)
            message.payload_text = "\n".join(f"{name}: {payload[name]}" for name in names)

    # ---- buttons --------------------------------------------------------------------------------------
    def action_retry(self):
        """Send again. For "outcome unknown" this is the person's decision that the first try did not arrive."""
        retriable = self.filtered(lambda m: m.state in ("failed", "unknown", "cancelled"))
        if not retriable:
            raise UserError(self.env._("Only failed, cancelled or outcome-unknown messages can be sent again."))
        retriable.filtered(lambda m: not m.provider_ref)._rerender()
        unsendable = retriable.filtered(lambda m: m.state == "failed" and not m.recipient_e164)
        if unsendable:
            raise UserError(
                self.env._("Still cannot be sent: %s", unsendable[0].last_error or self.env._("no phone number"))
            )
        if any(not m.recipient_e164 for m in retriable):
            raise UserError(
                self.env._("A message without a valid recipient cannot be sent: fix the record and its rule.")
            )
        retriable.write(
            {"state": "queued", "attempts": 0, "next_attempt_at": fields.Datetime.now(), "sending_since": False}
        )
        self._trigger_dispatch()
        return True

    def _rerender(self):
        """Before a resend, take the record's current data (the person may just have fixed the phone)."""
        for message in self.filtered(lambda m: m.rule_id and m.res_model in self.env and m.res_id):
            record = self.env[message.res_model].sudo().browse(message.res_id).exists()
            if record:
                message.write(message.rule_id.with_env(message._user_env()).sudo()._prepare_message_vals(record))

    def action_cancel(self):
        cancellable = self.filtered(lambda m: m.state in ("queued", "failed", "unknown"))
        if not cancellable:
            raise UserError(self.env._("Only queued, failed or outcome-unknown messages can be cancelled."))
        cancellable.write({"state": "cancelled", "sending_since": False})
        return True

    def action_mark_sent(self):
        """A person checked that an "outcome unknown" message did arrive."""
        unknown = self.filtered(lambda m: m.state == "unknown")
        unknown.write({"state": "sent", "sent_at": fields.Datetime.now(), "last_error": False})
        return True

    def action_open_record(self):
        self.ensure_one()
        if not (self.res_model and self.res_id):
            return False
        return {
            "type": "ir.actions.act_window", "res_model": self.res_model, "res_id": self.res_id, "view_mode": "form",
        }

    # ---- enqueue --------------------------------------------------------------------------------------
    @api.model
    def _trigger_dispatch(self, at=None):
        self.env.ref("notify_rules.ir_cron_notify_dispatch").sudo()._trigger(at=at)

    # ---- dispatch -------------------------------------------------------------------------------------
    @api.model
    def _cron_dispatch(self, batch_limit=None):
        """Send what is due, account by account, within each account's rate limit and concurrency."""
        self._recover_stuck_messages()
        self._report_archived_accounts()
        accounts = self.env["notify.provider.account"].sudo().search([("active", "=", True)])
        for account in accounts:
            self._dispatch_account(account, batch_limit=batch_limit)

    @api.model
    def _report_archived_accounts(self):
        """Messages of an archived account wait, and say so (nothing is sent through an archived account)."""
        waiting = self.sudo().search([("state", "=", "queued"), ("provider_account_id.active", "=", False),
                                      ("last_error", "=", False)])
        for account, messages in waiting.grouped("provider_account_id").items():
            messages.write({"last_error": self.env._(
                "Not sent: the provider account %s is archived. Restore it, or cancel these messages.", account.name)})

    @api.model
    def _render_pending(self, account=None, limit=RENDER_BATCH):
        """Resolve recipient and variables of due messages queued by rules (their record's current data).

        Locked with SKIP LOCKED so that concurrent dispatchers never render (and log) the same message twice.
        A message that cannot be sent fails here, with the reason, and a note on the record.
        """
        self.env.flush_all()
        query = """
            SELECT id FROM notify_message
             WHERE to_render AND state = 'queued' AND (next_attempt_at IS NULL OR next_attempt_at <= %(now)s)
               {account_clause}
          ORDER BY id LIMIT %(limit)s FOR UPDATE SKIP LOCKED
        """.format(account_clause="AND provider_account_id = %(account)s" if account else "")
        self.env.cr.execute(query, {"now": fields.Datetime.now(), "account": account and account.id, "limit": limit})
        messages = self.browse([row[0] for row in self.env.cr.fetchall()])
        for message in messages:
            message._render()
        return messages

    def _render(self):
        self.ensure_one()
        model = self.env[self.res_model].sudo() if self.res_model in self.env else None
        record = model.browse(self.res_id).exists() if model is not None else None
        if not record or not self.rule_id:
            self.write({"to_render": False, "state": "failed",
                        "last_error": self._user_env()._("The record or the rule was deleted before sending.")})
            return
        vals = self.rule_id.with_env(self._user_env()).sudo()._prepare_message_vals(record)
        self.write(dict(vals, to_render=False))
        if self.state == "failed":
            self._post_on_record("unsendable", detail=self.last_error)

    @api.model
    def _dispatch_account(self, account, batch_limit=None):
        client = self._client_or_report(account)
        if client is None:
            return
        commit = _auto_commit()
        sent_batches = 0
        while batch_limit is None or sent_batches < batch_limit:
            if commit:
                self._commit_read_committed()
            self._render_pending(account)
            messages, wait_until = self._claim_batch(account)
            if commit:
                self._commit_read_committed()  # 'sending' is durable before any request leaves
            if not messages:
                if wait_until:
                    self._trigger_dispatch(at=wait_until)
                return
            self._send_batch(account, client, messages)
            sent_batches += 1
        if commit:
            self.env.cr.commit()  # pylint: disable=invalid-commit

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
    def _claim_batch(self, account):
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
            return self.browse(), oldest + RATE_WINDOW + timedelta(seconds=1)
        cr.execute(
            """
            UPDATE notify_message SET state = 'sending', sending_since = %(now)s, last_attempt_at = %(now)s,
                   attempts = attempts + 1
             WHERE id IN (SELECT id FROM notify_message
                           WHERE provider_account_id = %(account)s AND state = 'queued' AND to_render IS NOT TRUE
                             AND (next_attempt_at IS NULL OR next_attempt_at <= %(now)s)
                        ORDER BY next_attempt_at NULLS FIRST, id
                           LIMIT %(limit)s
                      FOR UPDATE SKIP LOCKED)
         RETURNING id
            """,
            {"now": now, "account": account.id, "limit": capacity},
        )
        ids = [row[0] for row in cr.fetchall()]
        self.invalidate_model(["state", "sending_since", "last_attempt_at", "attempts"])
        if ids:
            return self.browse(sorted(ids)), None
        cr.execute(
            "SELECT min(next_attempt_at) FROM notify_message WHERE provider_account_id = %s AND state = 'queued'",
            [account.id],
        )
        return self.browse(), cr.fetchone()[0]

    @api.model
    def _lock_account(self, account, now):
        """Lock the account row, which serialises the claims of sends and status checks across workers.
        Returns until when the provider asked us to wait, if that is still ahead, else None."""
        self.env.flush_all()  # the raw SQL of the claims must see pending ORM writes
        self.env.cr.execute("SELECT throttled_until FROM notify_provider_account WHERE id = %s FOR UPDATE",
                            [account.id])
        throttled_until = self.env.cr.fetchone()[0]
        return throttled_until if throttled_until and throttled_until > now else None

    @api.model
    def _requests_in_window(self, account, now):
        """(requests made to the account's provider in the last minute, the oldest one's time): sends and status
        checks share the provider's rate limit."""
        self.env.cr.execute(
            """SELECT count(*), min(at) FROM (
                   SELECT last_attempt_at AS at FROM notify_message
                    WHERE provider_account_id = %(account)s AND last_attempt_at > %(start)s
                   UNION ALL
                   SELECT last_polled_at FROM notify_message
                    WHERE provider_account_id = %(account)s AND last_polled_at > %(start)s) AS requests""",
            {"account": account.id, "start": now - RATE_WINDOW},
        )
        return self.env.cr.fetchone()

    @api.model
    def _client_or_report(self, account):
        """The account's client; if the account is misconfigured, say so on its due messages (kept queued)."""
        try:
            return account._notify_get_client()
        except (ProviderError, UserError) as error:
            reason = provider_error_text(self.env, error) if isinstance(error, ProviderError) else str(error)
            _logger.warning("Notify account %s cannot send: %s", account.id, reason)
            self.sudo().search([("provider_account_id", "=", account.id), ("state", "=", "queued")]).write(
                {"last_error": self.env._("Not sent yet, the provider account must be fixed: %s", reason)}
            )
            return None

    def _send_batch(self, account, client, messages):
        """Send in parallel threads (plain Python, no ORM in threads); apply results in this thread."""
        outbound = [(message, message._to_outbound()) for message in messages]
        unexpected = self.env._("Unexpected error while sending: %s")  # translated here: threads have no env

        def send(item):
            try:
                return client.send(item[1])
            except ProviderError as error:
                return error
            except Exception as error:  # noqa: BLE001 - a bug in a client must not lose the message
                _logger.exception("Unexpected error from the %s client", account.provider)
                return OutcomeUnknownError(unexpected % error)

        if len(outbound) == 1:
            results = [send(outbound[0])]
        else:
            with ThreadPoolExecutor(max_workers=account.concurrency) as pool:
                results = list(pool.map(send, outbound))
        for (message, _outbound), result in zip(outbound, results, strict=True):
            message._apply_send_result(result)
        if any(m.state == "sent" for m in messages):  # first status check soon, not at the next interval
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
        )

    def _apply_send_result(self, result):
        self.ensure_one()
        now = fields.Datetime.now()
        env = self._user_env()
        if isinstance(result, RetryableError):
            # 429: the provider did not look at the message, it asks the whole account to wait. That is not
            # one of the message's attempts (a long throttle must not make messages fail).
            throttled = result.http_status == 429
            if not throttled and self.attempts >= self.provider_account_id.max_attempts:
                self._fail(env._("Gave up after %(n)s attempts. Last error: %(err)s", n=self.attempts,
                                 err=provider_error_text(env, result)))
                return
            vals = {"state": "queued", "sending_since": False,
                    "last_error": provider_error_text(env, result, retrying=True)}
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
        elif isinstance(result, PermanentError):
            self._fail(provider_error_text(env, result))
        elif isinstance(result, OutcomeUnknownError):
            self._mark_unknown(provider_error_text(env, result))
        else:
            self.write(
                {
                    "state": result.status if result.status in STATE_RANK or result.status == "failed" else "sent",
                    "sending_since": False,
                    "sent_at": now,
                    "provider_ref": result.provider_ref,
                    "provider_status": result.provider_status,
                    "scheduled_at": result.scheduled_at and result.scheduled_at.astimezone(timezone.utc).replace(
                        tzinfo=None),
                    "last_error": False,
                    **self._cost_vals(result),
                }
            )
            self._post_on_record("sent")

    def _cost_vals(self, result):
        """Cost and currency, when the provider gives them (send answer or status)."""
        if result.cost is None and not result.currency:
            return {}
        currency = self.env["res.currency"].with_context(active_test=False).search(
            [("name", "=", result.currency)], limit=1) if result.currency else self.env["res.currency"]
        return {"cost": result.cost or 0.0, "currency": result.currency, "currency_id": currency.id}

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
                client = self._client_or_report(account)
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
                        message._apply_send_result(result)
                    continue
                message._mark_unknown(
                    message._user_env()._(
                        "Sending was interrupted (the server stopped while waiting for the provider's answer) and "
                        "%(provider)s offers no way to check whether it was accepted. Check with the recipient or "
                        "in the provider's dashboard, then use Resend or Mark as sent.",
                        provider=value_to_text(account, "provider", account.provider),
                    )
                )

    # ---- status polling -------------------------------------------------------------------------------
    @api.model
    def _cron_poll_status(self, limit=500):
        """Ask the providers how sent messages are doing, within each account's rate limit (shared with sends)."""
        accounts = self.env["notify.provider.account"].sudo().search([("active", "=", True)])
        commit = _auto_commit()
        for account in accounts:
            client = self._client_or_report(account)
            if client is None:
                continue
            if commit:
                self._commit_read_committed()
            messages, more = self._claim_polls(account, limit)
            if commit:
                self.env.cr.commit()  # pylint: disable=invalid-commit
            for message in messages:
                try:
                    status = client.get_status(message.provider_ref)
                except ProviderError as error:
                    _logger.info("Status of %s not available: %s", message.provider_ref, error.message)
                    if error.http_status == 429:
                        account._notify_throttle(error.retry_after)
                        more = True
                        break
                    continue
                message._apply_status(status)
            if more:
                self.env.ref("notify_rules.ir_cron_notify_poll_status").sudo()._trigger(
                    at=fields.Datetime.now() + RATE_WINDOW)
            if commit:
                self.env.cr.commit()  # pylint: disable=invalid-commit

    @api.model
    def _claim_polls(self, account, limit):
        """Reserve the status checks this run may make for an account: stamped ``last_polled_at`` under the
        account lock, so that they count in the rate window the dispatcher's claims read. Half of the window
        stays free for due messages. Returns (messages, whether some were left for later)."""
        cr = self.env.cr
        now = fields.Datetime.now()
        if self._lock_account(account, now):
            return self.browse(), True
        used, _oldest = self._requests_in_window(account, now)
        cr.execute(
            "SELECT count(*) FROM notify_message WHERE provider_account_id = %s AND state = 'queued' "
            "AND (next_attempt_at IS NULL OR next_attempt_at <= %s)", [account.id, now])
        reserve = min(cr.fetchone()[0], account.rate_limit_per_minute // 2)
        budget = min(limit, account.rate_limit_per_minute - used - reserve)
        cr.execute(
            """
            SELECT id FROM notify_message
             WHERE provider_account_id = %(account)s AND provider_ref IS NOT NULL AND sent_at > %(since)s
               AND (last_polled_at IS NULL
                    OR (state = 'sent' AND last_polled_at < %(sent_before)s)
                    OR (state = 'delivered' AND last_polled_at < %(delivered_before)s))
               AND state IN ('sent', 'delivered')
          ORDER BY last_polled_at NULLS FIRST, id
             LIMIT %(limit)s
        FOR UPDATE SKIP LOCKED
            """,
            {"account": account.id, "since": now - timedelta(days=POLL_MAX_AGE_DAYS),
             "sent_before": now - POLL_SENT_INTERVAL, "delivered_before": now - POLL_DELIVERED_INTERVAL,
             "limit": max(budget, 0) + 1},
        )
        ids = [row[0] for row in cr.fetchall()]
        more = len(ids) > max(budget, 0)
        ids = ids[:max(budget, 0)]
        if ids:
            cr.execute("UPDATE notify_message SET last_polled_at = %s WHERE id IN %s", [now, tuple(ids)])
            self.invalidate_model(["last_polled_at"])
        return self.browse(ids), more

    def _apply_status(self, status):
        self.ensure_one()
        vals = {"last_polled_at": fields.Datetime.now(), "provider_status": status.provider_status,
                **self._cost_vals(status)}
        if status.status == "failed":
            vals.update(state="failed",
                        last_error=status_error_text(self._user_env(), status)
                        or self._user_env()._("The provider reports delivery failed."))
        elif STATE_RANK.get(status.status, 0) > STATE_RANK.get(self.state, 0):
            vals["state"] = status.status
        changed = vals.get("state") and vals["state"] != self.state
        self.write(vals)
        if changed:
            self._post_on_record(self.state, detail=vals.get("last_error"))

    # ---- chatter --------------------------------------------------------------------------------------
    def _user_env(self):
        """The language of the person whose action queued the message: its notes and errors speak it."""
        return self.with_context(lang=self.create_uid.lang or self.env.lang).env

    def _post_on_record(self, event, detail=None):
        """Log on the related record's chatter, with a link back to the message.

        ``event``: 'sent', 'failed', 'unknown', 'unsendable', or a state reached by polling.
        """
        self.ensure_one()
        if not (self.res_model and self.res_id) or self.res_model not in self.env:
            return
        env = self._user_env()
        record = env[self.res_model].sudo().browse(self.res_id).exists()
        if not record or not hasattr(record, "message_post"):
            return
        events = {
            "sent": env._("sent"),
            "failed": env._("failed"),
            "unknown": env._("outcome unknown, check before resending"),
            "unsendable": env._("cannot be sent"),
        }
        states = dict(self._fields["state"]._description_selection(env))
        heading = env._(
            "%(rule)s — %(channel)s to %(to)s: %(event)s",
            rule=self.rule_id.with_env(env).name or self.template_ref or "",
            channel=value_to_text(self.with_env(env), "channel", self.channel),
            to=format_international(self.recipient_e164) or env._("no phone number"),
            event=events.get(event) or states.get(event, event),
        )
        body = Markup('<a href="#" data-oe-model="notify.message" data-oe-id="%s">%s</a>') % (self.id, heading)
        if detail:
            body += Markup("<br/>") + detail
        record.message_post(body=body, message_type="notification", subtype_xmlid="mail.mt_note")

