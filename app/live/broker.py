"""This process's live-update subscribers, by topic. A topic names what changed and where, never
what it now holds: `account:<id>` (the people and invites of one account), `clients` (the list
of accounts) and `mail` (the outbox). Each browser that hears of a change fetches its own
fragment again with its own session, so a topic can never show anyone what they may not see.

A subscriber is one flag: changes that come while it is busy sending fold into one."""

import asyncio
from collections import defaultdict
from collections.abc import Iterable

CLIENTS = "clients"
MAIL = "mail"


def account(client_id: int) -> str:
    return f"account:{client_id}"


class Subscription:
    def __init__(self, broker: "Broker", topic: str) -> None:
        self.topic = topic
        self._broker = broker
        self._changed = asyncio.Event()
        self.closed = False

    def notify(self) -> None:
        self._changed.set()

    def close(self) -> None:
        self.closed = True
        self._changed.set()

    async def wait(self, seconds: float) -> bool:
        """Whether something changed (or the subscription was closed) within `seconds`."""
        try:
            await asyncio.wait_for(self._changed.wait(), seconds)
        except TimeoutError:
            return False
        self._changed.clear()
        return True

    def __enter__(self) -> "Subscription":
        return self

    def __exit__(self, *_exc) -> None:
        self._broker._remove(self)


class Broker:
    def __init__(self) -> None:
        self._by_topic: dict[str, set[Subscription]] = defaultdict(set)
        self.draining = False

    def subscribe(self, topic: str) -> Subscription:
        subscription = Subscription(self, topic)
        if self.draining:
            subscription.close()
        self._by_topic[topic].add(subscription)
        return subscription

    def _remove(self, subscription: Subscription) -> None:
        subscribers = self._by_topic.get(subscription.topic)
        if subscribers is not None:
            subscribers.discard(subscription)
            if not subscribers:
                del self._by_topic[subscription.topic]

    def publish(self, topics: Iterable[str]) -> None:
        for topic in topics:
            for subscription in self._by_topic.get(topic, ()):
                subscription.notify()

    def publish_all(self) -> None:
        """Everything may have changed: after the cross-process channel was lost for a while."""
        self.publish(list(self._by_topic))

    def open(self) -> None:
        """Serving (again, in a test process that starts several apps)."""
        self.draining = False

    def close_all(self) -> None:
        """The process is stopping: every stream ends (browsers reconnect to another process)."""
        self.draining = True
        for subscribers in self._by_topic.values():
            for subscription in subscribers:
                subscription.close()

    def count(self) -> int:
        return sum(len(s) for s in self._by_topic.values())


BROKER = Broker()
