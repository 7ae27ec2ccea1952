"""Domain errors: raised by services, shown to people as clear messages."""


class DomainError(Exception):
    """A rule refused the change. `field` names the form field at fault, when there is one."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class NotFound(DomainError):
    pass


class Forbidden(DomainError):
    pass


class Throttled(DomainError):
    """A limit was reached: answered with 429 and, when known, when to try again."""

    def __init__(self, message: str, retry_after: int = 60, field: str | None = None) -> None:
        super().__init__(message, field)
        self.retry_after = retry_after


class NotSignedIn(Exception):
    """The request has no signed-in person (or session) where its route's permission promised
    one (app.core.policy): answered as the guard would have, with the login page. Not a
    DomainError, which handlers catch to show a rule's message."""


class NoCurrentAccount(Exception):
    """The signed-in user has no current account where the route's permission promised one:
    answered as the guard would have, with Choose Account."""
