"""Undo of Remove: the removal answers with a signed token that names exactly the grant that
went (account, user, keys, its end), who removed it and until when it may come back. Only that
person, within UNDO_SECONDS, can restore it, and only as it was."""

import base64
import hashlib
import hmac
from datetime import datetime, timedelta

import msgspec

from app.core import clock
from app.core.config import get_settings
from app.core.errors import DomainError
from app.core.i18n import N_, _
from app.domain.activity.services import Actor

UNDO_SECONDS = 30  # the message offers Undo for 10 s; the server allows for a slow answer


class Removal(msgspec.Struct, frozen=True):
    client_id: int
    user_id: int
    keys: tuple[str, ...]
    actor: str  # "<kind>:<id>" of whoever removed it
    until: float  # POSIX seconds
    access_until: float | None = None  # the grant's own end (POSIX seconds), if it had one


UNDO_EXPIRED = N_("Undo is no longer possible: give the access again instead.")


def _actor_key(actor: Actor) -> str:
    return f"{actor.kind}:{actor.id}"


def _signature(payload: bytes) -> str:
    key = get_settings().secret_key.encode()
    digest = hmac.new(key, b"undo-removal:" + payload, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def removal_token(
    client_id: int, user_id: int, keys, *, actor: Actor, access_until: datetime | None = None
) -> str:
    until = (clock.now() + timedelta(seconds=UNDO_SECONDS)).timestamp()
    ends = access_until.timestamp() if access_until is not None else None
    removal = Removal(client_id, user_id, tuple(keys), _actor_key(actor), until, ends)
    payload = base64.urlsafe_b64encode(msgspec.json.encode(removal)).decode().rstrip("=")
    return f"{payload}.{_signature(payload.encode())}"


def read_removal_token(token: str, *, client_id: int, actor: Actor) -> Removal:
    """The removal a token names, if it is genuine, for this account and person, and in time."""
    payload, _dot, signature = token.partition(".")
    if not payload or not hmac.compare_digest(signature, _signature(payload.encode())):
        raise DomainError(_(UNDO_EXPIRED))
    try:
        padded = payload + "=" * (-len(payload) % 4)
        removal = msgspec.json.decode(base64.urlsafe_b64decode(padded), type=Removal)
    except (ValueError, msgspec.DecodeError) as exc:
        raise DomainError(_(UNDO_EXPIRED)) from exc
    if (
        removal.client_id != client_id
        or removal.actor != _actor_key(actor)
        or removal.until < clock.now().timestamp()
    ):
        raise DomainError(_(UNDO_EXPIRED))
    return removal
