"""app.core.db.FairPool: connections handed out in the order they were asked for, even
when the pool beneath lets a newcomer take a connection given back for a waiter, as asyncpg's
queue does (asyncio.Queue: the woken waiter finds it gone and goes to the back)."""

import asyncio

import pytest

from app.core.db import FairPool


class BargingPool:
    """asyncpg's pool, as far as order goes: an asyncio LIFO queue of connections."""

    def __init__(self, size: int) -> None:
        self.queue = asyncio.LifoQueue()
        for n in range(size):
            self.queue.put_nowait(f"connection {n}")

    async def acquire(self):
        return await self.queue.get()

    async def release(self, connection) -> None:
        self.queue.put_nowait(connection)

    async def close(self) -> None:
        pass


async def order_served(pool) -> list[str]:
    """A holds the only connection and B waits for it; C asks just before A gives it back (its
    first step runs between the give-back and B's wake-up, as a new request's often does)."""
    served = []

    async def ask(name):
        connection = await pool.acquire()
        served.append(name)
        await asyncio.sleep(0.01)
        await pool.release(connection)

    a = await pool.acquire()
    b = asyncio.create_task(ask("B"))
    await asyncio.sleep(0.01)  # B is waiting
    c = asyncio.create_task(ask("C"))
    await pool.release(a)
    await asyncio.gather(b, c)
    return served


async def test_the_pool_beneath_lets_a_newcomer_go_first():
    assert await order_served(BargingPool(1)) == ["C", "B"]


async def test_connections_go_in_the_order_asked():
    assert await order_served(FairPool(BargingPool(1), 1)) == ["B", "C"]


async def test_as_a_context_and_awaited_each_connection_is_given_back():
    pool = FairPool(BargingPool(2), 2)
    async with pool.acquire() as first:
        second = await pool.acquire()
        assert {first, second} == {"connection 0", "connection 1"}
        assert pool.turns.locked()
        await pool.release(second)
    assert not pool.turns.locked() and pool.pool.queue.qsize() == 2


async def test_a_failed_acquire_gives_its_turn_back():
    class Refusing(BargingPool):
        async def acquire(self):
            raise ConnectionRefusedError

    pool = FairPool(Refusing(1), 1)
    for _ in range(3):
        with pytest.raises(ConnectionRefusedError):
            await pool.acquire()
    assert not pool.turns.locked()
