"""Edit forms that can be stale (app.core.stale): the version a form was opened on, carried in a
hidden field, and what the person is told when their save is refused.

The version is the edited fields' values as the form showed them, not a digest of them: a
refused save can then say what someone else changed (opened -> now) apart from what the person
changed (opened -> asked), and offer the person's change on top of the other's. The person's
own form already shows those values, and forging them only lets someone overwrite what they may
overwrite anyway: nothing to sign."""

import json
from collections.abc import Mapping
from typing import Any, NamedTuple

from app.core.errors import DomainError
from app.core.stale import same

OPENED = "opened"  # the hidden field


def opened_field(values: dict) -> str:
    """The hidden field's value: the edited fields' values, as the form opened shows them."""
    return json.dumps(values, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def read_opened(form: Mapping[str, Any]) -> dict | None:
    """The version a posted form was opened on; None when it carries none (a form rendered
    before versions, a script): saved without the precondition."""
    raw = form.get(OPENED)
    if not raw:
        return None
    try:
        opened = json.loads(raw)
    except ValueError:
        opened = None
    if not isinstance(opened, dict):
        raise DomainError("This form is out of date: reload the page and make your change again.")
    return opened


def _asked(value):
    """What the person typed, compared as saved (surrounding spaces do not count)."""
    return same(value.strip() if isinstance(value, str) else value)


class Conflict(NamedTuple):
    """A refused save. `theirs`: field -> (opened, now), what someone else changed meanwhile;
    `mine`: field -> (opened, asked), what the person changed; `merged`: the values now with
    the person's changes on top (what Apply my change on top saves)."""

    theirs: dict
    mine: dict
    merged: dict

    @property
    def both(self) -> bool:
        """Whether both changed one same field (the merge keeps the person's)."""
        return bool(set(self.theirs) & set(self.mine))


def conflict(opened: dict | None, current: dict, asked: dict) -> Conflict:
    """The fields of `current` (the values now) compared with those the form was opened on and
    those the person asked for."""
    if opened is None:  # Stale comes only from a save given the version it was opened on
        raise ValueError("a conflict needs the values the form was opened on")
    theirs = {
        k: (opened.get(k), now) for k, now in current.items() if same(opened.get(k)) != same(now)
    }
    mine = {
        k: (opened.get(k), asked[k])
        for k in current
        if k in asked and same(opened.get(k)) != _asked(asked[k])
    }
    return Conflict(theirs, mine, {**current, **{k: asked[k] for k, _ in mine.items()}})


def listed(items: list[str]) -> str:
    """ "A", "A and B", "A, B and C"."""
    if len(items) < 2:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _change(label: str, old, new, *, theirs: bool, on: str, off: str) -> str:
    if isinstance(new, bool):
        return f"{label} {'was ' if theirs else ''}{on if new else off}"
    if not same(new):
        return f"{label} {'was ' if theirs else ''}cleared"
    if theirs and same(old):
        return f"{label} changed from “{old}” to “{new}”"
    return f"{label} {'set' if theirs else 'changed'} to “{new}”"


def said(
    changes: dict, labels: dict, *, theirs: bool, on: str = "turned on", off: str = "turned off"
) -> str:
    """Changes (field -> (before, after)) in words, each field by its label: "City changed
    from “Paris” to “Lyon”" (`theirs`), "City changed to “Lyon”" (the person's own). Flags
    are said with `on` / `off` ("added", "removed" for permissions)."""
    return listed(
        [
            _change(labels.get(k, k), old, new, theirs=theirs, on=on, off=off)
            for k, (old, new) in changes.items()
        ]
    )


def told(found: Conflict, labels: dict, what: str, **words) -> dict:
    """What a refused form says: `theirs` ("Someone changed <what> while you were editing: …"),
    `mine` ("Your change: …") and `both` (see `said`)."""
    theirs = said(found.theirs, labels, theirs=True, **words)
    mine = said(found.mine, labels, theirs=False, **words)
    return {
        "theirs": f"Someone changed {what} while you were editing: {theirs}.",
        "mine": f"Your change: {mine}." if mine else "You had changed nothing.",
        "both": found.both,
    }
