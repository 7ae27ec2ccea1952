"""The account profile form, shown by the client area (Account Details) and the admin area
(the client's Profile tab)."""

from litestar import Request

from app.core import i18n
from app.core.errors import DomainError
from app.core.i18n import N_, _
from app.core.stale import Stale
from app.core.validation import CONTACT_LABELS, COUNTRIES
from app.domain.clients import services as clients
from app.http.plumbing.forms import read_form
from app.http.plumbing.middleware import viewer_of
from app.http.plumbing.stale import OPENED, conflict, opened_field, read_opened, told

# The account's names and email, then its contact details.
ACCOUNT_FIELDS = ("company_name", "first_name", "last_name", "email")
# Every field of the form (clients.PROFILE_FIELDS) as it names them (marked: translated when said).
PROFILE_LABELS = {
    "company_name": N_("Company Name"),
    "first_name": N_("First Name"),
    "last_name": N_("Last Name"),
    "email": N_("Email Address"),
    **CONTACT_LABELS,
    "require_two_factor": clients.REQUIRE_TWO_FACTOR_LABEL,
}
# The form's text fields (all but the checkbox).
TEXT_FIELDS = tuple(k for k in clients.PROFILE_FIELDS if k != "require_two_factor")


def profile_context(
    form: dict, errors: dict, *, opened: str | None = None, stale: dict | None = None
) -> dict:
    """The form showing `form`. `opened`: the version it carries (by default that of `form`,
    an account as read); `stale`: what a refused save says changed."""
    if opened is None:
        opened = opened_field({k: form.get(k) for k in clients.PROFILE_FIELDS})
    return {
        "form": form,
        "errors": errors,
        "countries": i18n.country_names(COUNTRIES),
        # Refused for want of the owner's own two-factor: the field links to Security.
        "needs_own_two_factor": errors.get("require_two_factor")
        == i18n.gettext(clients.OWNER_NEEDS_TWO_FACTOR),
        "opened": opened,
        "stale": stale,
    }


async def save_profile_form(
    request: Request, client_id: int, *, can_require: bool
) -> tuple[dict | None, int]:
    """Saves the posted account profile, a compare-and-set: only while the account's profile is
    still what the form was opened on. Returns None when saved; else the form to show again
    (profile_context) and its status: 400, a value refused (what was typed, and the version it
    was opened on); 409, stale (the values now with the person's changes on top, the version
    now, and what changed). `can_require`: the form carries the two-factor checkbox for the
    viewer to change (an unticked box arrives as nothing: off); without it, unchanged."""
    form = await read_form(request)
    values: dict = {k: form.get(k, "") for k in TEXT_FIELDS}
    if can_require:
        values["require_two_factor"] = form.get("require_two_factor") == "on"
    try:
        opened = read_opened(form)
        await clients.update_client(
            client_id,
            **{k: values[k] for k in ACCOUNT_FIELDS},
            contact={k: values[k] for k in clients.CONTACT_FIELDS},
            require_two_factor=values.get("require_two_factor"),
            actor=viewer_of(request).actor,
            opened=opened,
        )
    except Stale as exc:
        found = conflict(opened, exc.current, values)
        said = told(
            found,
            PROFILE_LABELS,
            _("Someone changed this account's details while you were editing: %(changes)s."),
        )
        return profile_context(found.merged, {}, opened=opened_field(exc.current), stale=said), 409
    except DomainError as exc:
        errors = {exc.field or "form": exc.message}
        if "require_two_factor" not in values:  # shown as it is
            current = await clients.get_client(client_id)
            values["require_two_factor"] = current["require_two_factor"]
        return profile_context(values, errors, opened=form.get(OPENED) or ""), 400
    return None, 200
