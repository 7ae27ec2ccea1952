"""Abuse limits that hold under concurrency, on both engines and across processes.

Each attempt first inserts its row (committed at once), then counts the rows of its window.
The k-th row to be committed counts at least k rows, so of any number of simultaneous
attempts at most `limit` ever see a count within the limit: no lock is needed, and none is
held while a password is being checked."""

import math
from datetime import timedelta

from app.core import clock
from app.core.errors import Throttled
from app.core.i18n import N_, _
from app.schema.sessions import LoginFailure

# The attempts in a window, by key and by address, in one statement.
_RECENT = """
SELECT SUM(CASE WHEN email_key = {} THEN 1 ELSE 0 END) AS by_key,
       SUM(CASE WHEN ip = {} THEN 1 ELSE 0 END) AS by_ip
FROM login_failures
WHERE area = {} AND created_at > {} AND (email_key = {} OR ip = {})
"""


class Limit:
    """At most `per_key` attempts per key and `per_ip` per address in `window`. `message`: what
    Throttled says, marked with N_ (a Limit is made at import time) and translated when raised."""

    def __init__(
        self, area: str, window: timedelta, *, per_key: int | None, per_ip: int | None, message
    ) -> None:
        self.area = area
        self.window = window
        self.per_key = per_key
        self.per_ip = per_ip
        self.message = message

    async def take(self, key: str, ip: str) -> int:
        """Records an attempt and returns its id, or raises Throttled (recording nothing).
        Call it outside any transaction: the insert must be committed before the count."""
        now, key, ip = clock.now(), key[:254], ip[:45]
        rows = await LoginFailure.insert(
            LoginFailure(area=self.area, email_key=key, ip=ip, created_at=now)
        ).returning(LoginFailure.id)
        attempt_id = rows[0]["id"]
        rows = await LoginFailure.raw(_RECENT, key, ip, self.area, now - self.window, key, ip)
        by_key, by_ip = rows[0]["by_key"] or 0, rows[0]["by_ip"] or 0
        if (self.per_key is not None and by_key > self.per_key) or (
            self.per_ip is not None and by_ip > self.per_ip
        ):
            await self.release(attempt_id)
            raise Throttled(_(self.message), retry_after=math.ceil(self.window.total_seconds()))
        return attempt_id

    async def release(self, attempt_id: int) -> None:
        """An attempt that turned out not to count (it was refused for another reason)."""
        await LoginFailure.delete().where(LoginFailure.id == attempt_id)

    async def forget_earlier(self, key: str, attempt_id: int) -> None:
        """After a success: the key's attempts up to this one no longer count against it.
        Attempts still running beside it keep counting, so a burst stays within the limit."""
        await LoginFailure.delete().where(
            (LoginFailure.area == self.area)
            & (LoginFailure.email_key == key[:254])
            & (LoginFailure.id <= attempt_id)
        )

    async def sweep(self) -> int:
        """Deletes the rows that no longer count; returns how many."""
        rows = (
            await LoginFailure.delete()
            .where(
                (LoginFailure.area == self.area)
                & (LoginFailure.created_at <= clock.now() - self.window)
            )
            .returning(LoginFailure.id)
        )
        return len(rows)


REGISTRATION_LIMIT = Limit(
    "register",
    timedelta(hours=1),
    per_key=None,
    per_ip=10,
    message=N_("Too many accounts were registered from your network. Try again in an hour."),
)


async def registering(ip: str, register):
    """Runs `register()` (a new user, from the register forms) within REGISTRATION_LIMIT; a
    registration refused for another reason does not count."""
    attempt = await REGISTRATION_LIMIT.take("", ip)
    try:
        return await register()
    except Exception:
        await REGISTRATION_LIMIT.release(attempt)
        raise
