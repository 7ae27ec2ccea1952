"""The moment a process starts to stop. `roster serve` tells this module when it begins a graceful
shutdown (before it waits for open requests to finish), so that what would hold a request open
for ever, such as a live-update stream, can end first."""

from collections.abc import Callable

_when_draining: list[Callable[[], None]] = []


def when_draining(callback: Callable[[], None]) -> None:
    """Calls `callback` (no arguments, on the event loop's thread) when the shutdown begins; once,
    however often it is registered (each app's startup registers its own again)."""
    if callback not in _when_draining:
        _when_draining.append(callback)


def start_draining() -> None:
    for callback in list(_when_draining):
        callback()
