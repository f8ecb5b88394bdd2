"""What happens to a message after it left: one status path, whichever way the news arrives.

The status poller asks the providers; callbacks (webhooks, IPN) will hand their news to the same
``_apply_status``, so a message's state moves by one state machine: sent → delivered → read, or failed.
"""

import logging
from datetime import timedelta

from odoo import api, fields, models

from ..clients.base import AccountError, ProviderError
from ..clients.registry import get_client_class
from ..tools.cron_budget import CronBudget
from ..tools.provider_errors import provider_error_text, status_error_text
from .notify_message_dispatch import RATE_WINDOW, STATE_RANK, _auto_commit

_logger = logging.getLogger(__name__)

POLL_MAX_AGE_DAYS = 7
# how long before asking again about the same message (a delivered one can still be read, but that can wait)
POLL_SENT_INTERVAL = timedelta(minutes=5)
POLL_DELIVERED_INTERVAL = timedelta(hours=1)
# a status check that fails (404, refused, server error) waits twice as long each time, and stops after this
POLL_MAX_FAILURES = 5
POLL_CHUNK = 20  # checks reserved at a time, so that a run that hits its time budget leaves none reserved


class NotifyMessage(models.Model):
    _inherit = "notify.message"

    @api.model
    def _cron_poll_status(self, limit=500, time_budget=None):
        """Ask the providers how sent messages are doing, within each account's rate limit (shared with sends)
        and within the run's time budget (the rest is for the next run, triggered at once)."""
        budget = CronBudget(time_budget)
        accounts = self.env["notify.provider.account"].sudo().search([("active", "=", True), ("paused", "=", False)])
        commit = _auto_commit()
        poll_cron = self.env.ref("notify_rules.ir_cron_notify_poll_status").sudo()
        for account in accounts:
            if not getattr(get_client_class(account.provider), "supports_status", True):
                continue  # the provider has no status call (Chinqit): a sent message stays "Sent"
            client = self._client_or_pause(account)
            if client is None:
                continue
            checked, more = 0, True
            while more and checked < limit:
                if budget.exhausted(margin=account.timeout):
                    poll_cron._trigger()
                    return
                if commit:
                    self._commit_read_committed()
                messages, more = self._claim_polls(account, min(POLL_CHUNK, limit - checked))
                if commit:
                    self.env.cr.commit()  # pylint: disable=invalid-commit
                if not messages:
                    break
                checked += len(messages)
                stop = self._poll_messages(account, client, messages)
                budget.worked()
                if commit:
                    self.env.cr.commit()  # pylint: disable=invalid-commit
                if stop:
                    more = True
                    break
            if more:
                poll_cron._trigger(at=fields.Datetime.now() + RATE_WINDOW)

    def _poll_messages(self, account, client, messages):
        """Check each message; return True when the account must not be asked more now (429, paused)."""
        for message in messages:
            try:
                status = client.get_status(message.provider_ref)
            except AccountError as error:
                account._notify_pause(provider_error_text(self.env, error))
                return True
            except ProviderError as error:
                if error.http_status == 429:
                    account._notify_throttle(error.retry_after)
                    return True
                message._status_check_failed(error)
                continue
            try:
                with self.env.cr.savepoint():
                    message._apply_status(status)
            except Exception:  # noqa: BLE001 - one message's bug must not stop the others' checks
                _logger.exception("Could not apply the status of notify.message %s", message.id)
        return False

    @api.model
    def _claim_polls(self, account, limit):
        """Reserve the status checks this run may make for an account: stamped ``last_polled_at`` and counted
        in the rate window under the account lock. Half of the window stays free for due messages. A message
        whose checks failed waits twice as long after each failure, and is no longer asked after
        POLL_MAX_FAILURES. Returns (messages, whether some were left for later)."""
        cr = self.env.cr
        now = fields.Datetime.now()
        if self._lock_account(account, now):
            return self.browse(), True
        used, _oldest = self._requests_in_window(account, now)
        cr.execute(
            "SELECT count(*) FROM notify_message WHERE provider_account_id = %s AND state = 'queued' "
            "AND (next_attempt_at IS NULL OR next_attempt_at <= %s)", [account.id, now])
        reserve = min(cr.fetchone()[0], account.rate_limit_per_minute // 2)
        budget = max(min(limit, account.rate_limit_per_minute - used - reserve), 0)
        cr.execute(
            """
            SELECT id FROM notify_message
             WHERE provider_account_id = %(account)s AND provider_ref IS NOT NULL AND sent_at > %(since)s
               AND state IN ('sent', 'delivered') AND status_check_failures < %(max_failures)s
               AND (last_polled_at IS NULL
                    OR (state = 'sent'
                        AND last_polled_at < %(now)s - %(sent_interval)s * power(2, status_check_failures))
                    OR (state = 'delivered'
                        AND last_polled_at < %(now)s - %(delivered_interval)s * power(2, status_check_failures)))
          ORDER BY last_polled_at NULLS FIRST, id
             LIMIT %(limit)s
        FOR UPDATE SKIP LOCKED
            """,
            {"account": account.id, "since": now - timedelta(days=POLL_MAX_AGE_DAYS), "now": now,
             "sent_interval": POLL_SENT_INTERVAL, "delivered_interval": POLL_DELIVERED_INTERVAL,
             "max_failures": POLL_MAX_FAILURES, "limit": budget + 1},
        )
        ids = [row[0] for row in cr.fetchall()]
        more = len(ids) > budget
        ids = ids[:budget]
        if ids:
            cr.execute("UPDATE notify_message SET last_polled_at = %s WHERE id IN %s", [now, tuple(ids)])
            self._count_requests(account, now, len(ids))
            self.invalidate_model(["last_polled_at"])
        return self.sudo().browse(ids), more

    def _status_check_failed(self, error):
        """A status check that failed is said on the message; it is asked again later, then no more."""
        self.ensure_one()
        env = self._user_env()
        failures = self.status_check_failures + 1
        text = provider_error_text(env, error)
        if failures >= POLL_MAX_FAILURES:
            text = env._("%(error)s Status checks stopped after %(n)s failures: the status shown is the last known.",
                         error=text, n=failures)
        _logger.info("Status of notify.message %s not available: %s", self.id, error.message)
        self.write({"status_check_failures": failures, "status_check_error": text})

    def _apply_status(self, status):
        """The one way a message's status moves after sending: by polling now, by callbacks later."""
        self.ensure_one()
        vals = {"last_polled_at": fields.Datetime.now(), "provider_status": status.provider_status,
                "status_check_failures": 0, "status_check_error": False, **self._cost_vals(status)}
        if status.status == "failed":
            vals.update(state="failed",
                        last_error=status_error_text(self._user_env(), status)
                        or self._user_env()._("The provider reports delivery failed."))
        elif STATE_RANK.get(status.status, 0) > STATE_RANK.get(self.state, 0):
            vals["state"] = status.status
        changed = vals.get("state") and vals["state"] != self.state
        self.write(vals)
        # a webhook's request leaves the note to its cron (notify_note_later): the note costs most of the request
        if changed and not self.env.context.get("notify_note_later"):
            self._post_on_record(self.state, detail=vals.get("last_error"))
        return bool(changed)
