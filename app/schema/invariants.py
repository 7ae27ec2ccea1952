"""The invariants of accounts and their people, checked against the whole database.

Called by the tests and the soak run after concurrent work: every list it returns should be
empty. Each check is one query, the same SQL on SQLite and PostgreSQL."""

from app.core import clock, permissions
from app.schema.clients import Client

# (what must hold, the query listing the rows that break it[, the values of its {} in order])
CHECKS: list[tuple[str, str] | tuple[str, str, tuple[str, ...]]] = [
    (
        "every account has an owner who is a user",
        "SELECT c.id FROM clients c LEFT JOIN users u ON u.id = c.owner WHERE u.id IS NULL",
    ),
    (
        "the owner holds access to the account (a grant with every permission)",
        'SELECT c.id FROM clients c LEFT JOIN grants g ON g.client = c.id AND g."user" = c.owner '
        "WHERE g.id IS NULL OR g.permissions != {}",
        ("every_key",),
    ),
    (
        "no duplicate grants",
        'SELECT "user", client FROM grants GROUP BY "user", client HAVING COUNT(*) > 1',
    ),
    (
        "no pending invitation for someone who already has access",
        "SELECT i.id FROM invitations i JOIN users u ON u.email_key = i.email_key "
        'JOIN grants g ON g."user" = u.id AND g.client = i.client '
        "WHERE i.accepted_at IS NULL AND i.cancelled_at IS NULL AND i.expires_at > {}",
        ("now",),
    ),
    (
        "no invitation is both accepted and cancelled",
        "SELECT id FROM invitations WHERE accepted_at IS NOT NULL AND cancelled_at IS NOT NULL",
    ),
    (
        "at most one open invitation per account and email",
        "SELECT client, email_key FROM invitations "
        "WHERE accepted_at IS NULL AND cancelled_at IS NULL "
        "GROUP BY client, email_key HAVING COUNT(*) > 1",
    ),
    (
        "closed accounts hold no open invitations",
        "SELECT i.id FROM invitations i JOIN clients c ON c.id = i.client "
        "WHERE c.status = 'Closed' AND i.accepted_at IS NULL AND i.cancelled_at IS NULL",
    ),
    (
        "an open invitation sent by a user was sent by the account's current owner",
        "SELECT i.id FROM invitations i JOIN clients c ON c.id = i.client "
        "WHERE i.invited_by_user IS NOT NULL AND i.invited_by_user != c.owner "
        "AND i.accepted_at IS NULL AND i.cancelled_at IS NULL",
    ),
    (
        "at most one open ownership transfer per account",
        "SELECT client FROM ownership_transfers WHERE status IN ('pending', 'awaiting_approval') "
        "GROUP BY client HAVING COUNT(*) > 1",
    ),
    (
        "an open ownership transfer is from the account's owner to one of its users, "
        "on an account not closed",
        "SELECT t.id FROM ownership_transfers t JOIN clients c ON c.id = t.client "
        'LEFT JOIN grants g ON g.client = t.client AND g."user" = t.to_user '
        "WHERE t.status IN ('pending', 'awaiting_approval') "
        "AND (t.from_user != c.owner OR t.to_user = c.owner OR g.id IS NULL "
        "OR c.status = 'Closed')",
    ),
    (
        "every email is in a known state, and a sent one has its time",
        "SELECT id FROM outbound_emails "
        "WHERE status NOT IN ('queued', 'sending', 'sent', 'failed') "
        "OR (status = 'sent' AND sent_at IS NULL)",
    ),
]


async def violations() -> list[str]:
    """One line per broken invariant: what must hold, and the first rows that break it."""
    values = {"every_key": permissions.serialize(permissions.ALL_KEYS), "now": clock.now()}
    found = []
    for rule, sql, *names in CHECKS:
        rows = await Client.raw(sql, *(values[name] for name in (names[0] if names else ())))
        if rows:
            found.append(f"{rule}: {rows[:5]}")
    return found
