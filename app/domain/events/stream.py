"""The one stream of changes. A service says what happened with `emit`, inside the change's
transaction; every consumer takes it from there:

- the activity log: its entry, in the same transaction (the event's ACTION);
- live pages: news of what to fetch again, leaving only when the transaction commits
  (app.domain.live.news: NOTIFY on PostgreSQL, after commit on SQLite);
- in-process listeners (`listen`): each event once the transaction has committed, never for one
  that rolled back;
- webhooks: a delivery for every enabled endpoint subscribed to the event's type, in the same
  transaction (app.domain.webhook_queue), sent once it commits (app.domain.webhooks).

An event's name, version and payload are its contract (app.domain.events.catalog)."""

from collections.abc import Callable

import msgspec

from app.core import db
from app.domain.activity.services import SYSTEM, Actor, write_entries
from app.domain.events.catalog import Event
from app.domain.live import broker as live
from app.domain.live.news import changed
from app.domain.webhook_queue.records import queue_many_for_subscribers
from app.schema.clients import Client
from app.schema.grants import Grant

Listener = Callable[[Event, Actor], None]
_LISTENERS: list[Listener] = []


def listen(listener: Listener) -> Callable[[], None]:
    """Calls `listener(event, actor)` for every event after its transaction commits; returns
    the function that stops it."""
    _LISTENERS.append(listener)
    return lambda: _LISTENERS.remove(listener)


async def emit(event: Event, *, actor: Actor = SYSTEM, description: str = "") -> None:
    """Records `event`, done by `actor`. `description`: the activity log's human text (needed
    when the event has an ACTION)."""
    await emit_all([(event, description)], actor=actor)


async def emit_all(events: list[tuple[Event, str]], *, actor: Actor = SYSTEM) -> None:
    """`emit` for many events by one actor at once, each (event, description), in order: what
    every consumer takes is the same, written in a few statements instead of a few per event
    (a bulk invite's five hundred invitations)."""
    entries = [
        (action, description, event.account, event.person)
        for event, description in events
        if (action := event.activity_action()) is not None
    ]
    if entries:
        await write_entries(actor, entries)
    news: list[str] = []
    for event, _ in events:
        news += await _news(event)
    await changed(*news)
    by_type: dict[tuple[str, int], list[dict]] = {}
    for event, _ in events:
        if event.WEBHOOK:
            by_type.setdefault((event.NAME, event.VERSION), []).append(msgspec.to_builtins(event))
    for (name, version), datas in by_type.items():
        await queue_many_for_subscribers(name, version, datas)
    if _LISTENERS:
        for event, _ in events:
            db.after_commit(lambda event=event: _tell_listeners(event, actor))


def _tell_listeners(event: Event, actor: Actor) -> None:
    for listener in list(_LISTENERS):
        listener(event, actor)


async def _news(event: Event) -> list[str]:
    """What the live pages must fetch again after `event` (as app.domain.live.broker names it)."""
    news = []
    if event.account is not None and event.SHOWS:
        news.append(live.account(event.account, *event.SHOWS))
    if event.IN_EVERY_ACCOUNT and event.person is not None:
        reached = await Grant.select(Grant.client).where(Grant.user == event.person)
        news += [live.account(row["client"], live.PEOPLE) for row in reached]
    if event.OWNER_LISTED and await Client.exists().where(Client.owner == event.person):
        news.append(live.CLIENTS)
    if event.LISTED:
        news.append(live.CLIENTS)
    if event.OUTBOX:
        news.append(live.MAIL)
    return news
