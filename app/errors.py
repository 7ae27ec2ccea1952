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
