"""The Password Strength meter, answered by the server's own rule (zxcvbn, app.core.security).

The browser asks `POST /password-strength` 300 ms after typing stops (htmx, from the
new_password_field macro) instead of loading an 822 KB estimator. The answer is the meter
fragment: the score 0-4 and its label, with " (too easy to guess)" exactly when the server would
refuse the password for its score. No database access; anyone may ask (register, invite and
reset pages are used logged out); CSRF applies as to every POST."""

import asyncio
import re

from litestar import Request, Response, post

from app.core.errors import DomainError
from app.core.i18n import N_, _, ngettext
from app.core.policy import Permission
from app.core.security import (
    MAX_PASSWORD_LENGTH,
    MIN_PASSWORD_LENGTH,
    MIN_PASSWORD_SCORE,
    check_new_password,
    password_score,
)
from app.core.validation import EMAIL_MAX, NAME_MAX
from app.http.plumbing.forms import read_form
from app.http.plumbing.render import templates

LABELS = (N_("Very weak"), N_("Weak"), N_("Fair"), N_("Strong"), N_("Very strong"))
EMPTY_LABEL = N_("Enter a Password")
# zxcvbn 4.5 refuses to score more than 72 characters (ValueError).
ZXCVBN_MAX = 72
# The form around the password field comes along (htmx posts an input's enclosing form): its
# biggest fields, percent-encoded, stay far below this.
BODY_LIMIT = 16 * 1024
# What the server compares the password with when it decides (users.services): the names and the
# email typed in the same form.
USER_INPUTS = {"first_name": NAME_MAX, "last_name": NAME_MAX, "email": EMAIL_MAX}
_METER_ID = re.compile(r"[a-z][a-z0-9_-]{0,19}")

# The same markup as the meter in macros.html's new_password_field, with the answer filled in.
METER = templates.from_string(
    """<div class="strength-meter" id="{{ prefix }}-strength" data-score="{{ score }}">
    <div class="strength-bar"><span></span></div>
    <p class="small" id="{{ prefix }}-strength-text" aria-live="polite">{{ heading }} \
<span class="strength-label">{{ label }}</span></p>
  </div>"""
)


def _score(password: str, user_inputs: list[str]) -> int:
    try:
        return password_score(password, user_inputs)
    except ValueError:  # longer than zxcvbn takes: its first characters decide
        return password_score(password[:ZXCVBN_MAX], user_inputs)


def assess(password: str, user_inputs: list[str]) -> tuple[int, str]:
    """(score, label) as the meter shows them, in the request's language; the suffix says why
    the server would refuse."""
    if not password:
        return -1, _(EMPTY_LABEL)
    score = _score(password, user_inputs)
    label = _(LABELS[score])
    if score < MIN_PASSWORD_SCORE:
        return score, _("%(label)s (too easy to guess)") % {"label": label}
    try:
        check_new_password(password, user_inputs)  # the server's rule, as it stands
    except DomainError:
        if len(password) < MIN_PASSWORD_LENGTH:
            return score, ngettext(
                "%(label)s (too short: at least %(num)d character)",
                "%(label)s (too short: at least %(num)d characters)",
                MIN_PASSWORD_LENGTH,
            ) % {"label": label, "num": MIN_PASSWORD_LENGTH}
        if len(password) > MAX_PASSWORD_LENGTH:
            return score, ngettext(
                "%(label)s (too long: at most %(num)d character)",
                "%(label)s (too long: at most %(num)d characters)",
                MAX_PASSWORD_LENGTH,
            ) % {"label": label, "num": MAX_PASSWORD_LENGTH}
        return score, _("%(label)s (too easy to guess)") % {"label": label}
    except ValueError:
        pass  # zxcvbn's own limit (see _score): the score above stands
    return score, label


@post(
    "/password-strength",
    status_code=200,
    request_max_body_size=BODY_LIMIT,
    permission=Permission.PUBLIC,
)
async def password_strength(request: Request) -> Response:
    form = await read_form(request)
    prefix = form.get("meter") or "f"
    if not _METER_ID.fullmatch(prefix):
        raise DomainError(_("Unknown strength meter."), "meter")
    # At most one character past the limit: enough to say it is too long, never more work.
    password = (form.get("password") or "")[: MAX_PASSWORD_LENGTH + 1]
    user_inputs = [(form.get(k) or "")[:limit] for k, limit in USER_INPUTS.items()]
    score, label = await asyncio.to_thread(assess, password, [u for u in user_inputs if u])
    return Response(
        METER.render(prefix=prefix, score=score, label=label, heading=_("Password Strength:")),
        media_type="text/html",
        headers={"Cache-Control": "no-store"},
    )


ROUTES = [password_strength]
