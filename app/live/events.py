"""Telling the live pages that something changed. Called inside the change's transaction: the
news leaves only if the change commits, and only after it has (another process told of a change
must be able to read it).

On PostgreSQL the news goes through `NOTIFY` (transactional by nature) to every process that
listens (app/live/listener.py), this one included; on SQLite, which is served by one process,
straight to this process's broker once the transaction has committed."""

from piccolo.querystring import QueryString

from app import db
from app.live.broker import BROKER
from piccolo_conf import DB

CHANNEL = "roster_live"


async def changed(*topics: str) -> None:
    topics = tuple(dict.fromkeys(t for t in topics if t))
    if not topics:
        return
    if db.is_sqlite():
        db.after_commit(lambda: BROKER.publish(topics))
    else:
        await DB.run_querystring(QueryString("SELECT pg_notify({}, {})", CHANNEL, " ".join(topics)))
