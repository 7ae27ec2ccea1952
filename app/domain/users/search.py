"""User search by prefix, on indexed keys: Manage Users and Associate User.

Each typed word must be the start of the first name, the last name, the email, or the part of
the email after its '@' (a word typed as "@exam" looks at that part only). Words are compared
folded: names through `name_key` (case-folded, accents dropped: "jose" finds "José"), emails
the way `app.core.validation.email_key` folds them (case-folded, accents kept). A valid email
address typed whole finds that address only (equality on the unique `email_key`); "123" or
"#123" finds user #123 (and, without '#', also the emails starting with 123).

A prefix is compared as a range, `key >= 'abc' AND key < 'abd'`, never LIKE: a plain btree
serves it on both engines (in code-point order: SQLite's BINARY collation, PostgreSQL's
COLLATE "C" on these columns), and '%', '_' and '\\' typed are plain characters, nothing to
escape.
"""

import unicodedata
from dataclasses import dataclass, field

from piccolo.query.methods.raw import Raw

from app.core import db
from app.core.validation import clean_search, email_key, parse_id
from app.schema.users import User, name_key

# Manage Users: below this many rows matching a word, the ids are collected through the key
# indexes and sorted; from it, walking the primary key and filtering finds a page sooner.
DENSE_FROM = 4000
# With several words, a word matching many may still be the way in: together they match
# far fewer, and the primary-key walk would read many rows to fill a page.
DENSE_FROM_SEVERAL = 20000
LISTED = "id, first_name, last_name, email, totp_enabled, last_login_at, last_login_ip, disabled"


def after_prefix(prefix: str) -> str | None:
    """The smallest string greater than every string starting with `prefix`, in code-point
    order (None: there is none)."""
    chars = list(prefix)
    while chars:
        code = ord(chars[-1]) + 1
        if code <= 0x10FFFF:
            chars[-1] = chr(0xE000 if 0xD800 <= code <= 0xDFFF else code)
            return "".join(chars)
        chars.pop()
    return None


def _fold_email(word: str) -> str:
    return unicodedata.normalize("NFKC", word).casefold()


@dataclass
class Word:
    """One typed word, and the (column, prefix) pairs any of which it may match."""

    text: str
    branches: list[tuple[str, str]]

    @property
    def weight(self) -> int:
        return max(len(prefix) for _, prefix in self.branches)


@dataclass
class Search:
    """A typed query, understood: all users, one id, one exact email, or words."""

    user_id: int | None = None
    email_key: str | None = None
    words: list[Word] = field(default_factory=list)
    everyone: bool = False


def parse(query: str) -> Search:
    """Raises DomainError (from clean_search) for control characters or an overlong query."""
    query = clean_search(query)
    if not query:
        return Search(everyone=True)
    if query.startswith("#"):
        return Search(user_id=parse_id(query[1:]) or 0)
    if " " not in query and "@" in query[1:] and _is_address(query):
        return Search(email_key=email_key(query))
    words = []
    for text in query.split():
        email = _fold_email(text)
        if text.startswith("@"):
            branches = [("email_domain_key", email.lstrip("@"))]
        elif "@" in text:
            branches = [("email_key", email)]
        else:
            names = name_key(text)
            branches = [
                ("first_name_key", names),
                ("last_name_key", names),
                ("email_key", email),
                ("email_domain_key", email),
            ]
        branches = [(column, prefix) for column, prefix in branches if prefix]
        if branches:
            words.append(Word(text, branches))
    return Search(user_id=parse_id(query), words=words, everyone=not words)


def _is_address(query: str) -> bool:
    from app.core.errors import DomainError
    from app.core.validation import clean_email

    try:
        clean_email(query)
    except DomainError:
        return False
    return True


class Sql:
    """SQL text with Piccolo's {} placeholders, and its arguments, built up in order."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.args: list = []

    def add(self, text: str, *args) -> "Sql":
        self.parts.append(text)
        self.args.extend(args)
        return self

    def range(self, column: str, prefix: str) -> "Sql":
        high = after_prefix(prefix)
        if high is None:
            return self.add(f"{column} >= {{}}", prefix)
        return self.add(f"({column} >= {{}} AND {column} < {{}})", prefix, high)

    def word(self, word: Word) -> "Sql":
        self.add("(")
        for n, (column, prefix) in enumerate(word.branches):
            if n:
                self.add(" OR ")
            self.range(column, prefix)
        return self.add(")")

    def words(self, words: list[Word]) -> "Sql":
        for word in words:
            self.add(" AND ").word(word)
        return self

    def raw(self) -> Raw:
        return User.raw("".join(self.parts), *self.args)

    async def fetch(self) -> list[dict]:
        """The rows, read the short way (app.core.db.read): for a page's reads by key."""
        return await db.read("".join(self.parts), *self.args)


# Associate User ------------------------------------------------------------------------------

# What each branch orders by, after the key it matched: the same tail for all, so that the
# first rows of each branch include the first rows overall (see candidates). Each is the order
# of that key's index, which holds every other key too (roster_2026_12_02): a branch reads its
# index only, and the names to show are fetched for its few rows at the end.
_BRANCH_ORDER = {
    "first_name_key": "first_name_key, last_name_key, id",
    "last_name_key": "last_name_key, first_name_key, id",
    "email_key": "email_key",
    "email_domain_key": "email_domain_key, first_name_key, last_name_key, id",
}
_KEYS = "id, first_name_key, last_name_key"
# Several words: each combination of one key per word is a branch of its own. A first-name and
# a last-name range together walk the pair's index from its start when the other key's range is
# pinned to one value: the probe lists up to VALUES of the names each name range holds.
VALUES = 8
# The probe counts each range's users up to COUNT_TO: a branch is walked on its smallest range.
COUNT_TO = 2000
# A way whose every range holds COUNT_TO users or more, and no name pinned, has no short walk:
# its walk stops after SCAN index entries (see candidates).
SCAN = 2000
# Beyond this many combinations (three words or more), the most telling word drives instead.
COMBINATIONS = 40


def combinations(words: list[Word]) -> list[dict[str, str]]:
    """Each way the words can match, one key per word: {column: prefix}, the prefixes on one
    column merged (the longer, when one starts the other; no way at all otherwise)."""
    ways: list[dict[str, str]] = [{}]
    for word in words:
        grown = []
        for way in ways:
            for column, prefix in word.branches:
                held = way.get(column)
                if held is None or held.startswith(prefix):
                    merged = held or prefix
                elif prefix.startswith(held):
                    merged = prefix
                else:
                    continue
                new = {**way, column: merged}
                if new not in grown:
                    grown.append(new)
        ways = grown
        if len(ways) > COMBINATIONS:
            return []
    return ways


def probe_ranges_query(ranges: list[tuple[str, str]], valued: list[tuple[str, str]]) -> Raw:
    """One statement: for each range in `ranges`, how many users it holds (up to COUNT_TO); for
    each in `valued`, the first VALUES + 1 distinct keys in it (a skip from key to key through
    the index). Rows (r, value, count): r the range's position in `ranges`, or 1000 + its
    position in `valued`."""
    sql = Sql()
    ctes = []
    for n, (column, prefix) in enumerate(valued):
        high = after_prefix(prefix)
        cte = Sql().add(f"v{n}(k, n) AS (SELECT (SELECT {column} FROM users WHERE ")
        cte.range(column, prefix)
        cte.add(f" ORDER BY {column} LIMIT 1), 1 UNION ALL SELECT (SELECT {column} FROM users")
        cte.add(f" WHERE {column} > v{n}.k")
        if high is not None:
            cte.add(f" AND {column} < {{}}", high)
        cte.add(f" ORDER BY {column} LIMIT 1), v{n}.n + 1 FROM v{n}")
        cte.add(f" WHERE v{n}.k IS NOT NULL AND v{n}.n <= {{}})", VALUES)
        ctes.append(cte)
    if ctes:
        sql.add("WITH RECURSIVE ")
        for n, cte in enumerate(ctes):
            sql.add(", " if n else "").add("".join(cte.parts), *cte.args)
        sql.add(" ")
    selects = []
    for n, (column, prefix) in enumerate(ranges):
        select = Sql().add(
            f"SELECT {n} AS r, CAST(NULL AS VARCHAR(255)) AS value, (SELECT count(*) FROM"
            " (SELECT 1 FROM users WHERE "
        )
        select.range(column, prefix).add(" LIMIT {}) AS c) AS count", COUNT_TO)
        selects.append(select)
    for n in range(len(valued)):
        selects.append(
            Sql().add(f"SELECT {1000 + n}, k, CAST(NULL AS INTEGER) FROM v{n} WHERE k IS NOT NULL")
        )
    for n, select in enumerate(selects):
        sql.add(" UNION ALL " if n else "").add("".join(select.parts), *select.args)
    return sql.raw()


def _condition(sql: Sql, way: dict[str, str], skip: tuple[str, ...] = ()) -> Sql:
    for column, prefix in way.items():
        if column not in skip:
            sql.add(" AND ").range(column, prefix)
    return sql


def combination_branches(
    ways: list[dict[str, str]], counts: dict, values: dict, limit: int, capped: list | None
) -> list[Sql]:
    """The branches for the ways words match (see candidates_query). A way with no short walk
    reads at most SCAN entries when `capped` is a list (True appended to it if there is one)."""
    branches = []
    for way in ways:
        pinned = None
        if "first_name_key" in way and "last_name_key" in way:
            options = [
                (len(values[(c, way[c])]), c)
                for c in ("first_name_key", "last_name_key")
                if len(values.get((c, way[c]), ())) <= VALUES
            ]
            if options:
                pinned = min(options)[1]
        if pinned is not None:
            other = "last_name_key" if pinned == "first_name_key" else "first_name_key"
            for value in values[(pinned, way[pinned])]:
                branch = Sql().add(
                    f"SELECT {_KEYS}, {pinned} AS matched FROM users WHERE {pinned} = {{}}",
                    value,
                )
                _condition(branch, way, (pinned,))
                branch.add(f" ORDER BY {other}, id LIMIT {{}}", limit)
                branches.append(branch)
            continue
        order = ["first_name_key", "last_name_key", "email_domain_key", "email_key"]
        driving = min((c for c in way), key=lambda c: (counts[(c, way[c])], order.index(c)))
        branch = Sql()
        if capped is not None and len(way) > 1 and counts[(driving, way[driving])] >= COUNT_TO:
            capped.append(True)
            keys = ", ".join(dict.fromkeys([*_KEYS.split(", "), *way]))
            branch.add(f"SELECT {_KEYS}, {driving} AS matched FROM (SELECT {keys} FROM users")
            branch.add(" WHERE ").range(driving, way[driving])
            branch.add(f" ORDER BY {_BRANCH_ORDER[driving]} LIMIT {{}}) AS s WHERE 1 = 1", SCAN)
        else:
            branch.add(f"SELECT {_KEYS}, {driving} AS matched FROM users WHERE ")
            branch.range(driving, way[driving])
        _condition(branch, way, (driving,))
        branch.add(f" ORDER BY {_BRANCH_ORDER[driving]} LIMIT {{}}", limit)
        branches.append(branch)
    return branches


def candidates_query(
    search: Search,
    limit: int,
    *,
    counts: dict | None = None,
    values: dict | None = None,
    capped: list | None = None,
) -> Raw | None:
    """Associate User's one statement: a UNION ALL of a few branches, each walking one key
    index in order, reading that index only, and stopping at `limit` rows; then the names of
    those few rows. With one word, a branch per key it may match. With several, a branch per
    way they may match together (`combinations`), on the ranges the probe (`counts`, `values`)
    found smallest; without the probe, or with too many ways, the word with the longest prefix
    drives, one branch per key it may match, the other words checked on the way. Plus the
    typed id and the exact email, if any."""
    branches = []
    if search.user_id is not None:
        branches.append(
            Sql().add(f"SELECT {_KEYS}, '' AS matched FROM users WHERE id = {{}}", search.user_id)
        )
    if search.email_key is not None:
        branches.append(
            Sql().add(
                f"SELECT {_KEYS}, email_key AS matched FROM users WHERE email_key = {{}}",
                search.email_key,
            )
        )
    if len(search.words) > 1 and counts is not None:
        ways = combinations(search.words)
        branches += combination_branches(ways, counts, values or {}, limit, capped)
    elif search.words:
        driving = max(search.words, key=lambda w: w.weight)
        others = [w for w in search.words if w is not driving]
        for column, prefix in driving.branches:
            branch = Sql().add(f"SELECT {_KEYS}, {column} AS matched FROM users WHERE ")
            branch.range(column, prefix).words(others)
            branch.add(f" ORDER BY {_BRANCH_ORDER[column]} LIMIT {{}}", limit)
            branches.append(branch)
    if not branches:
        return None
    sql = Sql().add(
        "SELECT u.id, u.first_name, u.last_name, u.email, b.first_name_key, b.last_name_key,"
        " b.matched FROM ("
    )
    for n, branch in enumerate(branches):
        if n:
            sql.add(" UNION ALL ")
        sql.add("SELECT * FROM (").add("".join(branch.parts), *branch.args).add(f") AS b{n}")
    return sql.add(") AS b JOIN users AS u ON u.id = b.id").raw()


def combinations_possible(words: list[Word]) -> bool:
    """Whether the words are few enough for a branch per way they may match."""
    ways: list[dict] = [{}]
    for word in words:
        ways = [w for w in ways for _ in word.branches]
        if len(ways) > COMBINATIONS:
            return False
    return True


async def probe(search: Search) -> tuple[dict | None, dict | None]:
    """For several words: the counts of their ranges and the names in their name ranges."""
    if len(search.words) < 2 or not combinations_possible(search.words):
        return None, None
    ways = combinations(search.words)
    ranges, valued = [], []
    for way in ways:
        for column, prefix in way.items():
            if (column, prefix) not in ranges:
                ranges.append((column, prefix))
            pair = "first_name_key" in way and "last_name_key" in way
            named = column in ("first_name_key", "last_name_key")
            if pair and named and (column, prefix) not in valued:
                valued.append((column, prefix))
    if not ranges:
        return {}, {}
    counts: dict = {}
    values: dict = {r: [] for r in valued}
    for row in await probe_ranges_query(ranges, valued):
        if row["r"] >= 1000:
            values[valued[row["r"] - 1000]].append(row["value"])
        else:
            counts[ranges[row["r"]]] = row["count"]
    return counts, values


async def candidates(query: str, limit: int = 8) -> list[dict]:
    """Users for Associate User's type-ahead: the first `limit` by the key they matched (then
    first name, last name, id), listed by name. Nothing for under two characters (but an id)."""
    search = parse(query)
    if search.everyone or (search.user_id is None and len(query.replace(" ", "")) < 2):
        return []
    counts, values = await probe(search)
    capped: list = []
    select = candidates_query(search, limit, counts=counts, values=values, capped=capped)
    if select is None:
        return []
    rows = await select
    if capped and len({row["id"] for row in rows}) < limit:
        # Fewer than asked for, and some walk stopped short: walk them all the way.
        walked = candidates_query(search, limit, counts=counts, values=values)
        assert walked is not None  # the first query's search and probe: the same branches
        rows = await walked
    best: dict[int, tuple] = {}
    for row in rows:
        rank = (row["matched"], row["first_name_key"], row["last_name_key"], row["id"])
        if row["id"] not in best or rank < best[row["id"]][0]:
            best[row["id"]] = (rank, row)
    picked = [row for _, row in sorted(best.values(), key=lambda pair: pair[0])[:limit]]
    picked.sort(key=lambda r: (r["first_name_key"], r["last_name_key"], r["id"]))
    for row in picked:
        for column in ("matched", "first_name_key", "last_name_key"):
            row.pop(column)
    return picked


# Manage Users --------------------------------------------------------------------------------


def probe_query(words: list[Word], limit: int = DENSE_FROM) -> Raw:
    """How many users each word matches, counting no further than `limit`: index-only range
    counts, at most `limit` entries read per word."""
    sql = Sql().add("SELECT ")
    for n, word in enumerate(words):
        if n:
            sql.add(", ")
        sql.add("(SELECT count(*) FROM (")
        for b, (column, prefix) in enumerate(word.branches):
            if b:
                sql.add(" UNION ALL ")
            sql.add("SELECT 1 FROM users WHERE ").range(column, prefix)
        sql.add(f" LIMIT {{}}) AS w{n}) AS w{n}", limit)
    return sql.raw()


def page_query(search: Search, *, after: int, size: int, driving: Word | None = None) -> Raw:
    """Manage Users' page: up to `size` users with ids above `after`, in id order.

    With a `driving` word, that word's matches are collected through the key indexes (one
    range per key) and the rest checked on them: for words matching few users. Without one,
    the primary key is walked from `after` and every word checked on each row: for words
    matching many, where a page is soon filled."""
    sql = Sql().add(f"SELECT {LISTED} FROM users WHERE id > {{}}", after)
    if search.user_id is not None:
        sql.add(" AND id = {}", search.user_id)
    elif search.email_key is not None:
        sql.add(" AND email_key = {}", search.email_key)
    elif driving is not None:
        # Each range read from its covering index only, the other words checked there too; the
        # first `size` ids of those found, then their rows.
        others = [w for w in search.words if w is not driving]
        sql.add(" AND id IN (SELECT id FROM (")
        for b, (column, prefix) in enumerate(driving.branches):
            if b:
                sql.add(" UNION ")
            sql.add("SELECT id FROM users WHERE ").range(column, prefix)
            sql.add(" AND id > {}", after).words(others)
        sql.add(") AS m ORDER BY id LIMIT {})", size)
    elif search.words:
        # The unary + keeps SQLite from reaching for the key indexes here (harmless text
        # concatenation of nothing on PostgreSQL would do the same; the planner there already
        # walks the primary key when a word matches many).
        sql.add(" AND ").add("(")
        for n, word in enumerate(search.words):
            if n:
                sql.add(" AND ")
            sql.word(word)
        sql.add(")")
    return sql.add(" ORDER BY id LIMIT {}", size).raw()


async def manage_page(query: str, *, after: int = 0, size: int = 25) -> tuple[list[dict], bool]:
    """Manage Users: the users after id `after` matching the query, `size` at most, and
    whether more follow. No count: one probe (for words) and one page query."""
    search = parse(query)
    if search.user_id is not None:
        search = Search(user_id=search.user_id)  # "123" or "#123": that user only
    driving = await driving_word(search)
    rows = await page_query(search, after=max(after, 0), size=size + 1, driving=driving)
    return rows[:size], len(rows) > size


async def driving_word(search: Search) -> Word | None:
    """The word matching fewest users, if it matches fewer than DENSE_FROM (one word) or
    DENSE_FROM_SEVERAL (see page_query)."""
    if not search.words:
        return None
    dense = DENSE_FROM if len(search.words) == 1 else max(DENSE_FROM, DENSE_FROM_SEVERAL)
    counts = list((await probe_query(search.words, dense))[0].values())
    fewest = min(range(len(counts)), key=counts.__getitem__)
    return search.words[fewest] if counts[fewest] < dense else None


# A page of users with a total (the APIs' user lists) -------------------------------------------


def matching(query: str) -> Sql:
    """The condition (SQL for a WHERE clause) of the users a query finds, read as `parse` reads
    it: "#123" that user; a whole address that address; else every word the start of one of
    its keys (so a full name finds its person), and a bare number also user #number. An empty
    query finds everyone."""
    search = parse(query)
    if search.email_key is not None:
        return Sql().add("email_key = {}", search.email_key)
    if search.everyone:
        return Sql().add("1 = 1")
    ways = []
    if search.user_id is not None:
        ways.append(Sql().add("id = {}", search.user_id))
    if search.words:
        words = Sql().add("(")
        for n, word in enumerate(search.words):
            if n:
                words.add(" AND ")
            words.word(word)
        ways.append(words.add(")"))
    sql = Sql().add("(")
    for n, way in enumerate(ways):
        if n:
            sql.add(" OR ")
        sql.add("".join(way.parts), *way.args)
    return sql.add(")")
