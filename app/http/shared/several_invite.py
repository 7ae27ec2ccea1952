"""Invite to several accounts, for staff (from an account's Users tab, adding other accounts by
number) and for an owner (the accounts they own): one address, each account with the
permissions for all or its own, one email (invitations.invite_to_accounts)."""

from litestar import Request, Response

from app.core.errors import DomainError, Forbidden
from app.core.i18n import _, ngettext
from app.core.validation import parse_id
from app.domain.access import services as access
from app.domain.clients.services import display_name, get_client
from app.domain.invitations import services as invitations
from app.http.plumbing.forms import read_form, read_list
from app.http.plumbing.middleware import viewer_of
from app.http.plumbing.render import flash, render, wants_fragment
from app.http.shared.account_users import chosen_keys, offered_presets

TEMPLATE = "shared/several_invite.html"
FIELDS = ("email", "accounts", "permissions", "access_until", "add_accounts")


async def owned_accounts(user_id: int) -> list[dict]:
    """What an owner may invite to: the open accounts they own, as (id, name)."""
    return [
        {"id": a["client_id"], "name": a["name"]}
        for a in await access.user_accounts(user_id)
        if a["is_owner"] and not a["closed"]
    ]


async def _accounts_by_number(text: str, known: list[dict]) -> list[dict]:
    """Staff's Add accounts: account numbers separated by commas or spaces, each read; an unknown
    one refused by name (field add_accounts)."""
    have = {a["id"] for a in known}
    added = []
    for item in text.replace(",", " ").replace(";", " ").split()[: invitations.SEVERAL_MAX]:
        client_id = parse_id(item.removeprefix("#"))
        if client_id is None:
            raise DomainError(
                _("“%(item)s” is not an account number.") % {"item": item[:40]}, "add_accounts"
            )
        if client_id in have:
            continue
        try:
            client = await get_client(client_id)
        except DomainError as exc:
            raise DomainError(
                _("There is no account #%(number)s.") % {"number": client_id}, "add_accounts"
            ) from exc
        have.add(client_id)
        added.append(
            {"id": client_id, "name": display_name(client), "closed": client["status"] == "Closed"}
        )
    return added


async def _offered(request: Request, form: dict, *, area: str, client_id: int) -> list[dict]:
    """The accounts the form lists: an owner's own; for staff, the account they started from and
    those added (the form carries them as `offered`)."""
    if area == "client":
        return await owned_accounts(viewer_of(request).signed_in_user["id"])
    first = await get_client(client_id)
    offered = [
        {"id": client_id, "name": display_name(first), "closed": first["status"] == "Closed"}
    ]
    carried = " ".join(form.get("offered_list", "").split(","))
    return offered + await _accounts_by_number(carried, offered)


async def context(request: Request, client_id: int, *, base: str, area: str) -> dict:
    client = await get_client(client_id)
    return {
        "presets": await offered_presets(request),
        "client": client,
        "client_name": display_name(client),
        "base": base,
        "area": area,
        "form": {"accounts": [str(client_id)]},
        "errors": {},
        "accounts": [],
        "most": invitations.SEVERAL_MAX,
        "sent": None,
    }


async def page(request: Request, client_id: int, *, base: str, area: str) -> Response:
    shown = await context(request, client_id, base=base, area=area)
    await access.check_manager(viewer_of(request).actor, shown["client"])
    shown["accounts"] = await _offered(request, {}, area=area, client_id=client_id)
    return render(request, TEMPLATE, shown)


async def _wanted(form: dict, request: Request, chosen: list[str]) -> list[invitations.ForAccount]:
    """Each ticked account with its keys: its own scope's (`scope-<id>`, `permissions-<id>`),
    or, for "same", those of the scope for all."""
    for_all = None
    wanted = []
    for item in chosen:
        client_id = parse_id(item)
        if client_id is None:
            raise DomainError(_("Choose accounts from the list."), "accounts")
        own = form.get(f"scope-{client_id}") or "same"
        if own == "same":
            if for_all is None:
                ticked = await read_list(request, "permissions")
                for_all = await chosen_keys(form, ticked)
            keys = for_all
        else:
            keys = await chosen_keys(
                {"scope": own}, await read_list(request, f"permissions-{client_id}")
            )
        wanted.append(invitations.ForAccount(client_id, keys))
    return wanted


async def run(request: Request, client_id: int, *, base: str, area: str) -> Response:
    """Send (or, for staff's Add accounts, the form again with those accounts listed): the
    page's region (the whole page without htmx), with what was refused beside its field."""
    shown = await context(request, client_id, base=base, area=area)
    form = await read_form(request)
    chosen = await read_list(request, "accounts")
    shown["form"] = {**form, "accounts": chosen}
    for name in form:  # the boxes, as lists, to show them ticked again
        if name.startswith("permissions"):
            shown["form"][name] = await read_list(request, name)
    try:
        await access.check_manager(viewer_of(request).actor, shown["client"])
        shown["accounts"] = await _offered(request, form, area=area, client_id=client_id)
        # Add (also Enter in any field: the form's first button) with numbers typed adds them;
        # with none, it sends.
        if form.get("action") == "add" and area == "admin" and form.get("add_accounts", "").strip():
            added = await _accounts_by_number(form.get("add_accounts", ""), shown["accounts"])
            shown["accounts"] += added
            shown["form"]["accounts"] = chosen + [str(a["id"]) for a in added if not a["closed"]]
            shown["form"]["add_accounts"] = ""
            return _answer(request, shown)
        sent = await invitations.invite_to_accounts(
            form.get("email", ""),
            await _wanted(form, request, chosen),
            actor=viewer_of(request).actor,
            access_until=form.get("access_until") or None,
        )
    except Forbidden:
        raise  # a tampered form: the error page, not an inline error
    except DomainError as exc:
        field = exc.field if exc.field in FIELDS else "form"
        shown["errors"] = {field: exc.message}
        return _answer(request, shown, status=422)
    flash(
        request,
        ngettext(
            "Invite sent to %(email)s for %(num)d account: %(accounts)s.",
            "Invite sent to %(email)s for %(num)d accounts: %(accounts)s.",
            len(sent.account_names),
        )
        % {
            "email": sent.email,
            "num": len(sent.account_names),
            "accounts": ", ".join(sent.account_names),
        },
    )
    shown.update(sent=sent, form={"accounts": [str(client_id)]})
    return _answer(request, shown)


def _answer(request: Request, shown: dict, status: int = 200) -> Response:
    block = "several" if wants_fragment(request) else None
    return render(request, TEMPLATE, shown, block=block, status=status)
