"""What the Security page's sections (two-factor authentication, passkeys) share: whose page it
is, a staff member's or a user's, and how a section answers a form."""

from litestar import Request, Response

from app.core.errors import DomainError, Throttled
from app.domain.two_factor import services as two_factor
from app.http.plumbing.middleware import viewer_of
from app.http.plumbing.render import render, wants_fragment


def is_staff(request: Request) -> bool:
    """The staff's Security page (/admin/security…), not a user's (/account/security…)."""
    return request.url.path.startswith("/admin")


def person_of(request: Request) -> two_factor.Person:
    """The signed-in person whose Security page this is."""
    viewer = viewer_of(request)
    if is_staff(request):
        return two_factor.Person("admin", viewer.signed_in_admin["id"])
    return two_factor.Person("user", viewer.signed_in_user["id"])


def refusal_status(exc: DomainError) -> int:
    return 429 if isinstance(exc, Throttled) else 400


def section_answer(
    request: Request, section: str, page: str, context: dict, *, status: int = 200
) -> Response:
    """The section alone for htmx, else a page holding it (`page`); never stored (it may show
    codes or a ceremony's state)."""
    template = section if wants_fragment(request) else page
    return render(request, template, context, status=status, headers={"Cache-Control": "no-store"})
