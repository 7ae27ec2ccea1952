"""What the register forms check before anything is written: every field's problem at once.

The same rules register_user and create_client apply (app.core.validation, app.core.security), run
one after another with each refusal collected by its field, so that a person fixes everything in one
go. Nothing here replaces them: register_user checks it all again, within the registration limit
and in its transaction (someone may take the email meanwhile)."""

import asyncio
from collections.abc import Awaitable, Callable
from typing import NamedTuple

from app.core.errors import DomainError, Throttled
from app.core.i18n import N_, _
from app.core.security import check_new_password
from app.core.validation import COMPANY_MAX, clean_email, clean_name
from app.domain.users.services import find_by_email

# Marked for the catalog, translated where they are found (problems).
TERMS_REQUIRED = N_("Agree to the Terms of Service to register.")
# The email's problem when a user already has it: the forms offer Login beside it (they compare
# the problem with _(EMAIL_HAS_LOGIN)).
EMAIL_HAS_LOGIN = N_("This email already has a login.")


async def problems(
    *,
    first_name: str,
    last_name: str,
    email: str,
    password: str,
    accepted_terms: bool,
    company: str | None = None,
) -> dict[str, str]:
    """Each field's first problem, by field name (first_name, last_name, email, company,
    password, accept_tos); empty when the form may go ahead. `company` None: the form has none."""
    found: dict[str, str] = {}

    def check(field: str, rule, *args, **kwargs):
        try:
            return rule(*args, **kwargs)
        except DomainError as exc:
            found[field] = exc.message
            return None

    check("first_name", clean_name, first_name, "First name", "first_name")
    check("last_name", clean_name, last_name, "Last name", "last_name")
    cleaned = check("email", clean_email, email)
    if company is not None:
        check("company", clean_name, company, "Company name", "company", False, COMPANY_MAX)
    # The strength estimate (zxcvbn) runs off the event loop, as it does in register_user.
    inputs = [first_name, last_name, email]
    try:
        await asyncio.to_thread(check_new_password, password or "", inputs)
    except DomainError as exc:
        found["password"] = exc.message
    if cleaned is not None and await find_by_email(cleaned[0]) is not None:
        found["email"] = _(EMAIL_HAS_LOGIN)
    if not accepted_terms:
        found["accept_tos"] = _(TERMS_REQUIRED)
    return found


# What a register form's `register` gives: the new user, and the account they now reach (None:
# none yet).
Registered = tuple[dict, int | None]


class Attempt(NamedTuple):
    """What a register form's post came to: `result` when it went through, else the problems
    by field and the status to answer with; `shown` is what the form shows again (no password)."""

    result: Registered | None
    problems: dict[str, str]
    status: int
    shown: dict


async def attempt(
    form: dict,
    fields: tuple[str, ...],
    register: Callable[..., Awaitable[Registered]],
    *,
    passes: tuple[type[Exception], ...] = (),
) -> Attempt:
    """Every field is checked first and all problems answered at once; then
    `register(**values, password=...)`. A refusal from it (the limit: 429; the email taken
    meanwhile: 400) is answered with every field's problem again, or its own message; the
    errors in `passes` go through to the caller."""
    values = {k: form.get(k, "") for k in fields}
    password = form.get("password", "")
    accepted_terms = form.get("accept_tos") == "on"
    shown = {**values, "accept_tos": accepted_terms}

    async def found() -> dict[str, str]:
        return await problems(**values, password=password, accepted_terms=accepted_terms)

    first = await found()
    if first:
        return Attempt(None, first, 400, shown)
    try:
        return Attempt(await register(**values, password=password), {}, 200, shown)
    except passes:
        raise
    except DomainError as exc:
        status = 429 if isinstance(exc, Throttled) else 400
        again = status == 400 and await found()
        return Attempt(None, again or {exc.field or "form": exc.message}, status, shown)
