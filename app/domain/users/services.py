"""Users: one person, one login."""

from collections.abc import Awaitable, Callable
from typing import TypeVar

from piccolo.columns.combination import WhereRaw
from piccolo.query.functions.aggregate import Count

from app.core import clock, db, i18n, stale
from app.core.dberrors import is_foreign_key_violation, is_unique_violation
from app.core.errors import DomainError, NotFound
from app.core.i18n import _
from app.core.names import full_name
from app.core.security import check_new_password, hash_password, in_hashing_pool
from app.core.validation import clean_email, clean_name, clean_page, email_key
from app.domain.activity.services import Actor
from app.domain.events.catalog import (
    UserCreated,
    UserDeleted,
    UserPasswordChanged,
    UserSignedIn,
    UserUpdated,
)
from app.domain.events.stream import emit
from app.domain.throttle import registering
from app.domain.users import search
from app.domain.users.search import matching
from app.domain.verification import services as verification
from app.schema.grants import Grant
from app.schema.invitations import Invitation
from app.schema.sessions import PasswordReset, Session
from app.schema.users import User, key_values, user_keys

# The languages a user may have, as WHMCS names them: those Roster is written in
# (app.core.i18n.LANGUAGES) and others WHMCS has, kept as given and shown in English.
LANGUAGES = (
    "english",
    "german",
    "french",
    "spanish",
    "portuguese-br",
    "arabic",
    "portuguese",
    "italian",
    "dutch",
)
# What staff edit of a user (Manage Users' Profile, the API's PATCH): the fields of its version.
USER_FIELDS = ("first_name", "last_name", "email", "language")


async def close_invitations_of(user: dict, client_ids: list[int]) -> None:
    """Someone who has access needs no invitation: their open invites to these accounts are
    cancelled. Call it inside the change's transaction, the accounts locked."""
    if client_ids:
        await Invitation.update({Invitation.cancelled_at: clock.now()}).where(
            (Invitation.email_key == user["email_key"])
            & Invitation.client.is_in(client_ids)
            & Invitation.accepted_at.is_null()
            & Invitation.cancelled_at.is_null()
        )


async def set_language(
    user_id: int, language: str, *, actor: Actor, time_zone: str | None | bool = False
) -> None:
    """The user's own choice of language (the language menu, Security): their pages and the
    emails to them; and, when given (None: as their browser says), of the time zone of the dates
    they read. Nothing written when it is the same."""
    if language not in LANGUAGES:
        raise DomainError(_("Choose a language from the list."), "language")
    values: dict = {User.language: language}
    if time_zone is not False:
        values[User.time_zone] = i18n.clean_zone(time_zone if isinstance(time_zone, str) else None)
    async with db.transaction():
        before = await get_user(user_id, lock="NO KEY UPDATE")
        fields = tuple(
            column._meta.name
            for column, value in values.items()
            if before[column._meta.name] != value
        )
        if fields:
            await User.update(values).where(User.id == user_id)
            await emit(
                UserUpdated(user_id=user_id, fields=fields),
                actor=actor,
                description=f"Language changed to {language}"
                if fields == ("language",)
                else f"Language and time zone set to {language}, "
                f"{values.get(User.time_zone) or 'as the browser says'}",
            )


async def get_user(user_id: int, *, lock: bool | str = False, keep: bool = False) -> dict:
    """The user. Inside a transaction, `lock` locks the row for a change to it (a string: that
    strength of lock); `keep` only stops it being deleted until the commit (for a grant about to
    point at it)."""
    if not db.valid_id(user_id):
        raise NotFound(_("No such user."))
    query = User.select().where(User.id == user_id)
    if lock or keep:
        strength = lock if isinstance(lock, str) else "UPDATE" if lock else "KEY SHARE"
        query = db.locked(query, strength)
    row = await query.first()
    if row is None:
        raise NotFound(_("No such user."))
    return row


async def find_by_email(email: str) -> dict | None:
    return await User.select().where(User.email_key == email_key(email)).first()


async def new_password_hash(password: str, user_inputs: list[str], *, check: bool = True) -> str:
    """Checks a new password's strength and hashes it, both off the event loop: argon2 takes
    about half a second of CPU on purpose, and the server must answer others meanwhile."""

    def checked_hash() -> str:
        if check:
            check_new_password(password, user_inputs)
        return hash_password(password)

    return await in_hashing_pool(checked_hash)


async def create_user(
    *,
    first_name: str,
    last_name: str,
    email: str,
    password: str | None,
    actor: Actor,
    language: str = "english",
    client_id: int | None = None,
    check_password: bool = True,
    password_hash: str | None = None,
) -> dict:
    """A new user. Without a password the user cannot log in until a reset sets one. Inside a
    transaction, pass `password_hash` (from new_password_hash, before the transaction began)
    rather than `password`, so that no lock waits on argon2."""
    first = clean_name(first_name, "First name", "first_name")
    last = clean_name(last_name, "Last name", "last_name")
    email, key = clean_email(email)
    if language not in LANGUAGES:
        raise DomainError(_("Choose a language from the list."), "language")
    if password_hash is None:
        password_hash = ""
        if password:
            password_hash = await new_password_hash(
                password, [first, last, email], check=check_password
            )
    now = clock.now()
    try:
        async with db.transaction():
            if await User.exists().where(User.email_key == key):
                raise DomainError(_("A user with this email address already exists."), "email")
            rows = await User.insert(
                User(
                    first_name=first,
                    last_name=last,
                    email=email,
                    email_key=key,
                    **user_keys(first, last, key),
                    password_hash=password_hash,
                    language=language,
                    created_at=now,
                )
            ).returning(*User.all_columns())
            user = rows[0]
            await emit(
                UserCreated(user_id=user["id"], client_id=client_id),
                actor=actor,
                description=f"Created user {first} {last} <{email}>",
            )
    except Exception as exc:
        if is_unique_violation(exc):
            raise DomainError(_("A user with this email address already exists."), "email") from exc
        raise
    return user


T = TypeVar("T")  # what register_user's `then` returns


async def register_user(
    *,
    first_name: str,
    last_name: str,
    email: str,
    password: str,
    ip: str,
    then: Callable[[dict], Awaitable[T]],
) -> tuple[dict, T]:
    """Someone signing up on a register form: within the registration limit, the password
    hashed before the transaction (no lock waits on argon2), and `then(user)` (their account,
    or the invitation they accept) in the same transaction: both or neither. Returns the user
    and what `then` returned."""

    async def register() -> tuple[dict, T]:
        inputs = [first_name, last_name, email]
        password_hash = await new_password_hash(password or "", inputs)
        async with db.transaction():
            actor = Actor("system", ip=ip)
            user = await create_user(
                first_name=first_name,
                last_name=last_name,
                email=email,
                password=None,
                password_hash=password_hash,
                actor=actor,
            )
            await verification.send_link(user, actor=actor)
            return user, await then(user)

    return await registering(ip, register)


async def update_user(
    user_id: int,
    *,
    first_name: str,
    last_name: str,
    email: str,
    language: str,
    actor: Actor,
    opened: stale.Opened | None = None,
) -> dict:
    """`opened`: the USER_FIELDS the change was prepared on (or their app.core.stale.version);
    when they are others now, nothing is saved (app.core.stale.Stale)."""
    first = clean_name(first_name, "First name", "first_name")
    last = clean_name(last_name, "Last name", "last_name")
    email, key = clean_email(email)
    if language not in LANGUAGES:
        raise DomainError(_("Choose a language from the list."), "language")
    try:
        async with db.transaction():
            # Locked from the compare to the write as the UPDATE below locks it: a grant given to
            # the user meanwhile (KEY SHARE) need not wait, as before.
            before = await get_user(user_id, lock="NO KEY UPDATE")
            stale.check(
                opened,
                {k: before[k] for k in USER_FIELDS},
                {"first_name": first, "last_name": last, "email": email, "language": language},
            )
            clash = await User.exists().where((User.email_key == key) & (User.id != user_id))
            if clash:
                raise DomainError(_("Another user already has this email address."), "email")
            await User.update(
                {
                    User.first_name: first,
                    User.last_name: last,
                    User.email: email,
                    User.email_key: key,
                    **key_values(first, last, key),
                    User.language: language,
                }
            ).where(User.id == user_id)
            changed = [
                (col, f"{label}: {before[col]!r} -> {new!r}")
                for label, col, new in (
                    ("first name", "first_name", first),
                    ("last name", "last_name", last),
                    ("email", "email", email),
                    ("language", "language", language),
                )
                if before[col] != new
            ]
            if changed:
                reached = [
                    g["client"]
                    for g in await Grant.select(Grant.client).where(Grant.user == user_id)
                ]
                if key != before["email_key"]:
                    # Invitations to the new address, in accounts the user already reaches, are
                    # moot.
                    await close_invitations_of({**before, "email_key": key}, reached)
                    after = {**before, "first_name": first, "last_name": last}
                    await verification.address_changed(
                        before, {**after, "email": email, "email_key": key}, actor=actor
                    )
                await emit(
                    UserUpdated(user_id=user_id, fields=tuple(col for col, _change in changed)),
                    actor=actor,
                    description=f"Updated user {full_name(before)}: "
                    + "; ".join(change for _col, change in changed),
                )
    except Exception as exc:
        if is_unique_violation(exc):
            raise DomainError(_("Another user already has this email address."), "email") from exc
        raise
    return await get_user(user_id)


async def change_email(user_id: int, new_email: str, *, actor: Actor) -> dict:
    """A user's own Change Email Address (the caller has checked their password): update_user
    with the new address alone, so verification and the old address's notice follow."""
    user = await get_user(user_id)
    email, key = clean_email(new_email)
    if key == user["email_key"]:
        raise DomainError(_("This is already your email address."), "email")
    return await update_user(
        user_id,
        first_name=user["first_name"],
        last_name=user["last_name"],
        email=email,
        language=user["language"],
        actor=actor,
    )


async def set_password(
    user_id: int, password: str, *, actor: Actor, keep_session_id: int | None = None
) -> None:
    """Changes the password, ends the user's sessions (all but `keep_session_id`) and every
    password reset link still open."""
    user = await get_user(user_id)
    new_hash = await new_password_hash(
        password, [user["first_name"], user["last_name"], user["email"]]
    )
    async with db.transaction():
        await User.update({User.password_hash: new_hash}).where(User.id == user_id)
        ended = Session.delete().where(Session.user == user_id)
        if keep_session_id is not None:
            ended = ended.where(Session.id != keep_session_id)
        await ended
        await PasswordReset.update({PasswordReset.used_at: clock.now()}).where(
            (PasswordReset.user == user_id) & PasswordReset.used_at.is_null()
        )
        await emit(
            UserPasswordChanged(user_id=user_id),
            actor=actor,
            description=f"Changed the password of {full_name(user)}; other sessions ended",
        )


async def delete_user(user_id: int, *, actor: Actor) -> None:
    """Rule 7: a user can be deleted only once no grants remain."""
    still_has_access = DomainError(
        _("This user still has access to client accounts. Remove that access first.")
    )
    try:
        async with db.transaction():
            user = await get_user(user_id, lock=True)
            if await Grant.exists().where(Grant.user == user_id):
                raise still_has_access
            await User.delete().where(User.id == user_id)
            await emit(
                UserDeleted(user_id=user_id),
                actor=actor,
                description=f"Deleted user {full_name(user)} <{user['email']}>",
            )
    except Exception as exc:
        if is_foreign_key_violation(exc):  # a grant was given while we deleted
            raise still_has_access from exc
        raise


async def search_users(
    query: str = "", *, after: int = 0, per_page: int = 25
) -> tuple[list[dict], bool]:
    """Manage Users: the users after id `after` (id order) matching the query (see
    app.domain.users.search), with how many accounts each reaches; and whether more follow. Two or
    three queries, and no count of all matches."""
    rows, more = await search.manage_page(query, after=after, size=per_page)
    counts = {}
    if rows:
        counts = {
            r["user"]: r["count"]
            for r in await Grant.select(Grant.user, Count(Grant.id, alias="count"))
            .where(Grant.user.is_in([r["id"] for r in rows]))
            .group_by(Grant.user)
        }
    for row in rows:
        row["account_count"] = counts.get(row["id"], 0)
    return rows, more


async def list_users(
    *, search: str = "", descending: bool = False, offset: int = 0, limit: int = 25
) -> tuple[int, list[dict]]:
    """The users matching `search` (see app.domain.users.search.matching: the start of the email,
    the first or the last name, or the full name, case-insensitive, on the indexed keys), in id
    order, as (how many match in all, the page asked for; limit clamped, see clean_page). Each
    row lists the accounts the user reaches, `clients`: [{"id", "is_owner"}], read for the
    whole page in one query."""
    offset, limit = clean_page(offset, limit)
    condition = matching(search)
    where = WhereRaw("".join(condition.parts), *condition.args)
    total = await User.count().where(where)
    rows = (
        await User.select(
            User.id,
            User.first_name,
            User.last_name,
            User.email,
            User.created_at,
            User.language,
            User.totp_enabled,
            User.disabled,
            User.last_login_at,
        )
        .where(where)
        .order_by(User.id, ascending=not descending)
        .limit(limit)
        .offset(offset)
    )
    reached: dict[int, list[dict]] = {row["id"]: [] for row in rows}
    if rows:
        for grant in await (
            Grant.select(Grant.user, Grant.client, Grant.client.owner.as_alias("owner"))
            .where(Grant.user.is_in(list(reached)))
            .order_by(Grant.client)
        ):
            reached[grant["user"]].append(
                {"id": grant["client"], "is_owner": grant["owner"] == grant["user"]}
            )
    for row in rows:
        row["clients"] = reached[row["id"]]
    return total, rows


async def association_candidates(client_id: int, query: str, limit: int = 8) -> list[dict]:
    """Users whose names or email start with the typed words, for Associate User (see
    app.domain.users.search.candidates); those already associated with the account are flagged."""
    rows = await search.candidates(query, limit)
    associated = set()
    if rows:
        associated = {
            g["user"]
            for g in await Grant.select(Grant.user).where(
                (Grant.client == client_id) & Grant.user.is_in([r["id"] for r in rows])
            )
        }
    for row in rows:
        row["associated"] = row["id"] in associated
    return rows


async def record_login(user_id: int, *, ip: str, hostname: str | None) -> None:
    async with db.transaction():
        await User.update(
            {
                User.last_login_at: clock.now(),
                User.last_login_ip: ip,
                User.last_login_hostname: hostname,
            }
        ).where(User.id == user_id)
        await emit(UserSignedIn(user_id=user_id))
