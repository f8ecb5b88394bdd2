"""Recipient safeguards that need no database: the recipient's time zone and the end of quiet hours.

Plain Python (pytz, phonenumbers), so the time-zone edges are tested without Odoo.
"""

from datetime import datetime, time, timedelta

import phonenumbers
import pytz
from phonenumbers import timezone as phone_timezone

UNKNOWN_ZONE = "Etc/Unknown"


def zone_of_number(e164):
    """The main time zone of a number's country: the number's own zone where phonenumbers knows exactly one
    (e.g. +237 → Africa/Douala), else the first zone pytz lists for its country (its main one: Moscow for +7 9..,
    Almaty for +7 7..), else None."""
    try:
        number = phonenumbers.parse(e164 or "", None)
    except phonenumbers.NumberParseException:
        return None
    zones = [zone for zone in phone_timezone.time_zones_for_number(number)
             if zone != UNKNOWN_ZONE and zone in pytz.all_timezones_set]
    if len(zones) == 1:
        return zones[0]
    region = phonenumbers.region_code_for_number(number)
    country_zones = pytz.country_timezones.get(region or "", [])
    if zones and country_zones:
        # several zones for this prefix: the country's main one if it is among them, else the first listed
        return next((z for z in country_zones if z in zones), zones[0])
    return (country_zones or zones or [None])[0]


def recipient_zone(partner_tz, e164, company_tz):
    """(zone name, where it comes from): the partner's ``tz``, else the number's country, else the company's, else
    UTC. ``where`` is 'partner', 'number', 'company' or 'default'."""
    if partner_tz in pytz.all_timezones_set:
        return partner_tz, "partner"
    zone = zone_of_number(e164)
    if zone:
        return zone, "number"
    if company_tz in pytz.all_timezones_set:
        return company_tz, "company"
    return "UTC", "default"


def hours_to_time(hours):
    """21.5 → 21:30 (Odoo's float_time widget stores hours as a float)."""
    hours = max(0.0, min(float(hours or 0.0), 24.0))
    minutes = round(hours * 60)
    if minutes >= 24 * 60:
        minutes = 24 * 60 - 1
    return time(minutes // 60, minutes % 60)


def quiet_hours_end(now_utc, zone_name, start_hours, end_hours):
    """When the quiet hours around ``now_utc`` end, as a naive UTC datetime; None when ``now_utc`` is outside them.

    Quiet hours run from ``start`` to ``end`` in the recipient's local time, and may cross midnight
    (21:00 → 07:00).
    start == end means no quiet hours. The end is a wall-clock time: on a night when clocks change it is still
    07:00 local (a time that does not exist that night, in the gap of a spring change, is moved forward by the
    change)."""
    start, end = hours_to_time(start_hours), hours_to_time(end_hours)
    if start == end:
        return None
    zone = pytz.timezone(zone_name)
    local = pytz.utc.localize(now_utc.replace(tzinfo=None)).astimezone(zone)
    clock = local.time().replace(tzinfo=None)
    inside = start <= clock < end if start < end else (clock >= start or clock < end)
    if not inside:
        return None
    end_day = local.date() if clock < end else local.date() + timedelta(days=1)
    end_local = _localize(zone, datetime.combine(end_day, end))
    return end_local.astimezone(pytz.utc).replace(tzinfo=None)


def _localize(zone, naive):
    try:
        return zone.localize(naive, is_dst=None)
    except pytz.NonExistentTimeError:  # in the spring-forward gap: the first valid instant after it
        return zone.normalize(zone.localize(naive, is_dst=False))
    except pytz.AmbiguousTimeError:  # the hour repeated in autumn: its first occurrence
        return zone.localize(naive, is_dst=True)
