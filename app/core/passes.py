"""A background worker's loop (the mail worker, the webhook sender): a pass over what is due,
then a wait for a wake-up, the interval or the stop. A pass that fails is logged and the next
one tries again; while the database is away, that is one line a pass, not a traceback."""

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from app.core.dberrors import is_database_unavailable


async def run_in_passes(
    name: str,
    one_pass: Callable[[], Awaitable[object]],
    *,
    wake: asyncio.Event,
    stop: asyncio.Event,
    interval: float,
    log: logging.Logger,
) -> None:
    """Runs `one_pass` until `stop` is set (checked between passes), again at once after
    `wake` is set, else every `interval` seconds."""
    log.info("%s started", name)
    while not stop.is_set():
        wake.clear()
        try:
            await one_pass()
        except Exception as exc:
            if is_database_unavailable(exc):
                log.warning("%s: database unavailable, retrying: %s", name, exc)
            else:
                log.exception("%s pass failed; retrying", name)
        waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(wake.wait())]
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED), interval
                )
        finally:
            for waiter in waiters:
                waiter.cancel()
    log.info("%s stopped", name)
