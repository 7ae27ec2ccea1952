"""Demo data for `roster demo` and `make run`: loaded once, skipped when already there."""

from app.core import clock
from app.core.validation import email_key
from app.domain.access import services as access
from app.domain.activity.services import SYSTEM, Actor
from app.domain.clients import services as clients
from app.domain.invitations import services as invitations
from app.domain.staff import services as admins
from app.domain.users import services as users
from app.schema.clients import Client
from app.schema.staff import Admin
from app.schema.users import User
from app.schema.verification import EmailVerification

ADMIN = ("admin@example.com", "admin-demo-2026", "Ada Admin", "full")
SUPPORT = ("support@example.com", "support-demo-2026", "Sam Support", "support")
OWNER_PASSWORD = "roster-demo-2026"
CLIENTS = [
    # owner email, first, last, company
    ("fiona@example.com", "Fiona", "Ritterling", "Client Test"),
    ("marco@example.com", "Marco", "Bianchi", "Bianchi Web Studio"),
    ("lena@example.com", "Lena", "Okafor", ""),
]


async def load_demo() -> list[tuple[str, str, str, str]]:
    for email, password, name, role in (ADMIN, SUPPORT):
        if not await Admin.exists().where(Admin.email_key == email):
            await admins.create_admin(
                email=email, password=password, name=name, role=role, actor=SYSTEM
            )
    ids = {}
    for email, first, last, company in CLIENTS:
        owner = await users.find_by_email(email)
        existing = (
            owner
            and await Client.select(Client.id)
            .where((Client.owner == owner["id"]) & (Client.company_name == company))
            .first()
        )
        ids[email] = (
            existing["id"]
            if existing
            else await clients.create_client(
                owner_email=email,
                owner_first=first,
                owner_last=last,
                owner_password=OWNER_PASSWORD,
                company=company,
                actor=SYSTEM,
            )
        )
    if await users.find_by_email("jo@example.com") is None:
        jo = await users.create_user(
            first_name="Jo",
            last_name="Walker",
            email="jo@example.com",
            password=OWNER_PASSWORD,
            actor=SYSTEM,
        )
        await access.grant_access(
            ids["fiona@example.com"], jo["id"], ["invoices", "tickets", "domains"], actor=SYSTEM
        )
        await access.grant_access(
            ids["marco@example.com"], jo["id"], ["products", "invoices"], actor=SYSTEM
        )
        marco = await users.find_by_email("marco@example.com")
        assert marco is not None  # an account's owner, made above
        await access.grant_access(
            ids["fiona@example.com"], marco["id"], ["profile", "contacts", "products"], actor=SYSTEM
        )
        fiona = await users.find_by_email("fiona@example.com")
        assert fiona is not None  # an account's owner, made above
        await invitations.invite(
            ids["fiona@example.com"],
            "useraccount@example.com",
            ["invoices", "quotes"],
            actor=Actor("user", fiona["id"], users.full_name(fiona)),
        )
    await _addresses_verified([email for email, *_ in CLIENTS] + ["jo@example.com"])
    return [
        ("admin", ADMIN[0], ADMIN[1], "Full Administrator at /admin/login"),
        ("admin", SUPPORT[0], SUPPORT[1], "Support Operator at /admin/login"),
        ("client", "fiona@example.com", OWNER_PASSWORD, "owner of Client Test"),
        (
            "client",
            "marco@example.com",
            OWNER_PASSWORD,
            "owner of Bianchi Web Studio, user of Client Test",
        ),
        ("client", "jo@example.com", OWNER_PASSWORD, "user of two accounts"),
    ]


async def _addresses_verified(emails: list[str]) -> None:
    """The demo people's addresses count as verified (nobody could open a link sent to them): a
    first look at Roster shows its pages, not a banner asking to verify on each of them."""
    keys = [email_key(email) for email in emails]
    people = User.select(User.id).where(User.email_key.is_in(keys))
    await EmailVerification.delete().where(EmailVerification.user.is_in(people))
    await User.update({User.email_verified_at: clock.now()}).where(
        User.email_key.is_in(keys) & User.email_verified_at.is_null()
    )
