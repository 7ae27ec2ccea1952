"""What the soak asks of the app itself, run in a child process whose ROSTER_DATABASE_URL names the
soak's database (Piccolo binds its engine when app modules are imported, so the soak's own
process never imports them):

    python -m soak.dbtasks seed '{"accounts": 10, "members": 3, "staff": 20, "decoys": 10, ...}'
    python -m soak.dbtasks check

Each prints one JSON document on stdout."""

import asyncio
import functools
import json
import random
import sys


async def seed(plan: dict) -> dict:
    """Staff, accounts with their owners and a few members, and users without any account (the
    targets of wrong passwords), all through the services and with one password."""
    from app.core import permissions
    from app.domain.access.services import grant_access
    from app.domain.activity.services import SYSTEM
    from app.domain.clients.services import create_client
    from app.domain.staff import services as admin_services
    from app.domain.users import services as user_services

    # Every seeded user has the same password: hash it once (argon2 is slow on purpose).
    for module in (user_services, admin_services):
        module.hash_password = functools.cache(module.hash_password)

    rng = random.Random(plan["seed"])
    password = plan["password"]
    staff = []
    for n in range(plan["staff"]):
        email = f"staff{n + 1}@soak.test"
        await admin_services.create_admin(
            email=email, password=password, name=f"Staff {n + 1}", role="full", actor=SYSTEM
        )
        staff.append(email)

    async def user(first: str, last: str, email: str) -> dict:
        return await user_services.create_user(
            first_name=first, last_name=last, email=email, password=password, actor=SYSTEM
        )

    accounts = []
    for a in range(1, plan["accounts"] + 1):
        owner = await user("Owner", f"Number{a}", f"owner{a}@soak.test")
        client_id = await create_client(
            owner_email=owner["email"],
            owner_first=owner["first_name"],
            owner_last=owner["last_name"],
            company=f"Soak Company {a}",
            actor=SYSTEM,
        )
        for m in range(1, plan["members"] + 1):
            member = await user("Member", f"Number{a}x{m}", f"member{a}x{m}@soak.test")
            keys = rng.sample(permissions.ALL_KEYS, rng.randint(1, 4))
            await grant_access(client_id, member["id"], keys, actor=SYSTEM)
        accounts.append(client_id)
    decoys = []
    for d in range(1, plan["decoys"] + 1):
        decoys.append((await user("Decoy", f"Number{d}", f"decoy{d}@soak.test"))["email"])
    return {"staff": staff, "accounts": accounts, "decoys": decoys}


async def check() -> dict:
    from app.schema.invariants import violations

    return {"violations": await violations()}


async def main(task: str, argument: str | None) -> dict:
    from app.core import db

    await db.start()
    try:
        if task == "seed":
            return await seed(json.loads(argument or "{}"))
        if task == "check":
            return await check()
        raise SystemExit(f"unknown task {task!r}: seed or check")
    finally:
        await db.stop()


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(sys.argv[1], (sys.argv[2:] or [None])[0]))))
