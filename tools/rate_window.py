"""Sliding windows over timestamped rows, shared by every limit of one-time codes: the provider's per-number
limits (notify.otp.request), the engine's cooldown and per-number / per-IP windows (notify.otp), and wrong codes
per user and IP (notify.otp.attempt). A refusal says when the window frees: the moment its oldest counted row
leaves it."""

from datetime import timedelta

from odoo.tools import SQL


def window_wait(cr, table, time_column, filters, seconds, allowed, now):
    """Seconds until the window of `seconds` before `now` holds fewer than `allowed` rows of `table` matching
    `filters` ({column: value}); None while there is room. `allowed` <= 0: no limit."""
    if not allowed or allowed <= 0:
        return None
    window = timedelta(seconds=seconds)
    conditions = SQL(" AND ").join(
        [SQL("%s = %s", SQL.identifier(column), value) for column, value in filters.items()]
        + [SQL("%s > %s", SQL.identifier(time_column), now - window)])
    cr.execute(SQL("SELECT %s FROM %s WHERE %s ORDER BY %s DESC OFFSET %s LIMIT 1",
                   SQL.identifier(time_column), SQL.identifier(table), conditions, SQL.identifier(time_column),
                   allowed - 1))
    row = cr.fetchone()
    if not row:
        return None
    # `allowed` rows are in the window already: the oldest of them must leave it first
    return max(int((row[0] + window - now).total_seconds()) + 1, 1)


def wait_text(env, seconds):
    """'45 seconds', '12 minutes', '3 hours', in env's language."""
    if seconds < 120:
        return env._("%s seconds", seconds)
    if seconds < 2 * 3600:
        return env._("%s minutes", -(-seconds // 60))
    return env._("%s hours", -(-seconds // 3600))
