"""Small builders for tests: real service calls, so rules apply as in production."""

import itertools

from app.domain.activity.services import Actor

ADMIN = Actor("admin", None, "Ada Admin", "127.0.0.1")  # staff, without an admin row
PASSWORD = "correct-horse-battery-9"
_seq = itertools.count(1)


def unique_email(prefix: str = "user") -> str:
    return f"{prefix}{next(_seq)}@example.com"


async def make_user(
    first: str = "Una", last: str = "User", email: str | None = None, password: str = PASSWORD
) -> dict:
    from app.domain.users.services import create_user

    return await create_user(
        first_name=first,
        last_name=last,
        email=email or unique_email(),
        password=password,
        actor=ADMIN,
    )


async def make_client(
    company: str = "Acme Hosting", owner_email: str | None = None, password: str = PASSWORD
) -> tuple[int, dict]:
    """A client account and its owner user."""
    from app.domain.clients.services import create_client
    from app.domain.users.services import find_by_email

    email = owner_email or unique_email("owner")
    client_id = await create_client(
        owner_email=email,
        owner_first="Olivia",
        owner_last="Owner",
        owner_password=password,
        company=company,
        actor=ADMIN,
    )
    return client_id, await find_by_email(email)


def user_actor(user: dict) -> Actor:
    return Actor("user", user["id"], f"{user['first_name']} {user['last_name']}", "127.0.0.1")
