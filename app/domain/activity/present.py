"""How the activity log reads: permission labels instead of the stored keys, and the entries
grouped by day.

Descriptions are stored as written when the change happened, permission keys and all
("Permissions of Jo on Acme: domains, invoices -> domains, tickets"). They are translated here,
when shown, so every entry reads the same whatever its age: key lists become labels, all of
them "all 13 permissions", and a change of permissions reads as what was added and removed when
that is shorter than the two lists.
"""

import re
from datetime import date, datetime, timedelta
from typing import NamedTuple

from app.core import i18n
from app.core.permissions import ALL_KEYS, LABELS

# One key, whole (so "products" never matches inside "manageproducts"); longest first.
_KEY = "|".join(sorted(map(re.escape, ALL_KEYS), key=len, reverse=True))
_KEYS = rf"(?:{_KEY})\b(?:, ?(?:{_KEY})\b)*"
_SIDE = rf"none|{_KEYS}"
# Grants and acceptances end with "...: <keys or none> -> <keys or none>".
_CHANGE = re.compile(rf"(?<=: )(?P<before>{_SIDE}) -> (?P<after>{_SIDE})$")
# Invitations end with "... with <keys>".
_WITH = re.compile(rf"(?<= with )(?P<keys>{_KEYS})$")


class Presented(NamedTuple):
    text: str  # what the log shows
    full: str  # the whole change, before -> after with labels ("" when `text` says it all)


def _keys(stored: str) -> tuple[str, ...]:
    wanted = {k.strip() for k in stored.split(",")}
    return tuple(k for k in ALL_KEYS if k in wanted)


def labels(keys) -> str:
    """Permission keys as the people reading the log know them."""
    keys = tuple(keys)
    if not keys:
        return "none"
    if set(keys) >= set(ALL_KEYS):
        return f"all {len(ALL_KEYS)} permissions"
    return ", ".join(LABELS[k] for k in keys)


def _change(before: tuple[str, ...], after: tuple[str, ...]) -> tuple[str, str]:
    """(shown, full) for the permissions going from `before` to `after`."""
    full = f"{labels(before)} -> {labels(after)}"
    if not before:
        return labels(after), ""
    if not after:
        return f"had {labels(before)}", ""
    if before == after:
        return f"{labels(after)} (unchanged)", ""
    added = [k for k in after if k not in before]
    removed = [k for k in before if k not in after]
    diff = "; ".join(
        part
        for part in (
            added and f"added {', '.join(LABELS[k] for k in added)}",
            removed and f"removed {', '.join(LABELS[k] for k in removed)}",
        )
        if part
    )
    return (diff, full) if len(diff) < len(full) else (full, "")


def describe(description: str) -> Presented:
    """One stored description as the log shows it. Text without permission keys is unchanged."""
    match = _CHANGE.search(description)
    if match:
        shown, full = _change(_keys(match["before"]), _keys(match["after"]))
        head = description[: match.start()]
        if shown.startswith("had "):  # "Removed the access of Jo to Acme (had ...)"
            return Presented(f"{head.removesuffix(': ')} ({shown})", "")
        return Presented(head + shown, head + full if full else "")
    match = _WITH.search(description)
    if match:
        return Presented(description[: match.start()] + labels(_keys(match["keys"])), "")
    return Presented(description, "")


class Day(NamedTuple):
    day: date
    label: str  # "Today", "Yesterday", or the date
    date_text: str  # the date, written out
    entries: list


def day_label(day: date, today: date) -> str:
    if day == today:
        return "Today"
    if day == today - timedelta(days=1):
        return "Yesterday"
    return long_date(day)


def long_date(day: date) -> str:
    """ "Tuesday, 8 December 2026" in English, as the reader's language writes a whole date."""
    return i18n.format_full_date(day)


def by_day(entries: list[dict], now: datetime) -> list[Day]:
    """The entries (newest first) in runs of one day each, in the log's time zone (UTC, as the
    times beside them)."""
    days: list[Day] = []
    today = now.date()
    for entry in entries:
        day = entry["created_at"].astimezone(now.tzinfo).date()
        if not days or days[-1].day != day:
            days.append(Day(day, day_label(day, today), long_date(day), []))
        days[-1].entries.append(entry)
    return days
