"""Retention: final messages older than their company's window are deleted, a few thousand at a time.

A million messages a year is an ordinary outbox here; every index and every list page pays for rows nobody reads
again. The purge runs beside the dispatcher and the poller without slowing them down:

- each batch is one short transaction (``DELETE ... WHERE id = ANY(ARRAY(SELECT ... LIMIT n FOR UPDATE SKIP
  LOCKED))``: the array is computed once, so the LIMIT holds whatever plan PostgreSQL picks), committed before the
  next one: row locks are held for one batch only, never on a row another worker holds
  (SKIP LOCKED), and the table lock is the ordinary ROW EXCLUSIVE that never blocks the claims;
- a run stops within its time budget (tools/cron_budget.py) and triggers itself for what is left, as the
  dispatcher does;
- only final states go (sent, delivered, read, failed, cancelled). Queued, sending and outcome-unknown messages
  still need the dispatcher or a person;
- a message's age is its creation date, the *Created* column of the list: it never moves (a late "read" status
  does not extend a message's life), and ids follow it, so the oldest rows are found first;
- what still refers to a message decides: the request of a mobile money operation is kept as long as the
  operation exists (the operation's ``message_id`` says ``set null``, but the message is the proof of what was
  asked of Intech; the message's own ``money_operation_id`` says ``restrict``), and
  a message whose fallback is not final yet is kept (the fallback's routing reads it). A final fallback only
  loses its link (``fallback_of_id``: ``set null``, done by PostgreSQL). Notes already posted on documents'
  chatters keep their text; their link to the deleted message then leads nowhere.
"""

import logging
from datetime import timedelta

from odoo import api, fields, models
from odoo.tools.sql import create_index

from ..tools.cron_budget import CronBudget
from .notify_message_dispatch import _auto_commit

_logger = logging.getLogger(__name__)

FINAL_STATES = ("sent", "delivered", "read", "failed", "cancelled")
NOT_FINAL_STATES = ("queued", "sending", "unknown")
PURGE_BATCH = 5000


class NotifyMessage(models.Model):
    _inherit = "notify.message"

    @api.model
    def _cron_purge_old_messages(self, batch_size=PURGE_BATCH, time_budget=None):
        """Delete the final messages past each company's retention, ``batch_size`` per transaction.
        Returns the number of messages deleted by this run."""
        budget = CronBudget(time_budget)
        commit = _auto_commit()
        now = fields.Datetime.now()
        companies = self.env["res.company"].sudo().search([("notify_message_retention_days", ">", 0)])
        deleted = 0
        for company in companies:
            cutoff = now - timedelta(days=company.notify_message_retention_days)
            while True:
                if budget.exhausted():
                    _logger.info("Notify retention: time budget spent after %s messages, the rest in the next run",
                                 deleted)
                    self.env.ref("notify_rules.ir_cron_notify_message_retention").sudo()._trigger()
                    return deleted
                if commit:
                    self._commit_read_committed()
                count = self._purge_batch(company, cutoff, batch_size)
                if count:  # a company with nothing to delete must not spend the run's one sure batch
                    budget.worked()
                deleted += count
                if count < batch_size:
                    break
        if commit:
            self.env.cr.commit()  # pylint: disable=invalid-commit
        if deleted:
            _logger.info("Notify retention: %s final messages deleted", deleted)
        return deleted

    @api.model
    def _purge_batch(self, company, cutoff, limit):
        """One batch: at most ``limit`` final messages of ``company`` created before ``cutoff``, none locked by
        another worker, none still needed (see the module's docstring). Returns how many were deleted."""
        self.env.flush_all()
        self.env.cr.execute(
            """
            DELETE FROM notify_message
             WHERE id = ANY(ARRAY(
                   SELECT m.id FROM notify_message m
                    WHERE m.company_id = %(company)s AND m.state IN %(final)s AND m.create_date < %(cutoff)s
                      AND m.money_operation_id IS NULL
                      AND NOT EXISTS (SELECT 1 FROM notify_money_operation o WHERE o.message_id = m.id)
                      AND NOT EXISTS (SELECT 1 FROM notify_message f
                                       WHERE f.fallback_of_id = m.id AND f.state IN %(not_final)s)
                    LIMIT %(limit)s
                      FOR UPDATE OF m SKIP LOCKED))
            """,
            {"company": company.id, "final": FINAL_STATES, "not_final": NOT_FINAL_STATES, "cutoff": cutoff,
             "limit": limit},
        )
        count = self.env.cr.rowcount
        if count:
            self.env.invalidate_all()
        return count


class NotifyMoneyOperation(models.Model):
    _inherit = "notify.money.operation"

    def init(self):
        """The purge asks, for each message it would delete, whether an operation still refers to it; PostgreSQL
        asks the same to apply ``ON DELETE SET NULL``. Without this index each question reads the whole table."""
        res = super().init()
        create_index(self.env.cr, "notify_money_operation_message_idx", self._table, ["message_id"],
                     where="message_id IS NOT NULL")
        return res
