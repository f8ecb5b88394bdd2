"""How long one run of a cron of this addon may work before it hands the rest to the next run.

Odoo stops a cron worker past ``limit_time_real_cron`` (else ``limit_time_real``, 120 s by default): a message
caught mid-send then becomes "outcome unknown". Each run of the dispatcher and of the status poller stops
starting new requests well before that, commits, and triggers itself for what is left. The dispatcher and
the poller may run one after the other in the same cron worker, so each takes at most a quarter of the limit.
"""

import time

from odoo.tools import config

DEFAULT_BUDGET_SECONDS = 60.0
SHARE_OF_LIMIT = 0.25


def default_budget():
    limit = config.get("limit_time_real_cron") or 0
    if limit <= 0:
        limit = config.get("limit_time_real") or 0
    if limit <= 0:
        return DEFAULT_BUDGET_SECONDS
    return min(DEFAULT_BUDGET_SECONDS, limit * SHARE_OF_LIMIT)


class CronBudget:
    """``exhausted(margin)``: True once starting work that may take `margin` seconds would overrun the budget.

    The first unit of work of a run is always allowed (``worked()`` records it), so that a budget smaller
    than one request's timeout still makes progress instead of re-triggering itself forever."""

    def __init__(self, seconds=None):
        self.seconds = default_budget() if seconds is None else float(seconds)
        self.started = time.monotonic()
        self.has_worked = False

    def worked(self):
        self.has_worked = True

    def exhausted(self, margin=0.0):
        if not self.has_worked:
            return False
        return time.monotonic() - self.started + (margin or 0.0) > self.seconds
