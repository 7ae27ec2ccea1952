"""An invite turns from Pending to Expired with no change in the database, only the passing of
time: this process looks every EXPIRY_CHECK seconds for invites whose expiry fell in the last
stretch and tells its own subscribers (every process does the same for its own); and it tells
the stream of changes (invite.expired, for webhooks), which only one process does per expiry.

The same look ends the grants whose Access until has come and sends the reminders that are due
(app.domain.access.services: each claimed once across processes), so an access ends within
EXPIRY_CHECK seconds of its time."""

import asyncio
import contextlib
import logging

from app.core import clock
from app.domain.access import services as access
from app.domain.invitations import services as invitations
from app.domain.live.broker import BROKER, INVITES, Broker, account

log = logging.getLogger("roster.live")

EXPIRY_CHECK = 15  # seconds


async def watch_expiry(stop: asyncio.Event, broker: Broker = BROKER, every: float = EXPIRY_CHECK):
    checked_until = clock.now()
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every)
        now = clock.now()
        try:
            accounts = await invitations.accounts_with_invites_expiring(checked_until, now)
        except Exception as exc:  # the database is away: the next look covers this stretch too
            log.warning("Live updates: could not look for expired invites: %s", exc)
            continue
        checked_until = now
        broker.publish(account(client_id, INVITES) for client_id in accounts)
        try:
            await invitations.announce_expired(now)
        except Exception as exc:  # told at the next look, as the update claims nothing yet
            log.warning("Could not tell the expired invites: %s", exc)
        try:
            await access.end_expired_access(now)
            await access.send_access_reminders(now)
        except Exception as exc:  # what is left is claimed at the next look
            log.warning("Could not end expired access or send its reminders: %s", exc)
