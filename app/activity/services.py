"""The activity log: every change writes one entry, inside the change's transaction."""

import msgspec

from app import clock
from app.activity.tables import ActivityEntry


class Actor(msgspec.Struct, frozen=True):
    """Who makes a change: an admin, a client user, or the system (CLI, worker)."""

    kind: str  # admin | user | system
    id: int | None = None
    name: str = "System"
    ip: str = ""


SYSTEM = Actor("system")


async def record(actor: Actor, action: str, description: str, *,
                 client_id: int | None = None, user_id: int | None = None) -> None:
    await ActivityEntry.insert(
        ActivityEntry(
            created_at=clock.now(),
            actor_type=actor.kind,
            actor_id=actor.id,
            actor_name=actor.name,
            client_id=client_id,
            user_id=user_id,
            action=action,
            description=description,
            ip=actor.ip,
        )
    )


async def entries(*, client_id: int | None = None, user_id: int | None = None,
                  limit: int = 50, offset: int = 0) -> list[dict]:
    query = ActivityEntry.select().order_by(ActivityEntry.id, ascending=False)
    if client_id is not None:
        query = query.where(ActivityEntry.client_id == client_id)
    if user_id is not None:
        query = query.where(ActivityEntry.user_id == user_id)
    return await query.limit(limit).offset(offset)
