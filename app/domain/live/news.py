"""Telling the live pages that something changed. Called inside the change's transaction: the
news leaves only if the change commits, and only after it has (another process told of a change
must be able to read it).

On PostgreSQL the news goes through `NOTIFY` (transactional by nature) to every process that
listens (app.domain.live.listener), this one included; on SQLite, which is served by one process,
straight to this process's broker once the transaction has committed."""

from piccolo.querystring import QueryString

from app.core import db
from app.domain.live.broker import BROKER

CHANNEL = "roster_live"
PAYLOAD_MAX = 7_000  # characters (ASCII): under PostgreSQL's 8,000-byte NOTIFY payload


async def changed(*news: str) -> None:
    """`news`: items as app.domain.live.broker makes them (`account(5, INVITES)`, `MAIL`...), each
    possibly several separated by spaces; empty ones are ignored."""
    items = tuple(dict.fromkeys(" ".join(news).split()))
    if not items:
        return
    if db.is_sqlite():
        db.after_commit(lambda: BROKER.publish(items))
        return
    for payload in _payloads(items):
        await db.DB.run_querystring(QueryString("SELECT pg_notify({}, {})", CHANNEL, payload))


def _payloads(items: tuple[str, ...]) -> list[str]:
    """The items in as few NOTIFY payloads as fit PostgreSQL's limit (8,000 bytes each)."""
    payloads, current = [], ""
    for item in items:
        if current and len(current) + 1 + len(item) > PAYLOAD_MAX:
            payloads.append(current)
            current = ""
        current = f"{current} {item}" if current else item
    return [*payloads, current]
