"""This process's live-update subscribers, by topic. News names where something changed and what
kind of thing, never what it now holds: `account:<id>#people` (its users and their
permissions), `account:<id>#invites`, `account:<id>#account` (its name, status, owner),
`clients` (the list of accounts) and `mail` (the outbox). Each browser that hears of a change
fetches its own fragment again with its own session, so news can never show anyone what they may
not see.

A subscriber collects the kinds it was told of until it takes them: news that comes while it is
busy sending folds into its next message."""

import asyncio
from collections import defaultdict
from collections.abc import Iterable

CLIENTS = "clients"
MAIL = "mail"


PEOPLE, INVITES, ACCOUNT = "people", "invites", "account"
EVERYTHING = "all"  # a page re-fetches every region it has


def account(client_id: int, *kinds: str) -> str:
    """The topic of one account (to subscribe to), or news of it (`kinds`: what changed)."""
    topic = f"account:{client_id}"
    return " ".join(f"{topic}#{kind}" for kind in kinds) if kinds else topic


def parse(news: str) -> tuple[str, str]:
    """("account:5", "invites") from "account:5#invites"; ("mail", "mail") from "mail"."""
    topic, _, kind = news.partition("#")
    return topic, kind or topic


class Subscription:
    def __init__(self, broker: "Broker", topic: str) -> None:
        self.topic = topic
        self._broker = broker
        self._changed = asyncio.Event()
        self._kinds: set[str] = set()
        self.closed = False

    def notify(self, kind: str) -> None:
        self._kinds.add(kind)
        self._changed.set()

    def close(self) -> None:
        self.closed = True
        self._changed.set()

    async def wait(self, seconds: float) -> set[str] | None:
        """The kinds of change told since the last wait (empty when the subscription was
        closed), or None when nothing came within `seconds`."""
        try:
            await asyncio.wait_for(self._changed.wait(), seconds)
        except TimeoutError:
            return None
        return self.take()

    def take(self) -> set[str]:
        """The kinds of change told since the last wait, without waiting."""
        self._changed.clear()
        kinds, self._kinds = self._kinds, set()
        return kinds

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

    def publish(self, news: Iterable[str]) -> None:
        """Tells the subscribers of each item's topic (items as `parse` reads them)."""
        for item in news:
            topic, kind = parse(item)
            for subscription in self._by_topic.get(topic, ()):
                subscription.notify(kind)

    def publish_all(self) -> None:
        """Everything may have changed: after the cross-process channel was lost for a while."""
        for subscribers in self._by_topic.values():
            for subscription in subscribers:
                subscription.notify(EVERYTHING)

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
