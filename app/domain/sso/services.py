"""Single sign-on links (WHMCS's CreateSsoToken, and POST /api/v1/users/{id}/sso-tokens): staff,
through an API credential, make a link that signs one user in, once, within a minute.

Made: for a user who is not disabled, into an account they reach that is not closed (when one is
named), landing on a path of this site. The token is 256 random bits; only its SHA-256 is stored.

Used (GET /oauth/singlesignon.php?access_token=..., the HTTP layer): one conditional UPDATE
claims it, so of any number of concurrent uses one wins; the user, their access and the account
are checked again at that moment. A link refused then is left as it was. The sign-in itself is a
normal login's (app.http.public.login.log_in_user), the Authentication Code step included: unlike
WHMCS, a link does not skip two-factor authentication."""

import re
from datetime import datetime, timedelta
from typing import NamedTuple

from app.core import clock, db
from app.core.errors import DomainError
from app.core.i18n import N_, _
from app.core.names import display_name, full_name
from app.core.security import new_token, token_hash
from app.domain.activity.services import Actor
from app.domain.clients import services as clients
from app.domain.events.catalog import SsoTokenCreated, SsoTokenUsed
from app.domain.events.stream import emit
from app.domain.users import services as users
from app.schema.sso import SsoToken

VALID_FOR = timedelta(seconds=60)  # WHMCS: "valid for a maximum of 60 seconds"
REDEEM_PATH = "/oauth/singlesignon.php"  # WHMCS's, so that links look as its callers expect

# Where a link lands, by the names WHMCS gives its destinations (those Roster has a page for).
# HOME: the client area's home, as a login chooses it (the account, or Choose Account).
HOME = ""
DESTINATIONS = {
    "clientarea:homepage": HOME,  # WHMCS's default names no destination; this is Roster's name
    "clientarea:profile": "/account/profile",  # WHMCS: My Details
    "clientarea:user_management": "/account/users",  # Roster's name (WHMCS lists none)
    "clientarea:security": "/account/security",  # Roster's name (WHMCS lists none)
}
CUSTOM_REDIRECT = "sso:custom_redirect"  # with a path of this site (sso_redirect_path)
DESTINATION_MAX = 500  # what a pending sign-in keeps of where it goes

# A path of this site: printable ASCII without spaces (anything else arrives percent-encoded),
# not "//" nor "/\" (a browser reads both as another host). As app.http.plumbing.forms.safe_next.
_LOCAL_PATH = re.compile(r"/(?![/\\])[!-~]*")
_PRINTABLE = re.compile(r"[!-~]*")
# new_token's are 43 characters; anything unlike one is no link of ours (and no query is run).
_TOKEN = re.compile(r"[A-Za-z0-9_-]{16,128}")

# Marked for the catalog, translated where they are raised.
NOT_LOCAL = N_("The destination must be a path on this site, such as /account/profile.")
NO_ACCESS = N_("This user has no access to this account.")
ACCOUNT_CLOSED = N_("This account is closed: nobody can sign in to it.")
LOGIN_DISABLED = N_("This user's login is disabled.")
LINK_INVALID = N_("This sign-in link is no longer valid.")


def unknown_destination() -> str:
    return _("Unknown destination: use %(names)s, or %(custom)s with a path of this site") % {
        "names": ", ".join(DESTINATIONS),
        "custom": CUSTOM_REDIRECT,
    }


class NoAccess(DomainError):
    """The user does not reach the account the link would open."""


def signs_in(client: dict) -> bool:
    """Whether links may sign people in to this account (WHMCS's allowSingleSignOn): not once
    it is Closed."""
    return client["status"] != "Closed"


class AccountClosed(DomainError):
    """The account the link would open is closed."""


class LinkInvalid(DomainError):
    """Used, expired, unknown, malformed, or its user or account may no longer sign in: one
    answer for every case (nothing says which)."""

    def __init__(self) -> None:
        super().__init__(_(LINK_INVALID))


def local_path(path: str) -> str:
    """A path of this site to land on, or DomainError (field "destination"). WHMCS's relative
    paths ("clientarea.php?action=details") are read from the site's root; an absolute URL, a
    scheme ("javascript:"), "//host", a backslash, a space or a control character is refused
    (a browser could read any of them as another site)."""
    if not path or len(path) > DESTINATION_MAX or not _PRINTABLE.fullmatch(path) or "\\" in path:
        raise DomainError(_(NOT_LOCAL), "destination")
    if not path.startswith("/"):
        first_segment = re.split(r"[/?#]", path, maxsplit=1)[0]
        if ":" in first_segment:  # a scheme (RFC 3986: a relative path's first segment has none)
            raise DomainError(_(NOT_LOCAL), "destination")
        path = "/" + path
    if len(path) > DESTINATION_MAX or not _LOCAL_PATH.fullmatch(path):
        raise DomainError(_(NOT_LOCAL), "destination")
    return path


def destination_for(name: str, redirect_path: str = "") -> str:
    """The path a destination named as WHMCS names them lands on (HOME when none is named), or
    DomainError (field "destination")."""
    key = name.strip().lower()
    if not key:
        return HOME
    if key == CUSTOM_REDIRECT:
        return local_path(redirect_path.strip())
    if key in DESTINATIONS:
        return DESTINATIONS[key]
    raise DomainError(unknown_destination(), "destination")


class NewLink(NamedTuple):
    token: str  # the access token: in this answer only, never stored
    url: str
    expires_at: datetime


async def create_link(
    user_id: int,
    *,
    client_id: int | None = None,
    destination: str = HOME,
    base_url: str,
    actor: Actor,
) -> NewLink:
    """A single sign-on link for the user, into `client_id` if given (an account they reach,
    not closed), landing on `destination` (a path of this site; HOME: the client area's home).
    NotFound for an unknown user or account; NoAccess, AccountClosed, or DomainError for a
    disabled user or a destination that is no path of this site."""
    destination = local_path(destination) if destination != HOME else HOME
    token, digest = new_token()
    now = clock.now()
    expires_at = now + VALID_FOR
    async with db.transaction():
        client = None
        if client_id is not None:
            # The lock order: the account first (app.domain.clients.services.get_client).
            client = await clients.get_client(client_id, lock=True)
        user = await users.get_user(user_id, keep=True)
        if user["disabled"]:
            raise DomainError(_(LOGIN_DISABLED), "user_id")
        if client is not None:
            if await clients.access_for(user["id"], client["id"]) is None:
                raise NoAccess(_(NO_ACCESS), "client_id")
            if not signs_in(client):
                raise AccountClosed(_(ACCOUNT_CLOSED), "client_id")
        await SsoToken.insert(
            SsoToken(
                token_hash=digest,
                user=user["id"],
                client=client_id,
                destination=destination,
                created_at=now,
                expires_at=expires_at,
                created_by=actor.name[:255],
            )
        )
        into = f" into {display_name(client)}" if client is not None else ""
        await emit(
            SsoTokenCreated(
                user_id=user["id"],
                client_id=client_id,
                destination=destination,
                expires_at=expires_at,
            ),
            actor=actor,
            description=f"Single sign-on link made for {full_name(user)}{into}, landing on "
            f"{destination or 'the client area home'}",
        )
    return NewLink(token, f"{base_url}{REDEEM_PATH}?access_token={token}", expires_at)


class Redeemed(NamedTuple):
    user: dict
    client_id: int | None
    destination: str  # HOME: where a login goes by itself


async def redeem(token: str, *, ip: str) -> Redeemed:
    """Uses the link of `token`: one conditional update claims it (of concurrent uses, one
    wins), then its user must still be enabled and, when it names an account, still reach it,
    and the account not be closed. LinkInvalid otherwise, with nothing changed. The caller then
    signs the user in as a login does."""
    if not _TOKEN.fullmatch(token or ""):
        raise LinkInvalid()
    now = clock.now()
    async with db.transaction():
        claimed = (
            await SsoToken.update({SsoToken.used_at: now})
            .where(
                (SsoToken.token_hash == token_hash(token))
                & SsoToken.used_at.is_null()
                & (SsoToken.expires_at > now)
            )
            .returning(SsoToken.user, SsoToken.client, SsoToken.destination)
        )
        if not claimed:
            raise LinkInvalid()
        link = claimed[0]
        user = await users.get_user(link["user"])  # there: a link goes with its user
        if user["disabled"]:
            raise LinkInvalid()  # the claim is rolled back with it
        into = ""
        if link["client"] is not None:
            client = await clients.get_client(link["client"])
            reached = await clients.access_for(user["id"], client["id"])
            if reached is None or not signs_in(client):
                raise LinkInvalid()
            into = f" into {display_name(client)}"
        name = full_name(user)
        await emit(
            SsoTokenUsed(user_id=user["id"], client_id=link["client"]),
            actor=Actor("user", user["id"], name, ip),
            description=f"{name} used a single sign-on link{into}",
        )
    return Redeemed(user, link["client"], link["destination"])


async def forget_spent(now: datetime) -> int:
    """Deletes the links that were used or have expired (the sweeper's); returns how many."""
    gone = (
        await SsoToken.delete()
        .where((SsoToken.expires_at <= now) | SsoToken.used_at.is_not_null())
        .returning(SsoToken.id)
    )
    return len(gone)
