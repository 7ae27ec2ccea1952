"""The account profile form, shown by the client area (Account Details) and the admin area
(the client's Profile tab)."""

from litestar import Request

from app.core.errors import DomainError
from app.core.validation import COUNTRIES
from app.domain.clients import services as clients
from app.http.plumbing.forms import read_form
from app.http.plumbing.middleware import viewer_of

# The account's names and email, then its contact details.
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
