"""Answering a refused form with every problem at once, without losing what was typed.

A page's form has, for each field, an error slot (`<p class="error" id="{input id}-error">`) and
one error summary (role="alert"); see the `field`, `tos_checkbox` and `form_error` macros. An
htmx request gets those alone, swapped out of band, and the form itself is left as it is; a
plain post gets the whole page again."""

from litestar import Request

from app.http.plumbing.render import is_htmx, render


class FormErrors(dict):
    """A refused form's problems by field name ("form": one for the whole form). The form's
    inputs are `{prefix}-{field}`, `order` is theirs on the page: `listed` gives the summary's
    (input id, message) in that order, `first` the input that should take the focus (the first
    refused, else `fallback`: the password after a wrong one). A problem of a field the form
    does not show becomes the whole form's, so that no message is lost."""

    def __init__(self, problems=(), *, prefix: str, order: tuple, fallback: str | None = None):
        problems = dict(problems)
        stray = [problems.pop(k) for k in list(problems) if k != "form" and k not in order]
        if stray:
            problems["form"] = " ".join([problems.get("form", ""), *stray]).strip()
        super().__init__(problems)
        self.prefix, self.order, self.fallback = prefix, order, fallback

    @property
    def listed(self) -> list[tuple[str, str]]:
        return [(f"{self.prefix}-{name}", self[name]) for name in self.order if name in self]

    @property
    def first(self) -> str | None:
        listed = self.listed
        if listed:
            return listed[0][0]
        return f"{self.prefix}-{self.fallback}" if self.fallback else None

    def focus(self, name: str) -> bool:
        """Whether `name`'s input takes the focus (autofocus, on a whole page)."""
        return bool(self) and self.first == f"{self.prefix}-{name}"


# The form stays as it is (HX-Reswap: none: only the out-of-band slots are swapped) and the
# address bar too (a boosted form would push its action's URL, which answers only POST).
KEEP_THE_FORM = {"HX-Reswap": "none", "HX-Push-Url": "false"}


def refused(
    request: Request,
    template: str,
    context: dict,
    *,
    block: str,
    status: int,
    headers: dict | None = None,
):
    """A form refused. For htmx: only `block` of the page's template, rendered with oob=True
    (the form's error summary and every error slot, filled or emptied), so that every input keeps
    what was typed: passwords, a generated one, the Terms box. For a plain post: the whole page
    again, with the values (never a password) and every error."""
    headers = headers or {}
    if is_htmx(request):
        context, headers = {**context, "oob": True}, {**headers, **KEEP_THE_FORM}
        return render(request, template, context, block=block, status=status, headers=headers)
    return render(request, template, context, status=status, headers=headers)
