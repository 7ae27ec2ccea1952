"""The client area's account pages: Choose Account and the account home."""

from litestar import Request, Response, get, post
from litestar.exceptions import PermissionDeniedException
from litestar.params import FromPath

from app.access import services as access
from app.auth import services as auth
from app.clients import services as clients
from app.errors import DomainError
from app.validation import COUNTRIES
from app.web.forms import read_form
from app.web.guards import account_required, permission_required, user_required
from app.web.middleware import viewer_of
from app.web.render import redirect, render


@get("/")
async def home(request: Request) -> Response:
    viewer = viewer_of(request)
    if viewer.admin and not viewer.user:
        return redirect(request, "/admin/clients")
    return redirect(request, "/account" if viewer.user else "/login")


@get("/accounts", guards=[user_required])
async def choose_account(request: Request) -> Response:
    viewer = viewer_of(request)
    accounts = await access.user_accounts(viewer.user["id"])
    return render(request, "client/accounts.html", {"accounts": accounts})


@post("/accounts/{client_id:int}/select", guards=[user_required])
async def select_account(request: Request, client_id: FromPath[int]) -> Response:
    viewer = viewer_of(request)
    accounts = {a["client_id"]: a for a in await access.user_accounts(viewer.user["id"])}
    chosen = accounts.get(client_id)
    if chosen is None or chosen["closed"]:
        raise PermissionDeniedException("You do not have access to this account.")
    await auth.select_client(viewer.session_id, client_id)
    await access.note_account_login(viewer.user["id"], client_id)
    return redirect(request, "/account")


@get("/account", guards=[account_required])
async def account_home(request: Request) -> Response:
    return render(request, "client/account.html")


# The account profile form (client area and admin): the account's names and email, then its
# contact details.
ACCOUNT_FIELDS = ("company_name", "first_name", "last_name", "email")


def profile_context(form: dict, errors: dict) -> dict:
    return {"form": form, "errors": errors, "countries": COUNTRIES}


async def save_profile_form(request: Request, client_id: int) -> tuple[dict, dict]:
    """Saves the posted account profile. Returns the values posted (every field, "" when
    absent) and the errors ({} when saved)."""
    form = await read_form(request)
    values = {k: form.get(k, "") for k in (*ACCOUNT_FIELDS, *clients.CONTACT_FIELDS)}
    try:
        await clients.update_client(
            client_id,
            **{k: values[k] for k in ACCOUNT_FIELDS},
            contact={k: values[k] for k in clients.CONTACT_FIELDS},
            actor=viewer_of(request).actor,
        )
    except DomainError as exc:
        return values, {exc.field or "form": exc.message}
    return values, {}


@get("/account/profile", guards=[permission_required("profile")])
async def profile_page(request: Request) -> Response:
    client = await clients.get_client(viewer_of(request).client["id"])
    return render(request, "client/profile.html", profile_context(client, {}))


@post("/account/profile", guards=[permission_required("profile")])
async def save_profile(request: Request) -> Response:
    values, errors = await save_profile_form(request, viewer_of(request).client["id"])
    if errors:
        return render(request, "client/profile.html", profile_context(values, errors), status=400)
    return redirect(request, "/account/profile?saved=1")


@get("/terms")
async def terms(request: Request) -> Response:
    return render(request, "client/terms.html")


ROUTES = [home, choose_account, select_account, account_home, profile_page, save_profile, terms]
