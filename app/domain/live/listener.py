"""PostgreSQL's side of live updates: one connection per process that LISTENs on the channel
app.domain.live.news notifies, and hands what it hears to this process's broker. When that
connection is lost, it is opened again (with backoff), and every subscriber is told that
everything may have changed: what was said while nobody listened is not lost, only folded into
one re-fetch."""

import asyncio
import contextlib
import logging

import asyncpg

from app.domain.live.broker import BROKER, Broker
from app.domain.live.news import CHANNEL

log = logging.getLogger("roster.live")

RETRY_DELAYS = [0.5, 1, 2, 5, 10]
CHECK_EVERY = 10  # seconds: a lost connection is noticed within this
APPLICATION_NAME = "roster-live"  # how pg_stat_activity names the listening connections


async def listen(dsn: str, stop: asyncio.Event, broker: Broker = BROKER) -> None:
    """Until `stop` is set."""
    failures = 0
    while not stop.is_set():
        connection = None
        lost = asyncio.Event()
        try:
            connection = await asyncpg.connect(
                dsn, timeout=10, server_settings={"application_name": APPLICATION_NAME}
            )
            connection.add_termination_listener(lambda _c, lost=lost: lost.set())
            await connection.add_listener(
                CHANNEL, lambda _c, _pid, _channel, payload: broker.publish(payload.split())
            )
            if failures:
                log.info("Live updates: listening again")
                broker.publish_all()
            failures = 0
            while not (stop.is_set() or lost.is_set()):
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(_first(stop, lost), CHECK_EVERY)
                if not (stop.is_set() or lost.is_set()):
                    await connection.execute("SELECT 1")  # a dead connection fails here
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
            failures += 1
            log.warning("Live updates: the database connection was lost (%s); retrying", exc)
        finally:
            if connection is not None and not connection.is_closed():
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(connection.close(), 5)
        if not stop.is_set() and failures:
            delay = RETRY_DELAYS[min(failures, len(RETRY_DELAYS)) - 1]
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
        elif lost.is_set():
            failures = 1


async def _first(*events: asyncio.Event) -> None:
    waiters = [asyncio.ensure_future(e.wait()) for e in events]
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
