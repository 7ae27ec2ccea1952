"""Saving on top of what someone else has just saved: a compare-and-set for every edit.

An edit form carries the values of the fields it edits as they were when it was opened (its
`opened` version); the save compares them with the values now, inside its transaction with the
row locked, and writes only when they are the same. A save prepared on values that someone
changed meanwhile is refused (Stale), nothing written, with the values now, so the form can say
what changed and let the person put their own change on top. Only the fields the form edits
count: a change elsewhere (another field of the row, another of the account's users, the
account's version) never refuses a save. A client of the JSON API gives the same version as a
digest (an ETag, in If-Match)."""

import hashlib
import json

from app.core.errors import DomainError
from app.core.i18n import N_, _

# The default of an edit's keyword arguments: a field not given keeps its value.
UNCHANGED = object()

STALE_MESSAGE = N_("Someone else changed this while you were editing it. Nothing was saved.")


class Stale(DomainError):
    """The edit was prepared on values that have changed since: nothing was saved. `current`:
    the edited fields' values now."""

    def __init__(self, current: dict) -> None:
        super().__init__(_(STALE_MESSAGE))
        self.current = dict(current)


def same(value) -> str | tuple:
    """A value as compared: None and "" alike, a flag as "true"/"false" (as settings are
    stored), a set of keys in any order alike."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple | set | frozenset):
        return tuple(sorted(str(v) for v in value))
    return str(value)


def version(values: dict) -> str:
    """The digest of the edited fields' values: what an ETag carries."""
    canonical = json.dumps({k: same(v) for k, v in values.items()}, sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()[:20]


Opened = dict | str | tuple[str, ...]  # the values, their digest, or any of several digests


def unchanged(opened: Opened, current: dict) -> bool:
    """Whether the values the edit was prepared on (a dict, their digest, or a tuple of digests
    any of which will do) are those now. A field the opened values do not name has changed."""
    if isinstance(opened, str):
        return opened == version(current)
    if isinstance(opened, tuple):
        return version(current) in opened
    return all(k in opened and same(opened[k]) == same(v) for k, v in current.items())


def check(opened: Opened | None, current: dict, wanted: dict) -> None:
    """The compare of a compare-and-set: call it inside the save's transaction, the row locked,
    before writing. `opened` None: no precondition (a caller that gives none saves as before).
    Not refused when what is asked is already what is there: nobody's change would be lost."""
    if opened is None or unchanged(opened, current):
        return
    if all(same(current.get(k)) == same(v) for k, v in wanted.items()):
        return
    raise Stale(current)
