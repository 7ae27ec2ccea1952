"""User search by prefix on indexed keys: what matches, key-set pages, the indexes,
and the plans of the statements the app runs (EXPLAIN), on both engines."""

import pytest
from piccolo.querystring import QueryString

from app.domain.users import search
from app.domain.users import services as users
from app.schema.users import User, name_key
from piccolo_conf import DB
from tests.conftest import ENGINE
from tests.factories import ADMIN


async def make_user(first: str, last: str, *, email: str) -> dict:
    """A user without a password: no argon2, these tests make many."""
    return await users.create_user(
        first_name=first, last_name=last, email=email, password=None, actor=ADMIN
    )


async def found(query: str) -> list[str]:
    """Associate User's candidates, as 'First Last'."""
    return [f"{r['first_name']} {r['last_name']}" for r in await search.candidates(query)]


async def listed(query: str) -> list[int]:
    """Manage Users' first page, as ids."""
    rows, _ = await users.search_users(query)
    return [r["id"] for r in rows]


@pytest.fixture
async def people():
    made = {}
    for first, last, email in [
        ("José", "Álvarez", "jose.alvarez@example.com"),
        ("John", "Smith", "john.smith@acme.test"),
        ("Johanna", "Smithers", "jo@example.org"),
        ("Zoë", "O'Brien", "zoe@example.org"),
        ("Ann", "Under_score", "ann@elsewhere.test"),
        ("Per", "Cent%", "per@elsewhere.test"),
        ("Bob", "Back\\slash", "bob@elsewhere.test"),
        ("Straße", "Groß", "strasse@elsewhere.test"),
    ]:
        made[first] = await make_user(first, last, email=email)
    return made


async def test_each_word_starts_a_name_or_the_email(people):
    assert await found("jo") == ["Johanna Smithers", "John Smith", "José Álvarez"]
    assert await found("john smith") == ["John Smith"]
    assert await found("smith john") == ["John Smith"]  # any word order
    assert await found("smi joh") == ["Johanna Smithers", "John Smith"]
    assert await found("john acme") == ["John Smith"]  # a name and the email's domain
    assert await found("john.sm") == ["John Smith"]  # the email's start
    assert await found("ohn") == []  # a prefix, not a substring
    assert await found("mith") == []
    assert await found("john zoe") == []  # every word must match
    assert await listed("smi joh") == [people["John"]["id"], people["Johanna"]["id"]]


async def test_case_and_accents_are_folded(people):
    assert await found("JOSE") == ["José Álvarez"]
    assert await found("álv") == await found("ALV") == ["José Álvarez"]
    assert await found("zoe") == await found("ZOË") == ["Zoë O'Brien"]
    assert await found("strasse gross") == ["Straße Groß"]  # casefold: ß is ss
    assert await found("o'b") == ["Zoë O'Brien"]


async def test_wildcards_typed_are_plain_characters(people):
    assert await found("under_") == ["Ann Under_score"]
    assert await found("under%") == []
    assert await found("cent%") == ["Per Cent%"]
    assert await found("ce_t") == []
    assert await found("%%") == [] and await found("__") == []
    assert await listed("%") == [] and await listed("_") == []
    assert await found("back\\s") == ["Bob Back\\slash"]
    assert await found("back\\\\") == []


async def test_the_part_after_the_at(people):
    assert await found("@example") == ["Johanna Smithers", "José Álvarez", "Zoë O'Brien"]
    assert await found("@example.org") == ["Johanna Smithers", "Zoë O'Brien"]
    assert await found("@jo") == []  # after the '@' only
    assert await found("example") == ["Johanna Smithers", "José Álvarez", "Zoë O'Brien"]


async def test_an_exact_email_finds_that_user_only(people):
    assert await found("jo@example.org") == ["Johanna Smithers"]
    assert await found("JO@EXAMPLE.ORG") == ["Johanna Smithers"]
    assert await listed("Jo@Example.org") == [people["Johanna"]["id"]]
    assert await found("nobody@example.org") == []
    assert search.parse("jo@example.org").email_key == "jo@example.org"
    assert search.parse("jo@exam").email_key is None  # not an address yet: a prefix
    assert await found("jo@exam") == ["Johanna Smithers"]


async def test_an_id_finds_that_user(people):
    john = people["John"]["id"]
    assert await listed(f"#{john}") == [john]
    assert await listed(str(john)) == [john]
    assert await found(f"#{john}") == ["John Smith"]
    assert await listed("#99999999") == [] and await listed("#x") == []


async def test_keys_follow_names_and_email_changes():
    user = await make_user("Otto", "Old", email="otto@old.test")
    await users.update_user(
        user["id"],
        first_name="Élise",
        last_name="Neu",
        email="elise@NEW.test",
        language="english",
        actor=ADMIN,
    )
    assert await found("otto") == [] and await found("@old") == []
    assert await found("elise neu") == ["Élise Neu"]
    assert await found("@new") == ["Élise Neu"]
    row = await User.select().where(User.id == user["id"]).first()
    assert (row["first_name_key"], row["last_name_key"], row["email_domain_key"]) == (
        "elise",
        "neu",
        "new.test",
    )


def test_prefix_bounds():
    assert search.after_prefix("abc") == "abd"
    assert search.after_prefix("a\U0010ffff") == "b"
    assert search.after_prefix("\U0010ffff") is None
    assert search.after_prefix("a\ud7ff") == "a\ue000"
    assert name_key("  ") == "  " and name_key("Ǆemal") == "dzemal"


@pytest.mark.parametrize("dense_from", [1, 10**9], ids=["primary-key walk", "key indexes"])
async def test_key_set_pages_neither_repeat_nor_skip(monkeypatch, dense_from):
    monkeypatch.setattr(search, "DENSE_FROM", dense_from)
    monkeypatch.setattr(search, "DENSE_FROM_SEVERAL", dense_from)
    wanted = []
    for i in range(23):
        wanted.append((await make_user("Paige", f"Tester{i}", email=f"p{i}@example.com"))["id"])
        if i % 3 == 0:
            await make_user("Other", "Person", email=f"other{i}@example.com")
    seen, after, pages = [], 0, 0
    while True:
        rows, more = await users.search_users("paig test", after=after, per_page=5)
        seen += [r["id"] for r in rows]
        pages += 1
        if not more:
            break
        after = rows[-1]["id"]
    assert seen == wanted and pages == 5 and len(rows) == 3
    rows, more = await users.search_users("paig test", after=wanted[-1], per_page=5)
    assert rows == [] and not more
    rows, more = await users.search_users("", after=0, per_page=100)
    assert len(rows) == 31 and not more


async def test_email_key_has_one_index():
    """One unique index on email_key, none plain beside it. On SQLite, whose table's unique index
    cannot be widened, the covering search index (email_key and the other keys) is the one other
    index leading with email_key; on PostgreSQL the unique index itself INCLUDEs them."""
    if ENGINE == "sqlite":
        names = [
            r["name"]
            for r in await DB.run_querystring(
                QueryString(
                    "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'users'"
                )
            )
        ]
        on_email_key = {}
        for name in names:
            columns = [
                c["name"]
                for c in await DB.run_querystring(QueryString(f"PRAGMA index_info('{name}')"))
            ]
            if columns and columns[0] == "email_key":
                on_email_key[name] = columns
        covering = on_email_key.pop("users_email_key_search_idx")
        assert covering == ["email_key", "first_name_key", "last_name_key", "email_domain_key"]
    else:
        rows = await DB.run_querystring(
            QueryString(
                "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'users'"
                " AND indexdef LIKE '%btree (email_key%'"
            )
        )
        on_email_key = [r["indexname"] for r in rows]
        assert "UNIQUE" in rows[0]["indexdef"]
        assert (
            "INCLUDE (first_name_key, last_name_key, email_domain_key, id)" in rows[0]["indexdef"]
        )
    assert len(on_email_key) == 1, on_email_key


# EXPLAIN of the statements the app runs, on 20,000 users ---------------------------------------

FILL_POSTGRES = """
INSERT INTO users (first_name, last_name, email, email_key, first_name_key, last_name_key,
                   email_domain_key, password_hash, created_at)
SELECT f, l, e, e, lower(f), lower(l), d, 'x', now()
FROM (
  SELECT 'F' || chr(97 + (i * 7) % 26) || chr(97 + (i / 26) % 26) || (i % 50) AS f,
         'L' || chr(97 + (i * 11) % 26) || chr(97 + (i / 7) % 26) || (i % 40) AS l,
         'u' || i || '@d' || (i % 30) || '.test' AS e,
         'd' || (i % 30) || '.test' AS d
  FROM generate_series(1, 20000) AS i
) AS g
"""

FILL_SQLITE = """
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000),
g AS (
  SELECT 'F' || char(97 + (i * 7) % 26) || char(97 + (i / 26) % 26) || (i % 50) AS f,
         'L' || char(97 + (i * 11) % 26) || char(97 + (i / 7) % 26) || (i % 40) AS l,
         'u' || i || '@d' || (i % 30) || '.test' AS e,
         'd' || (i % 30) || '.test' AS d
  FROM n
)
INSERT INTO users (first_name, last_name, email, email_key, first_name_key, last_name_key,
                   email_domain_key, password_hash, created_at)
SELECT f, l, e, e, lower(f), lower(l), d, 'x', '2026-01-01 00:00:00+00:00' FROM g
"""


@pytest.fixture
async def many_users():
    await DB.run_ddl(FILL_SQLITE if ENGINE == "sqlite" else FILL_POSTGRES)
    await DB.run_ddl("ANALYZE users")
    assert await User.count() == 20000


async def plan_of(query) -> str:
    """The plan of a Piccolo query object: EXPLAIN of its own SQL, with its own arguments."""
    (querystring,) = query.querystrings
    prefix = "EXPLAIN QUERY PLAN " if ENGINE == "sqlite" else "EXPLAIN "
    rows = await DB.run_querystring(QueryString(prefix + "{}", querystring))
    if ENGINE == "sqlite":
        return "\n".join(r["detail"] for r in rows)
    return "\n".join(r["QUERY PLAN"] for r in rows)


def assert_indexed(plan: str, *indexes: str) -> None:
    if ENGINE == "sqlite":
        assert "SCAN users" not in plan, plan  # neither the table nor a whole index
    else:
        assert "Seq Scan on users" not in plan, plan
    for index in indexes:
        assert index in plan, plan


async def test_associate_user_query_walks_the_key_indexes(many_users):
    email_index = "sqlite_autoindex_users_1" if ENGINE == "sqlite" else "users_email_key_key"
    email_prefix = "users_email_key_search_idx" if ENGINE == "sqlite" else "users_email_key_key"
    every_key = ["users_first_name_key_idx", "users_last_name_key_idx", email_prefix]
    for text, indexes in [
        ("fab", [*every_key, "users_email_domain_key_idx"]),
        ("fab la", [*every_key, "users_email_domain_key_idx"]),
        ("lad6", [*every_key, "users_email_domain_key_idx"]),
        ("u12", [*every_key, "users_email_domain_key_idx"]),
        ("@d1", ["users_email_domain_key_idx"]),
    ]:
        query = search.candidates_query(search.parse(text), 8)
        assert_indexed(await plan_of(query), *indexes)
        assert await search.candidates(text), text
    exact = search.candidates_query(search.parse("u77@d17.test"), 8)
    plan = await plan_of(exact)
    # An equality on email_key: the unique index, or on SQLite the covering one beside it.
    assert_indexed(plan, "email_key = " if ENGINE == "postgres" else "(email_key=?)")
    assert email_index in plan or email_prefix in plan, plan
    assert [r["email"] for r in await search.candidates("u77@d17.test")] == ["u77@d17.test"]


async def test_manage_users_query_uses_the_key_indexes_or_the_primary_key(many_users):
    # Few matches: collected through the key indexes, then sorted by id.
    parsed = search.parse("fab lcd")
    driving = await search.driving_word(parsed)
    assert driving is not None
    query = search.page_query(parsed, after=0, size=26, driving=driving)
    assert_indexed(await plan_of(query), "users_first_name_key_idx", "users_last_name_key_idx")
    # Many matches ("f": every first name): the primary key walked from `after`.
    parsed = search.parse("f")
    assert await search.driving_word(parsed) is None
    query = search.page_query(parsed, after=100, size=26)
    plan = await plan_of(query)
    assert_indexed(plan, "PRIMARY KEY" if ENGINE == "sqlite" else "users_pkey")
    rows, more = await users.search_users("f", after=100)
    assert [r["id"] for r in rows] == list(range(101, 126)) and more
    # The probe itself reads the key indexes only.
    assert_indexed(await plan_of(search.probe_query(search.parse("fab lcd").words)))
    # No query: the primary key.
    plan = await plan_of(search.page_query(search.parse(""), after=0, size=26))
    assert_indexed(plan, "PRIMARY KEY" if ENGINE == "sqlite" else "users_pkey")


async def plan_for(text: str) -> str:
    """The plan of Associate User's statement for `text`, after its probe (as candidates)."""
    parsed = search.parse(text)
    counts, values = await search.probe(parsed)
    return await plan_of(search.candidates_query(parsed, 8, counts=counts, values=values))


async def test_associate_user_two_words_read_the_key_indexes_only(many_users):
    """Two words: a branch per way they may match together, each reading one covering index
    (never the table) but for the few rows shown; a first and a last name pinned to a name."""
    if ENGINE == "postgres":
        await DB.run_ddl("VACUUM ANALYZE users")  # index-only scans need the visibility map
    for text in ["fab la", "la fab", "u12 d1", "fa @d1"]:
        plan = await plan_for(text)
        if ENGINE == "sqlite":
            searches = [line for line in plan.splitlines() if line.startswith("SEARCH users")]
            assert searches and all("COVERING INDEX" in line for line in searches), plan
        else:
            assert "Index Only Scan" in plan, plan
            assert plan.count("Index Scan") == plan.count("Index Scan using users_pkey"), plan
        assert_indexed(plan)
        assert await search.candidates(text), text
    # "fhb27 ll": the first-name range "fhb27" holds one name, walked with the last-name range.
    plan = await plan_for("fhb27 ll")
    if ENGINE == "sqlite":
        assert "users_first_name_key_idx (first_name_key=? AND last_name_key>?" in plan, plan
    else:
        assert "first_name_key = " in plan and "last_name_key >= " in plan, plan


async def test_associate_user_two_words_find_the_same_as_a_filter(many_users):
    """Whatever branches they come from, the candidates of several words match every word
    and are the first by the key they matched; checked against a plain filter in Python."""
    rows = await User.select(
        User.id, User.first_name_key, User.last_name_key, User.email_key, User.email_domain_key
    )

    def matches(row, word: search.Word) -> bool:
        return any(row[c].startswith(p) for c, p in word.branches)

    for text in ["fab la", "la fab", "fa l", "u1 d2", "fab zz", "lc fa3", "f l u"]:
        words = search.parse(text).words
        expected = [r for r in rows if all(matches(r, w) for w in words)]
        got = await search.candidates(text)
        ids = {r["id"] for r in expected}
        assert all(r["id"] in ids for r in got), text
        assert len(got) == min(8, len(expected)), text
        names = [(r["first_name"].casefold(), r["last_name"].casefold(), r["id"]) for r in got]
        assert names == sorted(names), text
