"""The live-update broker: who hears what and which kinds, news folded while a stream is busy,
the end of every stream when the process stops."""

import asyncio

from app.domain.live.broker import (
    CLIENTS,
    EVERYTHING,
    INVITES,
    MAIL,
    PEOPLE,
    Broker,
    account,
    parse,
)


def test_news_names_where_and_what():
    assert account(5) == "account:5"
    assert account(5, INVITES, PEOPLE) == "account:5#invites account:5#people"
    assert parse("account:5#invites") == ("account:5", "invites")
    assert parse(MAIL) == (MAIL, MAIL)


async def test_a_subscriber_hears_only_its_topic_with_the_kinds_told():
    broker = Broker()
    with broker.subscribe(account(1)) as one, broker.subscribe(account(2)) as two:
        broker.publish([*account(1, INVITES).split(), CLIENTS])
        assert await one.wait(0.1) == {INVITES}
        assert await two.wait(0.05) is None


async def test_news_that_comes_while_busy_is_folded_into_one():
    broker = Broker()
    with broker.subscribe(account(3)) as three:
        for news in (account(3, PEOPLE), account(3, INVITES), account(3, PEOPLE)):
            broker.publish([news])
        assert await three.wait(0.1) == {PEOPLE, INVITES}
        assert await three.wait(0.05) is None  # three publications, one wake-up


async def test_news_told_while_a_stream_pauses_is_taken_without_waiting():
    broker = Broker()
    with broker.subscribe(account(4)) as four:
        assert four.take() == set()
        broker.publish([account(4, INVITES)])
        assert four.take() == {INVITES}
        assert await four.wait(0.05) is None  # taken: no wake-up left behind


async def test_a_closed_subscription_is_forgotten():
    broker = Broker()
    with broker.subscribe(CLIENTS):
        assert broker.count() == 1
    assert broker.count() == 0
    broker.publish([CLIENTS])  # nobody left: nothing to do, nothing fails


async def test_stopping_wakes_and_closes_every_subscription_and_refuses_new_ones():
    broker = Broker()
    with broker.subscribe(account(7)) as seven:
        waiting = asyncio.create_task(seven.wait(5))
        await asyncio.sleep(0)
        broker.close_all()
        assert await waiting == set()
        assert seven.closed
        with broker.subscribe(CLIENTS) as late:
            assert late.closed
    broker.open()
    with broker.subscribe(CLIENTS) as fresh:
        assert not fresh.closed


async def test_after_a_lost_channel_everyone_is_told_everything():
    broker = Broker()
    with broker.subscribe(account(1)) as one, broker.subscribe(MAIL) as mail:
        broker.publish_all()
        assert await one.wait(0.1) == {EVERYTHING}
        assert await mail.wait(0.1) == {EVERYTHING}


def test_notify_payloads_stay_under_postgresqls_limit():
    from app.domain.live.news import PAYLOAD_MAX, _payloads

    items = tuple(account(n, PEOPLE) for n in range(1, 2_000))  # a user in 2,000 accounts
    payloads = _payloads(items)
    assert len(payloads) > 1
    assert all(len(p.encode()) <= PAYLOAD_MAX for p in payloads)
    assert " ".join(payloads).split() == list(items)
