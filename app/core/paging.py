"""Paged lists: which slice of a list a page shows."""

import msgspec


class Page(msgspec.Struct, frozen=True):
    """Page `number` (from 1) of `pages`, `size` rows each, out of `total` rows."""

    number: int
    pages: int
    size: int
    total: int

    @property
    def offset(self) -> int:
        return (self.number - 1) * self.size


def page_of(requested: int, *, size: int, total: int) -> Page:
    """The requested page, kept within the pages there are (past the end: the last one)."""
    pages = max(1, -(-total // size))
    return Page(number=min(max(requested, 1), pages), pages=pages, size=size, total=total)
