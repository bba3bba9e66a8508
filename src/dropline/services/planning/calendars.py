"""Working calendars for launch timelines: calendar days, or business days with a
country's public holidays from the maintained ``holidays`` package."""

from __future__ import annotations

from datetime import date

import holidays

from dropline.domain.errors import InvalidInput
from dropline.domain.planning.schedule import WorkCalendar


def check_country(country: str) -> str:
    """An ISO 3166-1 alpha-2 code the holidays package knows (upper case), or ``""``."""
    code = country.strip().upper()
    if code and code not in holidays.list_supported_countries():
        raise InvalidInput(
            f"no holiday calendar for country {country!r}; use an ISO 3166-1 code such as US, "
            "GB, DE or CN",
            field="country",
        )
    return code


def work_calendar(business_days: bool, country: str, start: date, end: date) -> WorkCalendar:
    """Calendar days, or business days skipping weekends and ``country``'s public
    holidays in the years from ``start`` to ``end`` (plus one, for a plan that runs late)."""
    if not business_days:
        return WorkCalendar()
    if not country:
        return WorkCalendar(business_days=True)
    years = range(min(start, end).year, max(start, end).year + 2)
    days = holidays.country_holidays(check_country(country), years=years)
    return WorkCalendar(business_days=True, holidays=frozenset(days.keys()))
