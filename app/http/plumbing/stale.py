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
from app.core.i18n import N_, _
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
        raise DomainError(
            _("This form is out of date: reload the page and make your change again.")
        )
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
    return Conflict(theirs, mine, {**current, **{k: asked[k] for k in mine}})


def listed(items: list[str]) -> str:
    """ "A", "A and B", "A, B and C"."""
    if len(items) < 2:
        return "".join(items)
    return _("%(items)s and %(last)s") % {"items": ", ".join(items[:-1]), "last": items[-1]}


class Flags(NamedTuple):
    """How a flag's change is said, a whole sentence each: someone else's (`theirs_on`,
    `theirs_off`) and the person's own (`mine_on`, `mine_off`). Marked only: translated when
    said."""

    theirs_on: str
    theirs_off: str
    mine_on: str
    mine_off: str


SWITCHED = Flags(
    N_("%(label)s was turned on"),
    N_("%(label)s was turned off"),
    N_("%(label)s turned on"),
    N_("%(label)s turned off"),
)
# Permissions: "View Domains was added", "View Domains removed".
GRANTED = Flags(
    N_("%(label)s was added"),
    N_("%(label)s was removed"),
    N_("%(label)s added"),
    N_("%(label)s removed"),
)


def _change(label: str, old, new, *, theirs: bool, flags: Flags) -> str:
    if isinstance(new, bool):
        if theirs:
            return _(flags.theirs_on if new else flags.theirs_off) % {"label": label}
        return _(flags.mine_on if new else flags.mine_off) % {"label": label}
    if not same(new):
        if theirs:
            return _("%(label)s was cleared") % {"label": label}
        return _("%(label)s cleared") % {"label": label}
    if theirs and same(old):
        return _("%(label)s changed from “%(old)s” to “%(new)s”") % {
            "label": label,
            "old": old,
            "new": new,
        }
    if theirs:
        return _("%(label)s set to “%(new)s”") % {"label": label, "new": new}
    return _("%(label)s changed to “%(new)s”") % {"label": label, "new": new}


def said(changes: dict, labels: dict, *, theirs: bool, flags: Flags = SWITCHED) -> str:
    """Changes (field -> (before, after)) in words, in the request's language, each field by its
    label (marked, translated here): "City changed from “Paris” to “Lyon”" (`theirs`), "City
    changed to “Lyon”" (the person's own). Flags are said as `flags` says (SWITCHED: "turned
    on", "turned off"; GRANTED: "added", "removed" for permissions)."""
    return listed(
        [
            _change(_(labels.get(k, k)), old, new, theirs=theirs, flags=flags)
            for k, (old, new) in changes.items()
        ]
    )


def told(found: Conflict, labels: dict, someone_changed: str, flags: Flags = SWITCHED) -> dict:
    """What a refused form says: `theirs` (`someone_changed`, a whole sentence already
    translated, "Someone changed <what> while you were editing: %(changes)s."), `mine` ("Your
    change: …") and `both` (see `said`)."""
    theirs = said(found.theirs, labels, theirs=True, flags=flags)
    mine = said(found.mine, labels, theirs=False, flags=flags)
    return {
        "theirs": someone_changed % {"changes": theirs},
        "mine": _("Your change: %(changes)s.") % {"changes": mine}
        if mine
        else _("You had changed nothing."),
        "both": found.both,
    }
