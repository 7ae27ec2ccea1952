"""Writes that must finish even when the task making them is cancelled (a worker stopping)."""

import asyncio


async def uninterrupted(coro):
    """Runs `coro` (a write that settles a piece of work) to its end even when the caller is
    cancelled meanwhile; returns its result and whether a cancellation arrived, for the caller
    to re-raise once the work is settled. Only a cancellation of the write itself (the event
    loop closing) cuts it short."""
    task = asyncio.ensure_future(coro)
    cancelled = False
    while not task.done():
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            if task.cancelled():
                raise
            cancelled = True
    return task.result(), cancelled
