"""The admin area: client accounts list and creation."""

from litestar import Request, Response, get, post
from litestar.params import FromQuery

from app.admin.services import MANAGE_USERS, role_permissions
from app.clients import services as clients
from app.errors import DomainError
from app.web.forms import read_form
from app.web.guards import admin_permission, admin_required
from app.web.middleware import viewer_of
from app.web.render import redirect, render, wants_fragment

PAGE_SIZE = 25


@get("/admin", guards=[admin_required])
async def admin_home(request: Request) -> Response:
    return redirect(request, "/admin/clients")


@get("/admin/clients", guards=[admin_required])
async def client_list(request: Request, q: FromQuery[str] = "",
                      page: FromQuery[int] = 1) -> Response:
    page = max(page, 1)
    rows, total = await clients.search_clients(q, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
    context = {
        "clients": rows, "q": q, "page": page, "total": total,
        "pages": max(1, -(-total // PAGE_SIZE)), "form": {}, "errors": {},
        "can_create": MANAGE_USERS in role_permissions(viewer_of(request).admin["role"]),
    }
    if wants_fragment(request):
        return render(request, "admin/clients/list.html", context, block="results")
    return render(request, "admin/clients/list.html", context)


@post("/admin/clients", guards=[admin_permission(MANAGE_USERS)])
async def create_client(request: Request) -> Response:
    form = await read_form(request)
    try:
        client_id = await clients.create_client(
            owner_email=form.get("owner_email", ""), owner_first=form.get("owner_first", ""),
            owner_last=form.get("owner_last", ""), company=form.get("company", ""),
            actor=viewer_of(request).actor)
    except DomainError as exc:
        return render(request, "admin/clients/create_form.html",
                      {"form": form, "errors": {exc.field or "form": exc.message}},
                      status=422)
    return redirect(request, f"/admin/clients/{client_id}/users")


ROUTES = [admin_home, client_list, create_client]
