"""Invitations (rules 3, 4, 5, 6): one-time links valid for the staff setting's days (7 by
default), stored only as SHA-256."""

import math
from datetime import datetime, timedelta
from typing import NamedTuple

from app.core import clock, db, permissions
from app.core.config import get_settings
from app.core.dberrors import is_unique_violation
from app.core.errors import DomainError, NotFound, Throttled
from app.core.i18n import N_, _, ngettext, pgettext
from app.core.policy import Permission, role_allows
from app.core.security import new_token, token_hash
from app.core.validation import (
    clean_access_until,
    clean_email,
    clean_page,
    clean_permissions,
)
from app.domain.access.services import (
    check_manager,
    describe_until,
    grant_access,
    notice_already_sent,
    show_until,
    tell_end_changed,
)
from app.domain.activity.services import Actor
from app.domain.clients.services import check_open, display_name, get_client
from app.domain.events.catalog import (
    GrantCreated,
    InviteAccepted,
    InviteAccessUntilChanged,
    InviteCancelled,
    InviteExpired,
    InviteLinkCopied,
    InviteRenewalRequested,
    InviteResent,
    InviteSent,
)
from app.domain.events.stream import emit, emit_all
from app.domain.mail import services as mail
from app.domain.mail.lazy import in_reader_language
from app.domain.mail.services import enqueue, enqueue_many
from app.domain.staff import services as admin_settings
from app.domain.throttle import Limit
from app.domain.users.services import (
    close_invitations_of,
    find_by_email,
    full_name,
    get_user,
    register_user,
)
from app.schema.grants import Grant
from app.schema.invitations import Invitation
from app.schema.staff import Admin
from app.schema.users import User

# Marked for the catalog, translated where they are raised (and app.http's pages: _()).
NO_PENDING_INVITE = N_("No pending invite matches this link. Ask the account owner for a new one.")
VERIFY_FIRST = N_(
    "Verify your email address before accepting this invite: open the link in the verification "
    "email we sent you (logged in, Resend sends a new one), then open this invite again."
)


class InviteUnavailable(DomainError):
    """Accepted, cancelled, expired or unknown: one message for all four to the services' callers
    (the invitation page tells a known link's state apart: link_state)."""

    def __init__(self) -> None:
        super().__init__(_(NO_PENDING_INVITE))


class AlreadyAssociated(DomainError):
    pass


def status(row: dict, now=None) -> str:
    now = now or clock.now()
    if row["accepted_at"] is not None:
        return "accepted"
    if row["cancelled_at"] is not None:
        return "cancelled"
    if row["expires_at"] <= now:
        return "expired"
    return "pending"


def _is_open():
    return Invitation.accepted_at.is_null() & Invitation.cancelled_at.is_null()


def resend_cooldown() -> timedelta:
    """How long after a send the same invite can be sent again (a double click is one send)."""
    return timedelta(seconds=get_settings().resend_cooldown_seconds)


def usable(invitation: dict, client: dict, now=None) -> bool:
    """Whether the invitation can still be accepted: pending, its account open, and its sender
    still entitled to invite (an owner who lost the ownership voids their invitations; staff
    invitations stay valid while the account is open). The one reading of a link's state, the
    invitation page's (_link_state)."""
    return _link_state(invitation, client, now or clock.now()) == LINK_PENDING


def daily_invite_limit() -> int:
    """How many invitations one account may send in 24 hours (ROSTER_INVITES_PER_DAY)."""
    return get_settings().invites_per_day


async def invites_sent_today(client_id: int, now) -> int:
    """The invitations the account created in the 24 hours before `now` (resends not counted)."""
    return await Invitation.count().where(
        (Invitation.client == client_id) & (Invitation.created_at > now - timedelta(days=1))
    )


def daily_limit_reached() -> str:
    limit = daily_invite_limit()
    return ngettext(
        "This account has sent %(num)d invite in the last 24 hours, the most allowed. "
        "Try again tomorrow.",
        "This account has sent %(num)d invites in the last 24 hours, the most allowed. "
        "Try again tomorrow.",
        limit,
    ) % {"num": limit}


async def _check_daily_limit(client_id: int, now) -> None:
    """Call with the account locked: the count cannot change under us."""
    if await invites_sent_today(client_id, now) >= daily_invite_limit():
        raise Throttled(daily_limit_reached(), retry_after=3600, field="email")


# Where an address stands with an account, for an invitation to it (rule 5): the one decision
# the single invite and the bulk invite both take.
NEW_PERSON = "invite_new"
EXISTING_USER = "invite_existing"
HAS_ACCESS = "has_access"
PENDING = "pending"


def standing(existing_user: dict | None, has_access: bool, open_invite: dict | None, now) -> str:
    """`existing_user`: the user with that address (None: nobody); `has_access`: whether that
    user reaches the account; `open_invite`: the account's open invitation to the address (an
    expired one makes way for a new invite)."""
    if has_access:
        return HAS_ACCESS
    if open_invite is not None and status(open_invite, now) == "pending":
        return PENDING
    return EXISTING_USER if existing_user is not None else NEW_PERSON


def already_has_access(email: str) -> str:
    return _("%(email)s already has access to this account.") % {"email": email}


def already_pending(email: str) -> str:
    return _("An invite to %(email)s is already pending. Use Resend Invite to send it again.") % {
        "email": email
    }


def resend_wait(invitation: dict, now) -> int:
    """Seconds before the invitation may be sent again (the resend cooldown), 0 when it may."""
    wait = (invitation["last_sent_at"] + resend_cooldown() - now).total_seconds()
    return math.ceil(wait) if wait > 0 else 0


def sent_moments_ago(email: str, seconds: int) -> str:
    return ngettext(
        "The invite to %(email)s was sent moments ago. You can send it again in %(num)d second.",
        "The invite to %(email)s was sent moments ago. You can send it again in %(num)d seconds.",
        seconds,
    ) % {"email": email, "num": seconds}


class EmailSettings(NamedTuple):
    """What an invitation email needs of the settings: how long its link is valid from its
    Send or Resend (the staff setting, 1 to 30 days) and the company's name."""

    lifetime: timedelta
    company: str


async def email_settings() -> EmailSettings:
    """EmailSettings in one query: read once by a send, however many emails it queues."""
    values = await admin_settings.get_settings(
        admin_settings.INVITE_LIFETIME_DAYS, admin_settings.COMPANY_NAME
    )
    days = int(values[admin_settings.INVITE_LIFETIME_DAYS])
    return EmailSettings(timedelta(days=days), values[admin_settings.COMPANY_NAME])


def lifetime_text(days: int) -> str:
    return ngettext("%(num)d day", "%(num)d days", days) % {"num": days}


def _email_labels(keys) -> list:
    """The keys' permission labels, for an email (see in_reader_language)."""
    return [in_reader_language(_, permissions.LABELS[k]) for k in keys if k in permissions.LABELS]


def accept_url(token: str) -> str:
    return f"{get_settings().base_url}/invite/{token}"


def _invitation_email(
    invitation_id: int,
    *,
    to: str,
    token: str,
    client: dict,
    keys,
    sender_name: str,
    by_admin: bool,
    sent_by: str,
    lifetime: timedelta,
    access_until,
    company: str,
) -> dict:
    """The invitation email, as enqueue takes it. `sent_by`: who sends it now (its delivery
    history names them); `lifetime`: how long its link is valid."""
    return {
        "to": to,
        "template": "invitation",
        "invitation_id": invitation_id,
        "sent_by": sent_by,
        "context": {
            "valid_for": in_reader_language(lifetime_text, lifetime.days),
            "sender_name": sender_name,
            "account_name": display_name(client),
            "permission_labels": _email_labels(keys),
            "accept_url": accept_url(token),
            "sent_by_admin": by_admin,
            "company": company,
            "access_until": describe_until(access_until) if access_until else "",
        },
    }


async def invite(
    client_id: int, email: str, keys, *, actor: Actor, access_until=None
) -> tuple[int, str]:
    """Creates a pending invitation, queues its email; returns (id, token). Rule 5 refusals.
    `access_until`: when the access it gives ends (see clean_access_until), carried to the
    grant its acceptance creates."""
    keys = clean_permissions(keys)
    email, email_key = clean_email(email)
    now = clock.now()
    until = clean_access_until(access_until, now)
    try:
        async with db.transaction():
            client = await get_client(client_id, lock=True)
            await check_manager(actor, client)
            check_open(client)
            await _check_daily_limit(client_id, now)
            existing = await find_by_email(email_key)
            has_access = existing is not None and await Grant.exists().where(
                (Grant.user == existing["id"]) & (Grant.client == client_id)
            )
            open_invite = await open_invitation_to(client_id, email_key)
            kind = standing(existing, has_access, open_invite, now)
            if kind == HAS_ACCESS:
                raise DomainError(already_has_access(email), "email")
            if kind == PENDING:
                raise DomainError(already_pending(email), "email")
            invitation_id, token = await create_invitation(
                client,
                email,
                email_key,
                keys,
                actor=actor,
                now=now,
                until=until,
                existing_user=existing,
                replaces=open_invite,
            )
    except Exception as exc:
        if is_unique_violation(exc):
            raise DomainError(already_pending(email), "email") from exc
        raise
    return invitation_id, token


async def open_invitation_to(client_id: int, email_key: str) -> dict | None:
    """The account's open invitation (pending or expired) to the address, if any."""
    return (
        await Invitation.select()
        .where((Invitation.client == client_id) & (Invitation.email_key == email_key) & _is_open())
        .first()
    )


class NewInvitation(NamedTuple):
    """One invitation to create, once `standing` allowed it: `existing_user` the user with that
    address (None: nobody), `replaces` the account's expired open invite to it (closed)."""

    email: str
    email_key: str
    keys: tuple[str, ...]
    existing_user: dict | None = None
    replaces: dict | None = None


async def create_invitation(
    client: dict,
    email: str,
    email_key: str,
    keys: tuple[str, ...],
    *,
    actor: Actor,
    now,
    until,
    existing_user: dict | None,
    replaces: dict | None,
) -> tuple[int, str]:
    """The writing half of an invite: see create_invitations. Returns (id, token)."""
    made = await create_invitations(
        client,
        [NewInvitation(email, email_key, keys, existing_user, replaces)],
        actor=actor,
        now=now,
        until=until,
    )
    return made[0]


async def create_invitations(
    client: dict,
    wanted: list[NewInvitation],
    *,
    actor: Actor,
    now,
    until,
    settings: EmailSettings | None = None,
) -> list[tuple[int, str]]:
    """The writing half of an invite, for one or many, in the caller's transaction with the
    account locked: the expired invites they replace closed, the invitations inserted, their
    emails queued, invite.sent told for each, in a few statements whatever their number.
    Returns (id, token) of each, in order. `settings`: read by the caller already."""
    client_id = client["id"]
    lifetime, company = settings or await email_settings()
    replaced = [new.replaces["id"] for new in wanted if new.replaces is not None]
    if replaced:
        await Invitation.update({Invitation.cancelled_at: now}).where(Invitation.id.is_in(replaced))
    tokens = [new_token() for _new in wanted]
    rows = [
        _new_row(
            client_id,
            new.email,
            new.email_key,
            new.keys,
            digest,
            actor=actor,
            now=now,
            lifetime=lifetime,
            until=until,
        )
        for new, (_token, digest) in zip(wanted, tokens, strict=True)
    ]
    ids: dict[str, int] = {}
    for start in range(0, len(rows), CHUNK):
        for row in await Invitation.insert(*rows[start : start + CHUNK]).returning(
            Invitation.id, Invitation.token_hash
        ):
            ids[row["token_hash"]] = row["id"]
    made = [(ids[digest], token) for token, digest in tokens]
    await enqueue_many(
        [
            _invitation_email(
                invitation_id,
                to=new.email,
                token=token,
                client=client,
                keys=new.keys,
                sender_name=actor.name,
                by_admin=actor.kind == "admin",
                sent_by=actor.name,
                lifetime=lifetime,
                access_until=until,
                company=company,
            )
            for new, (invitation_id, token) in zip(wanted, made, strict=True)
        ]
    )
    await emit_all(
        [
            (
                InviteSent(
                    client_id=client_id,
                    invitation_id=invitation_id,
                    email=new.email,
                    permissions=new.keys,
                    user_id=new.existing_user["id"] if new.existing_user else None,
                ),
                f"Invited {new.email} to {display_name(client)} with {', '.join(new.keys)}"
                + (f", access until {describe_until(until)}" if until else ""),
            )
            for new, (invitation_id, _token) in zip(wanted, made, strict=True)
        ],
        actor=actor,
    )
    return made


def _new_row(
    client_id: int,
    email: str,
    email_key: str,
    keys,
    digest: str,
    *,
    actor: Actor,
    now,
    lifetime,
    until,
) -> Invitation:
    """A new invitation sent by `actor` at `now`, its link valid for `lifetime`."""
    return Invitation(
        client=client_id,
        email=email,
        email_key=email_key,
        permissions=permissions.serialize(keys),
        token_hash=digest,
        invited_by_admin=actor.id if actor.kind == "admin" else None,
        invited_by_user=actor.id if actor.kind == "user" else None,
        sender_name=actor.name,
        created_at=now,
        last_sent_at=now,
        times_sent=1,
        expires_at=now + lifetime,
        access_until=until,
    )


CHUNK = 200  # invitations per INSERT, far under the engines' parameter limits


# One invitation for several accounts: at most this many in one email.
SEVERAL_MAX = 50


class ForAccount(NamedTuple):
    """One account of an invitation to several: its id and the permissions it gives there."""

    client_id: int
    keys: object


class SentToSeveral(NamedTuple):
    email: str
    invitation_ids: list[int]  # one per account, in the order asked
    token: str  # the link's token in clear, for the one answer that shows it (never stored)
    account_names: list[str]


def _listed(names: list[str]) -> str:
    if len(names) == 1:
        return names[0]
    return _("%(names)s and %(last)s") % {"names": ", ".join(names[:-1]), "last": names[-1]}


async def invite_to_accounts(
    email: str, wanted: list[ForAccount], *, actor: Actor, access_until=None
) -> SentToSeveral:
    """One address invited to several accounts in one email that lists them, each with its own
    permissions: staff to any accounts, an owner to the accounts they own. Each account gets an
    invitation of its own (its pending list shows it; Cancel or Resend there touches it alone),
    all reached through the email's one link (group_token_hash). All or nothing: every account
    is checked under its lock (owner, open, daily limit, rule 5) and every refusal said at once
    (field "accounts"), nothing sent."""
    email, email_key = clean_email(email)
    if not wanted:
        raise DomainError(_("Choose at least one account to invite to."), "accounts")
    if len(wanted) > SEVERAL_MAX:
        raise DomainError(
            ngettext(
                "One invitation can list at most %(num)d account.",
                "One invitation can list at most %(num)d accounts.",
                SEVERAL_MAX,
            )
            % {"num": SEVERAL_MAX},
            "accounts",
        )
    ids = [item.client_id for item in wanted]
    if len(set(ids)) != len(ids):
        raise DomainError(_("An account is listed twice."), "accounts")
    now = clock.now()
    until = clean_access_until(access_until, now)
    try:
        async with db.transaction():
            clients = {}
            for client_id in sorted(ids):  # the lock order: by id
                clients[client_id] = await get_client(client_id, lock=True)
            for client in clients.values():
                await check_manager(actor, client)
            keys = {}
            for item in wanted:
                try:
                    keys[item.client_id] = clean_permissions(item.keys)
                except DomainError as exc:
                    name = display_name(clients[item.client_id])
                    raise DomainError(
                        _("%(account)s: %(problem)s") % {"account": name, "problem": exc.message},
                        "accounts",
                    ) from exc
            existing = await find_by_email(email_key)
            problems, replaces = [], {}
            for client_id in ids:
                client, name = clients[client_id], display_name(clients[client_id])
                if client["status"] == "Closed":
                    problems.append(_("%(account)s is closed.") % {"account": name})
                    continue
                if await invites_sent_today(client_id, now) >= daily_invite_limit():
                    problems.append(
                        ngettext(
                            "%(account)s has sent its %(num)d invite for today.",
                            "%(account)s has sent its %(num)d invites for today.",
                            daily_invite_limit(),
                        )
                        % {"account": name, "num": daily_invite_limit()}
                    )
                    continue
                has_access = existing is not None and await Grant.exists().where(
                    (Grant.user == existing["id"]) & (Grant.client == client_id)
                )
                replaces[client_id] = await open_invitation_to(client_id, email_key)
                kind = standing(existing, has_access, replaces[client_id], now)
                if kind == HAS_ACCESS:
                    problems.append(
                        _("%(email)s already has access to %(account)s.")
                        % {"email": email, "account": name}
                    )
                elif kind == PENDING:
                    problems.append(
                        _(
                            "An invite to %(email)s is already pending for %(account)s "
                            "(Resend Invite is there)."
                        )
                        % {"email": email, "account": name}
                    )
            if problems:
                raise DomainError(
                    " ".join(
                        [*problems, _("Leave out those accounts, or change them, and send again.")]
                    ),
                    "accounts",
                )
            made_ids, token = await _create_several(
                [(clients[client_id], keys[client_id], replaces[client_id]) for client_id in ids],
                email,
                email_key,
                actor=actor,
                now=now,
                until=until,
                existing_user=existing,
            )
    except Exception as exc:
        if is_unique_violation(exc):
            raise DomainError(
                _(
                    "An invite to %(email)s was sent to one of these accounts meanwhile. "
                    "Check the pending invites and send again."
                )
                % {"email": email},
                "accounts",
            ) from exc
        raise
    return SentToSeveral(email, made_ids, token, [display_name(clients[i]) for i in ids])


async def _create_several(
    wanted: list[tuple[dict, tuple[str, ...], dict | None]],
    email: str,
    email_key: str,
    *,
    actor: Actor,
    now,
    until,
    existing_user: dict | None,
) -> tuple[list[int], str]:
    """The writing half of invite_to_accounts, its accounts locked: an invitation for each
    (account, keys, the expired invite it replaces), the first's id on the others (sent_with),
    one email queued with the first, invite.sent told for each. Returns (ids, the token)."""
    lifetime, company = await email_settings()
    replaced = [old["id"] for _client, _keys, old in wanted if old is not None]
    if replaced:
        await Invitation.update({Invitation.cancelled_at: now}).where(Invitation.id.is_in(replaced))
    token, group_digest = new_token()
    made: list[int] = []
    for client, keys, _replaces in wanted:
        _own_token, own_digest = new_token()  # never sent: only the email's link opens it
        invitation = _new_row(
            client["id"],
            email,
            email_key,
            keys,
            own_digest,
            actor=actor,
            now=now,
            lifetime=lifetime,
            until=until,
        )
        invitation.group_token_hash = group_digest
        invitation.sent_with = made[0] if made else None
        inserted = await Invitation.insert(invitation).returning(Invitation.id)
        made.append(inserted[0]["id"])
    names = [display_name(client) for client, _keys, _replaces in wanted]
    await enqueue(
        to=email,
        template="invitation",
        invitation_id=made[0],
        sent_by=actor.name,
        context={
            "valid_for": in_reader_language(lifetime_text, lifetime.days),
            "sender_name": actor.name,
            "account_name": in_reader_language(_listed, names),
            "accounts": [
                {"name": name, "permission_labels": _email_labels(keys)}
                for name, (_client, keys, _replaces) in zip(names, wanted, strict=True)
            ],
            "accept_url": accept_url(token),
            "sent_by_admin": actor.kind == "admin",
            "company": company,
            "access_until": describe_until(until) if until else "",
        },
    )
    await emit_all(
        [
            (
                InviteSent(
                    client_id=client["id"],
                    invitation_id=invitation_id,
                    email=email,
                    permissions=keys,
                    user_id=existing_user["id"] if existing_user else None,
                ),
                f"Invited {email} to {display_name(client)} with {', '.join(keys)}"
                + (f", access until {describe_until(until)}" if until else "")
                + f" (one email for {len(wanted)} accounts)",
            )
            for (client, keys, _replaces), invitation_id in zip(wanted, made, strict=True)
        ],
        actor=actor,
    )
    return made, token


async def _open_invitation(client_id: int, invitation_id: int) -> dict:
    row = (
        await Invitation.select()
        .where((Invitation.id == invitation_id) & (Invitation.client == client_id))
        .first()
    )
    if row is None or status(row) in ("accepted", "cancelled"):
        raise NotFound(_("This invite is no longer pending: it was accepted or cancelled."))
    return row


class Associated(NamedTuple):
    invited: bool  # an invitation went out; else access was given at once
    email: str
    name: str  # the existing user's full name, or "" for a new email
    invitation_id: int | None = None  # the invitation sent, and its link's token in clear
    token: str = ""  # (only for the one answer that shows the link: never stored)


class Resent(NamedTuple):
    token: str
    email: str
    invitation_id: int = 0
    expires_at: object = None
    days: int = 7


async def resend(client_id: int, invitation_id: int, *, actor: Actor) -> Resent:
    """A fresh token (the old link stops working) and the setting's days again."""
    now = clock.now()
    async with db.transaction():
        client = await get_client(client_id, lock=True)
        await check_manager(actor, client)
        check_open(client)
        row = await _open_invitation(client_id, invitation_id)
        seconds = resend_wait(row, now)
        if seconds:
            raise Throttled(sent_moments_ago(row["email"], seconds), retry_after=seconds)
        token, expires_at = await send_again(client, row, actor=actor, now=now)
    return Resent(token, row["email"], invitation_id, expires_at, (expires_at - now).days)


async def note_link_copied(client_id: int, invitation_id: int, *, actor: Actor) -> str:
    """The sender copied the link the confirmation of Send or Resend showed them: logged
    (invite.link_copied), the link itself never (it is not kept anywhere). Returns the email."""
    async with db.transaction():
        client = await get_client(client_id)
        await check_manager(actor, client)
        row = await _open_invitation(client_id, invitation_id)
        await emit(
            InviteLinkCopied(client_id=client_id, invitation_id=invitation_id, email=row["email"]),
            actor=actor,
            description=f"Invitation link copied: the invite to {row['email']} for "
            f"{display_name(client)}",
        )
    return row["email"]


async def invitation_expiry(invitation_id: int) -> tuple:
    """(expires_at, the days it was valid for) of an invitation just sent."""
    row = (
        await Invitation.select(Invitation.expires_at, Invitation.last_sent_at)
        .where(Invitation.id == invitation_id)
        .first()
    )
    if row is None:
        raise NotFound(_("No such invitation."))
    return row["expires_at"], round(
        (row["expires_at"] - row["last_sent_at"]).total_seconds() / 86400
    )


def _told_emails(emails: list[dict], sender_name: str) -> list[dict]:
    """Each email of an invitation as its history tells it: Sent (the first) or Resent, by whom."""
    for number, email in enumerate(emails):
        email["kind"] = _("Sent") if number == 0 else _("Resent")
        email["by"] = email["sent_by"] or (sender_name if number == 0 else "")
    return emails


async def delivery_history(
    invitation_id: int, *, actor: Actor, client_id: int | None = None
) -> dict:
    """Every email of an invitation (sent, resent, by whom, when, each try's outcome with the
    server's reply) and its current link's expiry. `client_id`: the account it must belong to
    (the client area: the owner's current account; NotFound otherwise). Who may see it is the
    route's permission (app.core.policy); an owner is checked as for managing its users."""
    query = Invitation.select().where(Invitation.id == invitation_id)
    if client_id is not None:
        query = query.where(Invitation.client == client_id)
    row = await query.first()
    if row is None:
        raise NotFound(_("No such invitation."))
    client = await get_client(row["client"])
    await check_manager(actor, client)
    now = clock.now()
    return {
        "invitation": row,
        "status": status(row, now),
        "account_name": display_name(client),
        "client_id": client["id"],
        "emails": _told_emails(
            await mail.invitation_emails(invitation_id, row["sent_with"]), row["sender_name"]
        ),
        "now": now,
    }


async def email_history(email_id: int, *, actor: Actor) -> dict:
    """The delivery history an email of the outbox opens: that of its invitation, else its own
    tries alone."""
    invitation_id = await mail.invitation_of_email(email_id)
    if invitation_id is not None:
        return await delivery_history(invitation_id, actor=actor)
    email = await mail.get_email(email_id)
    tries = await mail.email_tries(email_id)
    return {
        "invitation": None,
        "emails": [{**email, "tries": tries, "kind": _("Queued"), "by": email["sent_by"]}],
        "now": clock.now(),
    }


async def send_again(
    client: dict, row: dict, *, actor: Actor, now, settings: EmailSettings | None = None
) -> tuple[str, datetime]:
    """The writing half of a resend, once the cooldown allowed it, in the caller's transaction
    with the account locked: a fresh token, the setting's days again, the email queued,
    invite.resent told. Returns the new token and when it expires; NotFound when the invite was
    closed meanwhile. `settings`: read by the caller already."""
    lifetime, company = settings or await email_settings()
    token, digest = new_token()
    invitation_id = row["id"]
    updated = (
        await Invitation.update(
            {
                Invitation.token_hash: digest,
                Invitation.last_sent_at: now,
                Invitation.expires_at: now + lifetime,
                Invitation.times_sent: Invitation.times_sent + 1,
                Invitation.renewal_requested_at: None,
                Invitation.group_token_hash: None,  # its own link now, not the several's
            }
        )
        .where((Invitation.id == invitation_id) & _is_open())
        .returning(Invitation.id)
    )
    if not updated:
        raise NotFound(_("This invite is no longer pending: it was accepted or cancelled."))
    await enqueue(
        **_invitation_email(
            invitation_id,
            to=row["email"],
            token=token,
            client=client,
            keys=permissions.deserialize(row["permissions"]),
            sender_name=row["sender_name"],
            by_admin=row["invited_by_user"] is None,
            sent_by=actor.name,
            lifetime=lifetime,
            access_until=row["access_until"],
            company=company,
        )
    )
    await emit(
        InviteResent(
            client_id=client["id"],
            invitation_id=invitation_id,
            email=row["email"],
            expires_at=now + lifetime,
        ),
        actor=actor,
        description=f"Resent the invite to {row['email']} for {display_name(client)}; "
        f"expires {(now + lifetime):%Y-%m-%d %H:%M} UTC",
    )
    return token, now + lifetime


async def cancel(client_id: int, invitation_id: int, *, actor: Actor) -> str:
    """The link stops working; the invitee is not told. Returns the invited email."""
    async with db.transaction():
        client = await get_client(client_id, lock=True)
        await check_manager(actor, client)
        row = await _open_invitation(client_id, invitation_id)
        updated = (
            await Invitation.update({Invitation.cancelled_at: clock.now()})
            .where((Invitation.id == invitation_id) & _is_open())
            .returning(Invitation.id)
        )
        if not updated:
            raise NotFound(_("This invite is no longer pending: it was accepted or cancelled."))
        await emit(
            InviteCancelled(client_id=client_id, invitation_id=invitation_id, email=row["email"]),
            actor=actor,
            description=f"Cancelled the invite to {row['email']} for {display_name(client)}",
        )
    return row["email"]


async def set_access_until(client_id: int, invitation_id: int, access_until, *, actor: Actor):
    """Sets, changes or clears (None, "") when the access an open invitation gives ends (see
    clean_access_until); the grant its acceptance creates carries it. Returns the invited
    email and the new end. Nothing written when it is the same."""
    now = clock.now()
    until = clean_access_until(access_until, now)
    async with db.transaction():
        client = await get_client(client_id, lock=True)
        await check_manager(actor, client)
        row = await _open_invitation(client_id, invitation_id)
        before = db.instant(row["access_until"])
        if before == until:
            return row["email"], until
        await Invitation.update({Invitation.access_until: until}).where(
            Invitation.id == invitation_id
        )
        await emit(
            InviteAccessUntilChanged(
                client_id=client_id,
                invitation_id=invitation_id,
                email=row["email"],
                access_until_before=before,
                access_until=until,
            ),
            actor=actor,
            description=f"Access given by the invite to {row['email']} for "
            f"{display_name(client)} ends: {describe_until(before)} -> {describe_until(until)}",
        )
    return row["email"], until


async def _with_accounts(condition) -> list[dict]:
    """The invitations `condition` selects, oldest first, each with its account's name
    columns, status (`client_status`) and owner (`client_owner`)."""
    return (
        await Invitation.select(
            *Invitation.all_columns(),
            Invitation.client.company_name.as_alias("company_name"),
            Invitation.client.first_name.as_alias("first_name"),
            Invitation.client.last_name.as_alias("last_name"),
            Invitation.client.status.as_alias("client_status"),
            Invitation.client.owner.as_alias("client_owner"),
        )
        .where(condition)
        .order_by(Invitation.id)
    )


async def _link_rows(digest: str) -> list[dict]:
    """The invitations a link opens (see _found_by_link), each with its account's name, status
    and owner, its permission keys and its link state (`link`)."""
    rows = await _with_accounts(
        (Invitation.token_hash == digest) | (Invitation.group_token_hash == digest)
    )
    now = clock.now()
    for row in rows:
        row["account_name"] = display_name(row)
        row["permission_keys"] = permissions.deserialize(row["permissions"])
        row["link"] = _link_state(
            row, {"status": row["client_status"], "owner": row["client_owner"]}, now
        )
    return rows


async def pending_invite(token: str) -> dict:
    """The pending invitation behind a token, with its account's name; else InviteUnavailable.
    A link to several accounts gives its first still pending, with `accounts`: every invitation
    it opens (those no longer pending show why: their `link` state). A lone one's is empty."""
    if not _looks_like_token(token):
        raise InviteUnavailable()
    digest = token_hash(token)
    rows = await _link_rows(digest)
    pending = [row for row in rows if row["link"] == LINK_PENDING]
    if not pending:
        raise InviteUnavailable()
    several = rows[0]["token_hash"] != digest
    return {**pending[0], "accounts": rows if several else []}


# What the holder of a link sees (the invitation page): each state of a link they hold, told
# apart, since they already know which link they hold; a token that matches no invitation gets
# the one page it always got. Nothing else about the account is told.
LINK_PENDING = "pending"
LINK_ACCEPTED = "accepted"
LINK_CLOSED = "closed"
LINK_EXPIRED = "expired"
LINK_CANCELLED = "cancelled"
LINK_UNKNOWN = "unknown"
RENEWABLE = (LINK_EXPIRED, LINK_CANCELLED)
TOKEN_MAX = 100  # a token is 43 characters: anything much longer matches nothing


class LinkState(NamedTuple):
    state: str
    sender_name: str = ""  # as the invitation email named them
    asked_at: object = None  # when a new invitation was asked for through this link
    valid_for: str = ""  # how long the link was valid from its last email ("7 days")
    accounts: tuple = ()  # of a link to several accounts: each invitation, with its `link` state


def _looks_like_token(token: str) -> bool:
    return 0 < len(token) <= TOKEN_MAX and token.isascii() and token.isprintable()


def _link_state(row: dict, client: dict, now) -> str:
    if client["status"] == "Closed":
        return LINK_CLOSED
    if row["accepted_at"] is not None:
        return LINK_ACCEPTED
    if row["cancelled_at"] is not None:
        return LINK_CANCELLED
    sender = row["invited_by_user"]
    if sender is not None and sender != client["owner"]:
        return LINK_CANCELLED  # void: its sender no longer owns the account
    if row["expires_at"] <= now:
        return LINK_EXPIRED
    return LINK_PENDING


# A link to several accounts is in the state of the first of its invitations in this order.
_LINK_ORDER = (LINK_PENDING, LINK_ACCEPTED, LINK_EXPIRED, LINK_CANCELLED, LINK_CLOSED)


async def link_state(token: str) -> LinkState:
    """The state of the invitation a link holds, for the invitation page: one statement. A
    link to several accounts lists each (`accounts`); it was asked to be renewed when each of
    its renewable invitations was."""
    if not _looks_like_token(token):
        return LinkState(LINK_UNKNOWN)
    digest = token_hash(token)
    rows = await _link_rows(digest)
    if not rows:
        return LinkState(LINK_UNKNOWN)
    state = min((row["link"] for row in rows), key=_LINK_ORDER.index)
    renewable = [row for row in rows if row["link"] in RENEWABLE]
    asked = [row["renewal_requested_at"] for row in renewable]
    first = rows[0]
    lifetime = round((first["expires_at"] - first["last_sent_at"]) / timedelta(days=1))
    return LinkState(
        state,
        first["sender_name"],
        max(asked) if asked and None not in asked else None,
        lifetime_text(lifetime),
        tuple(rows) if first["token_hash"] != digest else (),
    )


# Asking for a new invitation: 3 an hour through one link, 10 an hour from one IP address.
RENEWAL_LIMIT = Limit(
    "inv-renew",
    timedelta(hours=1),
    per_key=3,
    per_ip=10,
    message=N_("Too many requests for a new invitation. Try again in an hour."),
)


class AlreadyAsked(DomainError):
    def __init__(self, asked_at) -> None:
        super().__init__(_("You have already asked for a new invitation."))
        self.asked_at = asked_at


def _nameless() -> str:
    """The name an email's greeting gives someone whose name is not known ("Hello there,")."""
    return pgettext("a greeting's name when it is not known: Hello there,", "there")


async def _who_is_told(invitation: dict, client: dict) -> tuple[str, dict | None]:
    """Whom a request for a new invitation goes to: ("inviter", them) while its sender can
    still invite (the account's owner, or an enabled staff member whose role manages users),
    else ("owner", the account's owner). Each with first name, email and the page that
    resends. While staff have turned off client user management (rule 2), an owner cannot
    resend: nobody is emailed, ("staff", None), and staff see the request on the invite in the
    account's Users tab."""
    base_url = get_settings().base_url
    if invitation["invited_by_admin"] is not None:
        admin = await Admin.select().where(Admin.id == invitation["invited_by_admin"]).first()
        if (
            admin is not None
            and not admin["disabled"]
            and role_allows(admin["role"], Permission.MANAGE_USERS)
        ):
            return "inviter", {
                "first_name": admin["name"].split()[0]
                if admin["name"].strip()
                else in_reader_language(_nameless),
                "email": admin["email"],
                "url": f"{base_url}/admin/clients/{client['id']}/users",
            }
    if await admin_settings.flag(admin_settings.DISABLE_CLIENT_USER_MANAGEMENT):
        return "staff", None
    owner = await User.select().where(User.id == client["owner"]).first()
    assert owner is not None  # the locked account's owner (a restricting foreign key)
    told = "inviter" if invitation["invited_by_user"] == client["owner"] else "owner"
    return told, {
        "first_name": owner["first_name"],
        "email": owner["email"],
        "url": f"{base_url}/account/users",
    }


async def request_renewal(token: str, *, ip: str) -> LinkState:
    """The holder of an expired or cancelled invitation's link asks for a new one: the sender,
    or the owner when the sender can no longer invite, is emailed once, and the invite is
    marked (the lists show it, Resend clears it). Throttled per link and per address (Throttled);
    asked already: AlreadyAsked, nothing sent. Any other state: nothing done, the state
    returned for the page to show."""
    state = await link_state(token)
    if state.state not in RENEWABLE:
        return state
    digest = token_hash(token)
    attempt = await RENEWAL_LIMIT.take(digest, ip)
    if state.asked_at is not None:
        raise AlreadyAsked(state.asked_at)
    now = clock.now()
    async with db.transaction():
        found = await _found_by_link(digest)
        clients = {}
        for client_id in sorted({row["client"] for row in found}):  # the lock order: by id
            clients[client_id] = await get_client(client_id, lock=True)
        rows = [
            row
            for row in await Invitation.select()
            .where((Invitation.token_hash == digest) | (Invitation.group_token_hash == digest))
            .order_by(Invitation.id)
            if row["client"] in clients
        ]
        assert rows  # invitations are never deleted but with their account
        states = {row["id"]: _link_state(row, clients[row["client"]], now) for row in rows}
        state = LinkState(min(states.values(), key=_LINK_ORDER.index), rows[0]["sender_name"], None)
        if state.state not in RENEWABLE:
            await RENEWAL_LIMIT.release(attempt)
            return state
        marked = {
            row["id"]
            for row in await Invitation.update({Invitation.renewal_requested_at: now})
            .where(
                Invitation.id.is_in([i for i, told in states.items() if told in RENEWABLE])
                & Invitation.renewal_requested_at.is_null()
            )
            .returning(Invitation.id)
        }
        if not marked:
            raise AlreadyAsked(rows[0]["renewal_requested_at"])
        await _tell_renewal_asked(
            [
                (row, clients[row["client"]], states[row["id"]])
                for row in rows
                if row["id"] in marked
            ],
            ip=ip,
        )
    return LinkState(state.state, state.sender_name, now)


async def _tell_renewal_asked(asked: list[tuple[dict, dict, str]], *, ip: str) -> None:
    """For each (invitation, its locked account, its link state) whose renewal was just asked
    for: whom it goes to is emailed (once, naming all their accounts, for a link to several),
    and invite.renewal_requested told."""
    emails: dict[str, dict] = {}
    for row, client, state in asked:
        notified, person = await _who_is_told(row, client)
        if person is not None:
            email = emails.setdefault(
                person["email"],
                {
                    "to": person["email"],
                    "template": "invite_renewal_requested",
                    "context": {
                        "first_name": person["first_name"],
                        "invited_email": row["email"],
                        "accounts": [],
                        "state": state,
                        "manage_url": person["url"],
                        "by_inviter": notified == "inviter",
                    },
                },
            )
            email["context"]["accounts"].append(display_name(client))
        await emit(
            InviteRenewalRequested(
                client_id=client["id"],
                invitation_id=row["id"],
                email=row["email"],
                notified=notified,
            ),
            actor=Actor("system", name="Invitation link", ip=ip),
            description=f"A new invitation was asked for through the {state} invite to "
            f"{row['email']} for {display_name(client)}; "
            + (
                f"the {notified} was emailed"
                if person is not None
                else "shown to staff on the Users tab (client user management is off)"
            ),
        )
    for email in emails.values():
        email["context"]["account_name"] = in_reader_language(
            _listed, email["context"].pop("accounts")
        )
    if emails:
        await enqueue_many(list(emails.values()))


async def _found_by_link(digest: str) -> list[dict]:
    """The invitations a link opens, without locking: the one whose token it is, or the several
    one email sent for several accounts (oldest first)."""
    return (
        await Invitation.select(
            Invitation.id, Invitation.client, Invitation.token_hash, Invitation.sent_with
        )
        .where((Invitation.token_hash == digest) | (Invitation.group_token_hash == digest))
        .order_by(Invitation.id)
    )


async def sent_for_several(token: str) -> int | None:
    """Of a link to several accounts, the invitation its email was sent with (what
    outcome_of_several takes); None for a lone invitation's link."""
    found = await _found_by_link(token_hash(token))
    if not found or found[0]["token_hash"] == token_hash(token):
        return None
    return found[0]["sent_with"] or found[0]["id"]


class Outcome(NamedTuple):
    client_id: int
    account_name: str
    reached: bool  # the user has access to it now
    reason: str = ""  # why not


async def outcome_of_several(first_id: int, user_id: int) -> list[Outcome]:
    """What accepting an invitation to several accounts came to for the user who accepted it
    (`first_id`: the invitation its email was sent with): each account, reached or skipped and
    why. Empty for anyone who accepted none of it."""
    rows = await _with_accounts((Invitation.id == first_id) | (Invitation.sent_with == first_id))
    if not any(row["accepted_by"] == user_id for row in rows):
        return []
    reached = {
        row["client"]
        for row in await Grant.select(Grant.client).where(
            (Grant.user == user_id) & Grant.client.is_in([row["client"] for row in rows])
        )
    }
    now = clock.now()
    return [
        Outcome(
            row["client"],
            display_name(row),
            row["client"] in reached,
            "" if row["client"] in reached else _why_skipped(row, now),
        )
        for row in rows
    ]


def _why_skipped(row: dict, now) -> str:
    if row["client_status"] == "Closed":
        return _("The account is closed.")
    if row["group_token_hash"] is None and row["accepted_at"] is None:
        return _("Its invitation was sent again on its own: use the link in that email.")
    if row["cancelled_at"] is not None:
        return _("Its invitation was cancelled.")
    sender = row["invited_by_user"]
    if sender is not None and sender != row["client_owner"]:
        return _("Whoever invited you no longer owns this account.")
    until = row["access_until"]
    if until is not None and until <= now:
        return _("The access it gave ended on %(until)s.") % {"until": describe_until(until)}
    if row["accepted_at"] is not None:
        return _("Your access was removed since.")
    return _("Its invitation expired.")


async def accept(token: str, user_id: int, *, actor: Actor) -> int:
    """Rule 4: atomic, one winner among concurrent attempts. Returns the client id (of a link to
    several accounts: the first it gave access to, see accept_several)."""
    digest = token_hash(token)
    now = clock.now()
    try:
        async with db.transaction():
            found = await _found_by_link(digest)
            if not found:
                raise InviteUnavailable()
            if found[0]["token_hash"] != digest:
                return await _accept_several(digest, found, user_id, actor=actor, now=now)
            client_id = found[0]["client"]
            # The lock order: the account first, then decide on what is read under the lock.
            client = await get_client(client_id, lock=True)
            invitation = await Invitation.select().where(Invitation.token_hash == digest).first()
            if invitation is None or not usable(invitation, client, now):
                raise InviteUnavailable()
            user = await get_user(user_id, keep=True)
            _check_acceptor(invitation, user, await _acceptance_rules())
            if await Grant.exists().where((Grant.user == user_id) & (Grant.client == client_id)):
                raise AlreadyAssociated(_("You already have access to this account."))
            if user["email_verified_at"] is None and await admin_settings.flag(
                admin_settings.REQUIRE_VERIFIED_EMAIL
            ):
                raise DomainError(_(VERIFY_FIRST))
            until = invitation["access_until"]
            if until is not None and until <= now:
                raise DomainError(
                    _(
                        "The access this invite gives ended on %(until)s. "
                        "Ask the account owner for a new one."
                    )
                    % {"until": describe_until(until)}
                )
            if not await _take(invitation, client, user, actor=actor, now=now):
                raise InviteUnavailable()
    except Exception as exc:
        if is_unique_violation(exc):
            raise AlreadyAssociated(_("You already have access to this account.")) from exc
        raise
    return client_id


async def _acceptance_rules() -> tuple[bool, bool]:
    """The staff settings an acceptance obeys: (the invited address required, a verified
    address required)."""
    return (
        await admin_settings.flag(admin_settings.REQUIRE_INVITED_EMAIL),
        await admin_settings.flag(admin_settings.REQUIRE_VERIFIED_EMAIL),
    )


def _check_acceptor(invitation: dict, user: dict, rules: tuple[bool, bool]) -> None:
    """The settings' refusals of who accepts (a lone invitation checks the verified address
    after whether they have access already: its own message says so)."""
    invited_only, _verified_only = rules
    if invited_only and user["email_key"] != invitation["email_key"]:
        raise DomainError(
            _(
                "This invite was sent to a different email address. "
                "Log in or register with the invited address to accept it."
            )
        )


async def _take(invitation: dict, client: dict, user: dict, *, actor: Actor, now) -> bool:
    """The writing half of an acceptance, the account locked: the invitation marked accepted
    (False, nothing written, when another acceptance won), the grant it gives, the owner
    emailed, grant.created and invite.accepted told."""
    user_id, client_id = user["id"], client["id"]
    won = (
        await Invitation.update({Invitation.accepted_at: now, Invitation.accepted_by: user_id})
        .where((Invitation.id == invitation["id"]) & _is_open() & (Invitation.expires_at > now))
        .returning(Invitation.id)
    )
    if not won:
        return False
    until = invitation["access_until"]
    await Grant.insert(
        Grant(
            user=user_id,
            client=client_id,
            permissions=invitation["permissions"],
            created_at=now,
            updated_at=now,
            access_until=until,
            access_notice_sent=notice_already_sent(until, now),
        )
    )
    await close_invitations_of(user, [client_id])  # one sent to their own address
    owner = await User.select().where(User.id == client["owner"]).first()
    assert owner is not None  # the locked account's owner (a restricting foreign key)
    await enqueue(
        to=owner["email"],
        template="invite_accepted",
        context={
            "owner_first_name": owner["first_name"],
            "invitee_name": full_name(user),
            "invitee_email": user["email"],
            "account_name": display_name(client),
        },
    )
    granted = permissions.deserialize(invitation["permissions"])
    await emit(
        GrantCreated(
            client_id=client_id,
            user_id=user_id,
            permissions=granted,
            invitation_id=invitation["id"],
        ),
        actor=actor,
    )
    await emit(
        InviteAccepted(
            client_id=client_id,
            invitation_id=invitation["id"],
            user_id=user_id,
            permissions=granted,
        ),
        actor=actor,
        description=f"{full_name(user)} <{user['email']}> accepted the invite sent to "
        f"{invitation['email']} for {display_name(client)}: none -> "
        f"{invitation['permissions'].replace(',', ', ')}",
    )
    if until is not None:
        await tell_end_changed(client, user, None, until, actor=actor, source=" (from the invite)")
    return True


async def _accept_several(
    digest: str, found: list[dict], user_id: int, *, actor: Actor, now
) -> int:
    """Accepting the link of one email sent for several accounts, in the caller's transaction:
    every invitation still usable gives its grant; one whose account was closed, whose sender
    can no longer invite, or that was cancelled or sent again on its own meanwhile is skipped
    (group_outcome tells which and why). One the user needs no more (they have access already)
    is marked used, nothing granted. InviteUnavailable when none was usable."""
    clients = {}
    for client_id in sorted({row["client"] for row in found}):  # the lock order: by id
        clients[client_id] = await get_client(client_id, lock=True)
    rows = [
        row
        for row in await Invitation.select()
        .where(Invitation.group_token_hash == digest)
        .order_by(Invitation.id)
        if row["client"] in clients and usable(row, clients[row["client"]], now)
    ]
    if not rows:
        raise InviteUnavailable()
    user = await get_user(user_id, keep=True)
    invited_only, verified_only = await _acceptance_rules()
    _check_acceptor(rows[0], user, (invited_only, verified_only))
    if verified_only and user["email_verified_at"] is None:
        raise DomainError(_(VERIFY_FIRST))
    member_of = {
        row["client"]
        for row in await Grant.select(Grant.client).where(
            (Grant.user == user_id) & Grant.client.is_in(list(clients))
        )
    }
    granted, had = [], []
    for row in rows:
        client = clients[row["client"]]
        until = row["access_until"]
        if until is not None and until <= now:
            continue  # the access it gave has ended: skipped, the link still shows it
        if client["id"] in member_of:
            await Invitation.update(
                {Invitation.accepted_at: now, Invitation.accepted_by: user_id}
            ).where((Invitation.id == row["id"]) & _is_open())
            had.append(client["id"])
        elif await _take(row, client, user, actor=actor, now=now):
            granted.append(client["id"])
    if not granted and not had:
        raise InviteUnavailable()
    return (granted or had)[0]


# Open invites (pending or expired) with whether their latest email failed (of one sent for
# several accounts: the email it was sent with), in one statement.
_OPEN_INVITES_SQL = """
SELECT i.*,
  (SELECT o.status FROM outbound_emails o WHERE o.invitation IN (i.id, i.sent_with)
   ORDER BY o.id DESC LIMIT 1) AS mail_status,
  (SELECT o.last_error FROM outbound_emails o WHERE o.invitation IN (i.id, i.sent_with)
   ORDER BY o.id DESC LIMIT 1) AS mail_error
FROM invitations i
WHERE i.client = {} AND i.accepted_at IS NULL AND i.cancelled_at IS NULL AND i.id > {}
ORDER BY i.id"""

INVITES_PAGE = 25


async def open_invites(
    client_id: int, *, after: int = 0, size: int | None = None, offset: int = 0
) -> list[dict]:
    """Invites not accepted nor cancelled (pending or expired), oldest first: `size` of them
    (all if None) after invite `after`, skipping `offset`."""
    sql, args = _OPEN_INVITES_SQL, [client_id, after]
    if size is not None:
        sql, args = sql + " LIMIT {} OFFSET {}", [*args, size, offset]
    rows: list[dict] = [db.Record(row) for row in await db.read(sql, *args)]
    now = clock.now()
    for row in rows:
        row["status"] = status(row, now)
        row["permission_keys"] = permissions.deserialize(row["permissions"])
        show_until(row, now)
        row["delivery_failed"] = bool(
            row["mail_status"] not in (None, "sent") and row["mail_error"]
        )
    return rows


async def open_invites_page(
    client_id: int, *, after: int = 0, size: int = INVITES_PAGE
) -> tuple[list[dict], int | None]:
    """A page of open_invites, and the invite the next page starts after (None: the last)."""
    db.check_page_cursor(after)
    rows = await open_invites(client_id, after=after, size=size + 1)
    return rows[:size], rows[size - 1]["id"] if len(rows) > size else None


async def open_invites_slice(client_id: int, *, offset: int, limit: int) -> tuple[int, list[dict]]:
    """A slice of open_invites, as (how many in all, the slice), the way list_clients answers:
    the database pages, the limit clamped to 1..LIST_LIMIT_MAX (see clean_page)."""
    offset, limit = clean_page(offset, limit)
    total = await Invitation.count().where((Invitation.client == client_id) & _is_open())
    return total, await open_invites(client_id, size=limit, offset=offset)


async def pending_for_client(client_id: int) -> list[dict]:
    return await open_invites(client_id)


async def associate(
    client_id: int,
    *,
    actor: Actor,
    keys,
    send_invite: bool,
    user_id: int | None = None,
    email: str | None = None,
    access_until=None,
) -> Associated:
    """Admin Associate User (rule 6): an existing user without an invite is associated at once;
    a new email is always invited. `access_until`: when the access ends (None: never)."""
    keys = clean_permissions(keys)
    clean_access_until(access_until, clock.now())  # refused before anything else is looked at
    if user_id is None:
        address, _key = clean_email(email or "", "email")
        existing = await find_by_email(address)
        if existing is None:
            sent = await invite(client_id, address, keys, actor=actor, access_until=access_until)
            return Associated(True, address, "", *sent)
        user_id = existing["id"]
    user = await get_user(user_id)
    if send_invite:
        sent = await invite(client_id, user["email"], keys, actor=actor, access_until=access_until)
        return Associated(True, user["email"], full_name(user), *sent)
    await grant_access(client_id, user_id, keys, actor=actor, access_until=access_until)
    return Associated(False, user["email"], full_name(user))


async def register_and_accept(
    token: str, *, first_name: str, last_name: str, email: str, password: str, ip: str
) -> tuple[dict, int | None]:
    """A new user who accepts at once; both or neither (a dead link creates no user). While
    staff require a verified address to accept, the new user's address is not verified yet:
    the login is created, the invite stays pending (client id None) until the user verifies
    the address and opens the invite again."""
    await pending_invite(token)  # refuse a dead link before validating anything else

    async def accept_invite(user: dict) -> int | None:
        if await admin_settings.flag(admin_settings.REQUIRE_VERIFIED_EMAIL):
            return None
        return await accept(token, user["id"], actor=Actor("user", user["id"], full_name(user), ip))

    return await register_user(
        first_name=first_name,
        last_name=last_name,
        email=email,
        password=password,
        ip=ip,
        then=accept_invite,
    )


# Open invites whose expiry was not told yet; the partial index invitations_expiry_untold
# (migration 2026-12-11) holds exactly these, so the look every process makes every
# EXPIRY_CHECK seconds reads only the pending invites, not every invite that ever expired.
_UNTOLD = """accepted_at IS NULL AND cancelled_at IS NULL
  AND (expiry_announced_at IS NULL OR expiry_announced_at < expires_at)"""
# Ordered by the index's column: else PostgreSQL, which cannot tell how rare "untold" is, bets
# that a sequential scan finds a first row at once.
_ANY_EXPIRY_UNTOLD = (
    f"SELECT id FROM invitations WHERE {_UNTOLD} AND expires_at <= {{}} ORDER BY expires_at LIMIT 1"
)
_ANNOUNCE_EXPIRED = f"""
UPDATE invitations SET expiry_announced_at = {{}}
WHERE {_UNTOLD} AND expires_at <= {{}}
RETURNING id, client, email, expires_at
"""


async def announce_expired(now=None) -> int:
    """Tells the stream of changes of every open invite whose expiry has passed and was not told
    yet (invite.expired): one conditional update claims each, so of every process asking, one
    tells it, once per expiry (a resend's new expiry is told again). Returns how many were told.
    When none is due, as nearly always, it only reads: no write transaction every few seconds."""
    now = now or clock.now()
    if not await db.fetch_quick(_ANY_EXPIRY_UNTOLD, now):
        return 0
    async with db.transaction():
        rows = await Invitation.raw(_ANNOUNCE_EXPIRED, now, now)
        for row in sorted(rows, key=lambda r: r["id"]):
            await emit(
                InviteExpired(
                    client_id=row["client"],
                    invitation_id=row["id"],
                    email=row["email"],
                    expired_at=row["expires_at"],
                )
            )
    return len(rows)


def expiring_query(after, until):
    return (
        Invitation.select(Invitation.client)
        .where(_is_open() & (Invitation.expires_at > after) & (Invitation.expires_at <= until))
        .distinct()
    )


async def accounts_with_invites_expiring(after, until) -> list[int]:
    """The accounts with an open invite whose expiry falls in (after, until]: what they show as
    Pending has become Expired."""
    return [row["client"] for row in await expiring_query(after, until)]


async def forget_renewal_attempts(_now) -> int:
    """For the sweeper: the requests for a new invitation outside RENEWAL_LIMIT's window."""
    return await RENEWAL_LIMIT.sweep()
