"""A property-based fuzz (hypothesis) of every route in the route table, the web pages', the
JSON API's (/api/v1, with a bearer credential) and the WHMCS endpoint's: generated ids, query
strings, forms (now and then a field sent as a file), JSON bodies and WHMCS parameters, with the
shapes that break parsers (digits of every Unicode script, numbers past Python's 4,300 digits,
dates at the calendar's edges, JSON nested 100,000 deep, NUL bytes, percent-encoded tokens and
secrets). Pages are sent by every kind of viewer, the two APIs by their credentials. For every
request: no 5xx, a 4xx leaves the database as it was, and the invariants hold.

ROSTER_FUZZ_EXAMPLES is the whole budget (default 150), spread evenly over the route/method
pairs; every example is sent once by each viewer. The seed is fixed (ROSTER_FUZZ_SEED, default 0)
so `make test` is repeatable; `make fuzz` runs 5000 examples.

Hypothesis is synchronous and the database pool belongs to the test's event loop: the fuzz runs
in a worker thread and hands every request back to that loop."""

import asyncio
import contextlib
import json
import logging
import logging.handlers
import math
import os
import re
import reprlib
import sys
import tempfile
import traceback
import unicodedata
import zlib
from pathlib import Path
from urllib.parse import quote, urlencode

import httpx
import pytest
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir

from app.asgi import create_app
from app.core import clock, db
from app.core.permissions import ALL_KEYS
from app.domain.access.services import grant_access
from app.domain.auth import services as auth
from app.domain.credentials.services import create_credential
from app.domain.invitations import services as invitations
from app.domain.staff.services import create_admin
from app.http.api.app import PREFIX as API_PREFIX
from app.http.api.app import SCHEMA_PATH, create_api_app
from app.http.whmcs.actions import ACTIONS as WHMCS_ACTIONS
from app.http.whmcs.logs import PATH as WHMCS_PATH
from app.schema import invariants
from app.schema.mail import OutboundEmail
from app.schema.piccolo_app import TABLES
from piccolo_conf import DB
from tests.factories import ADMIN, PASSWORD, make_client, make_user
from tests.integration.conftest import Browser, log_in_as_staff

# Hypothesis keeps caches (Unicode tables, constants) even without a database: not in the repo.
set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "roster-hypothesis")

EXAMPLES = int(os.environ.get("ROSTER_FUZZ_EXAMPLES", "150"))
SEED = int(os.environ.get("ROSTER_FUZZ_SEED", "0"))
VIEWERS = ("anonymous", "owner", "member", "admin", "support")
# Login attempts and throttling write these whatever the answer: every other table is checked.
NOT_CHECKED = {"sessions", "login_failures"}

EDGE_IDS = [0, -1, 2**31, 2**63, 10**30]


def unicode_digit_runs() -> list[str]:
    """The ten digits, 0 to 9, of every decimal script Unicode has (category Nd)."""
    zeros = (chr(c) for c in range(sys.maxunicode + 1))
    return [
        "".join(chr(ord(zero) + i) for i in range(10))
        for zero in zeros
        if unicodedata.category(zero) == "Nd" and unicodedata.digit(zero) == 0
    ]


DIGIT_RUNS = unicode_digit_runs()
# Past 4,300 digits int(str) raises ValueError (CPython's limit), and no column holds them.
HUGE_NUMBERS = ["9" * 4301, "1" + "0" * 5000, "-" + "9" * 4400, "1e400", "-0", "0." + "1" * 4400]
EDGE_DATES = [
    *("0001-01-01", "9999-12-31", "10000-01-01", "0000-00-00", "2024-02-30", "2023-02-29"),
    *("-0001-01-01", "-2024-02-29", "2024-13-01", "2024-1-1", "31/12/2024", "1970-01-01T00:00Z"),
    *("9999-12-31T23:59:59.999999+14:00", "0001-01-01T00:00:00-14:00", "2024-06-31 25:61:61"),
]
DEEP_JSON = ["[" * 100_000 + "]" * 100_000, '{"a":' * 100_000 + "1" + "}" * 100_000]
URL_BUDGET = 32_000
SHALLOW_DEEP = "[" * 1000 + "]" * 1000  # deep enough for a recursive parser, short for a URL
# Digits str.isdigit() accepts and int() does not; digits int() reads that are not ASCII; others.
SUPERSCRIPTS = ["²", "¹²³"]
ODD_IDS = ["０", "٣", " 1", "+1", "1_0", "0x1"]
EDGE_TEXT = [
    *(
        "",
        " ",
        "\x00",
        "a\x00b",
        "\r\n",
        "x\r\nSet-Cookie: evil=1",
        "\x0b",
        "\u3000",
        *SUPERSCRIPTS,
    ),
    *("\u202eevil\u202c", "\u200f\u200e", "A" * 5000, " ".join(["word"] * 85), "%", "_", "%_%"),
    *("' OR '1'='1", '"; DROP TABLE users; --', "<script>alert(1)</script>", "{{7*7}}", "\\"),
    *("jo@bücher.example", "ünï@例え.テスト", "a@xn--bcher-kva.example", "OWNER@EXAMPLE.COM"),
    *("/account", "//evil.example", "/\\evil.example", "https://evil.example/", "javascript:x"),
    *("on", "no", "new", "all", "choose", "full", "support", "Closed", "Active", "failed", "en"),
    *("-1", "2147483648", str(2**63), str(10**30), PASSWORD, *ALL_KEYS),
]
# What the JSON API's bodies hold (app/http/api/schemas.py), and the WHMCS actions' parameters.
API_FIELDS = [
    *("email", "first_name", "last_name", "password", "permissions", "company_name", "language"),
    *("owner_email", "owner_first_name", "owner_last_name", "owner_password", "owner_user_id"),
    *("user_id", "status", "phone_number", "postcode", "country", "state", "city", "tax_id"),
]
WHMCS_PARAMS = [
    *("clientid", "user_id", "id", "owner_user_id", "email", "firstname", "lastname", "password2"),
    *("permissions", "companyname", "clientemail", "language", "status", "search", "date"),
    *("deleteusers", "skipvalidation", "orderby", "sorting", "stats", "limitstart", "limitnum"),
    *("client_id", "destination", "sso_redirect_path"),
]
WHMCS_IDS = {
    "clientid": "client_id",
    "client_id": "client_id",
    "user_id": "user_id",
    "id": "user_id",
}
# Besides each handler's own query parameters: the ones pages read from request.query_params.
QUERY_NAMES = ["q", "page", "client_id", "user_id", "next", "saved", "deleted", "welcome"]
RAW_QUERIES = ["&q=%ff", "&page=%", "&&=&", "&client_id=%C2%B2", "&user_id=%EF%BC%91", "&next=%0d"]
# The form fields the app reads, each with values it accepts: a form holds most of them, a few
# with a generated value instead, so that requests get past validation to the writes.
FORM = {
    "email": ["owner@example.com", "new@example.com", "invitee@example.com"],
    "password": [PASSWORD, "another-passphrase-for-9"],
    **{name: ["Ann"] for name in ("first_name", "owner_first", "name")},
    **{name: ["Lee"] for name in ("last_name", "owner_last")},
    **{name: ["Acme Ltd"] for name in ("company", "company_name")},
    **{name: ["new@example.com", "member@example.com"] for name in ("owner_email", "new_email")},
    "permissions": list(ALL_KEYS),
    "user_id": ["new"],
    "client_id": [],  # and, as for user_id, the real ids
    "q": ["", "owner", "new@example.com"],
    "send_invite": ["yes", "no"],
    "next": ["/account", "/accounts"],
    "status": ["Active", "Inactive", "Closed"],
    "language": ["english", "french"],
    "role": ["full", "support"],
    "scope": ["all", "choose"],
    **{name: ["on"] for name in ("accept_tos", "value")},
    **{name: ["on"] for name in ("disable_client_user_management", "require_invited_email")},
}
HTMX = [
    {},
    {"HX-Request": "true"},
    {"HX-Request": "true", "HX-Boosted": "true"},
    {"HX-Request": "true", "HX-Request-Type": "full"},
]
LIVE_STREAM_OPEN_AFTER = 0.5  # seconds
BODY_TYPES = ["application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "text/plain"]

_short = reprlib.Repr()  # long values cut short in the messages, every field shown
_short.maxstring, _short.maxother, _short.maxdict, _short.maxlist = 100, 100, 100, 100


def route_table() -> list[tuple[str, str, dict, list[str]]]:
    """(method, path, {"{name:type}": (name, type)}, the handler's query parameters) for every
    route of the app and of its JSON API but the static files and the OpenAPI document."""
    apps = create_app(run_workers=False, manage_database=False), create_api_app(production=False)
    table = []
    for route in [route for app in apps for route in app.routes]:
        if route.path.startswith(("/static", SCHEMA_PATH)):
            continue
        params = {f"{{{p.full}}}": (p.name, p.type) for p in route.path_parameters.values()}
        for handler in route.route_handlers:
            taken = handler.parsed_fn_signature.parameters.keys()
            query = sorted(taken - {"request", "data", "if_match", *route.path_parameters})
            for method in sorted(handler.http_methods - {"HEAD", "OPTIONS"}):
                table.append((method, route.path, params, query))
    return table


def test_the_fuzz_finds_every_route():
    pairs = route_table()
    paths = {path for _, path, _, _ in pairs}
    assert len(pairs) > 40, pairs
    assert {"/login", "/admin/users/{user_id:int}/delete", "/invite/{token:str}/register"} <= paths
    assert {WHMCS_PATH, f"{API_PREFIX}/clients/{{client_id:int}}/users/{{user_id:int}}"} <= paths
    assert not any(path.startswith(("/static", SCHEMA_PATH)) for path in paths)


def test_the_fuzz_knows_every_decimal_script():
    assert len(DIGIT_RUNS) > 60 and "0123456789" in DIGIT_RUNS
    assert "٠١٢٣٤٥٦٧٨٩" in DIGIT_RUNS and "０１２３４５６７８９" in DIGIT_RUNS
    assert all(unicodedata.digit(d) == i for run in DIGIT_RUNS for i, d in enumerate(run))


def surface(path: str) -> str:
    if path == API_PREFIX or path.startswith(API_PREFIX + "/"):
        return "api"
    return "whmcs" if path == WHMCS_PATH else "web"


def viewers_of(path: str) -> tuple[str, ...]:
    """Pages by every kind of viewer; the two APIs authenticate each request by a credential,
    not by a session (sent by one viewer, with a credential or not)."""
    return VIEWERS if surface(path) == "web" else ("anonymous",)


class World:
    """The rows the fuzz works on (a snapshot to restore after any change), and each viewer's
    own client, logged in, with its cookies to put back before every request."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.viewers: dict[str, Browser] = {}
        self.cookies: dict[str, list] = {}
        self.ids: dict[str, list[int]] = {}
        self.tokens: list[str] = []
        self.credential: tuple[str, str] = ("", "")
        self.words: list[str] = []
        self.rows: dict[str, list[dict]] = {}
        self.errors = logging.handlers.BufferingHandler(capacity=1000)  # the app's error log

    async def build(self, stack: contextlib.AsyncExitStack) -> None:
        client_id, owner = await make_client("Acme Hosting", owner_email="owner@example.com")
        member = await make_user("Mo", "Member", email="member@example.com")
        # A grant needs one permission at least: none of the ones Roster's own pages check.
        await grant_access(client_id, member["id"], ["tickets"], actor=ADMIN)
        other_id, other = await make_client("Other Ltd", owner_email="other@example.com")
        loner = await make_user("Lou", "Loner", email="loner@example.com")
        invitation_id, invite_token = await invitations.invite(
            client_id, "invitee@example.com", ["quotes"], actor=ADMIN
        )
        await auth.send_password_reset(loner["id"], base_url="http://x", actor=ADMIN)
        emails = await OutboundEmail.select().order_by(OutboundEmail.id)
        await OutboundEmail.update({OutboundEmail.status: "failed"}).where(
            OutboundEmail.id == emails[0]["id"]
        )
        reset_token = re.search(r"/password/reset/([\w-]+)", emails[-1]["text_body"])[1]
        users = [owner["id"], member["id"], other["id"], loner["id"]]
        self.ids = {
            "client_id": [client_id, other_id],
            "user_id": users,
            "invitation_id": [invitation_id],
            "email_id": [e["id"] for e in emails],
        }
        self.tokens = [invite_token, reset_token]
        api_staff = await create_admin(
            email="api@example.com", password="api-passphrase-77", name="Api", role="full",
            actor=ADMIN,
        )  # fmt: skip
        made = await create_credential(api_staff, description="fuzz", actor=ADMIN)
        self.credential = (made.identifier, made.secret)
        self.words = [
            *self.tokens,
            *hidden_secrets(invite_token, reset_token, made.secret),
            *("owner@example.com", "member@example.com", "loner@example.com"),
        ]

        app = create_app(run_workers=False, manage_database=False)
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
        for name in VIEWERS:
            client = httpx.AsyncClient(transport=transport, base_url="http://testserver.local")
            self.viewers[name] = Browser(await stack.enter_async_context(client))
        await self.viewers["anonymous"].get("/login")  # the CSRF cookie only
        await self.viewers["owner"].login("owner@example.com")
        await self.viewers["member"].login("member@example.com")
        staff = {"admin": ("ada", "full"), "support": ("sam", "support")}
        for name, (who, role) in staff.items():
            email, password = f"{who}@example.com", f"{who}-passphrase-77"
            await log_in_as_staff(self.viewers[name], email, password, who.title(), role)
        self.cookies = {name: list(b.cookies.jar) for name, b in self.viewers.items()}
        # The credential's first use is recorded (last used at, from): from then on, at the
        # fuzz's one instant, a use changes nothing.
        identifier, secret = self.credential
        used = await self.viewers["anonymous"].client.get(
            f"{API_PREFIX}/permissions", headers={"authorization": f"Bearer {identifier}:{secret}"}
        )
        assert used.status_code == 200, used.text
        self.rows, _ = await snapshot()
        self.errors.setLevel(logging.ERROR)
        logging.getLogger("roster").addHandler(self.errors)
        stack.callback(logging.getLogger("roster").removeHandler, self.errors)

    async def check(self, viewer: str, request: dict) -> None:
        """Sends `request` as `viewer`; the database is put back as it was afterwards."""
        browser = self.viewers[viewer]
        browser.cookies.jar.clear()
        for cookie in self.cookies[viewer]:
            browser.cookies.jar.set_cookie(cookie)
        self.errors.flush()
        status, crash = await send(browser, request)
        after, broken = await snapshot()
        if after != self.rows:
            await restore(self.rows)
            assert (await snapshot())[0] == self.rows, "the fuzz could not restore the database"
        changed = [t for t in after if t not in NOT_CHECKED and after[t] != self.rows[t]]
        where = f"{viewer}: {describe(request)} -> {status}"
        assert status < 500, f"{where}\n{crash or ''.join(map(app_trace, self.errors.buffer))}"
        assert not (400 <= status < 500 and changed), f"{where}, yet it changed {changed}"
        assert not broken, f"{where} broke invariants: {broken}"

    def fuzz(self, pair: tuple, examples: int, shrink: bool) -> None:
        """Runs one route/method pair's examples (called from a worker thread)."""

        @seed(SEED ^ zlib.crc32(f"{pair[0]} {pair[1]}".encode()))
        @settings(
            max_examples=examples,
            phases=list(Phase) if shrink else [Phase.explicit, Phase.reuse, Phase.generate],
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(requests(*pair, self))
        def run(request: dict) -> None:
            for viewer in viewers_of(pair[1]):
                asyncio.run_coroutine_threadsafe(self.check(viewer, request), self.loop).result()

        run()


async def snapshot() -> tuple[dict[str, list[dict]], list[str]]:
    """Every row of every table, and the broken invariants (one transaction: one connection)."""
    async with DB.transaction():
        rows = {t._meta.tablename: await t.select().order_by(t._meta.primary_key) for t in TABLES}
        return rows, await invariants.violations()


async def restore(rows: dict[str, list[dict]]) -> None:
    async with db.transaction():
        for table in reversed(TABLES):
            await table.delete(force=True)
        for table in TABLES:
            if rows[table._meta.tablename]:
                await table.insert(*(table(**row) for row in rows[table._meta.tablename]))


async def send(browser: Browser, request: dict) -> tuple[int, str | None]:
    """The answer's status, and the traceback if the app raised out of its handlers."""
    headers = dict(request["headers"])
    if request["csrf"]:
        headers["x-csrftoken"] = browser.cookies.get("roster_csrf") or ""
    body = {k: request[k] for k in ("data", "files", "content") if request.get(k)}
    call = browser.client.request(request["method"], request["url"], headers=headers, **body)
    try:
        if request["url"].startswith("/live/"):
            # A live stream that opened never ends, and the in-process transport waits for the
            # end: one still open after a moment is a 200 (tests/integration/test_live.py reads
            # real ones); refusals and errors come at once.
            try:
                response = await asyncio.wait_for(call, LIVE_STREAM_OPEN_AFTER)
            except TimeoutError:
                return 200, None
        else:
            response = await call
    except Exception:
        return 599, traceback.format_exc()
    return response.status_code, None


def app_trace(record: logging.LogRecord) -> str:
    """The logged error with the traceback's frames in Roster's own code only."""
    if not record.exc_info:
        return record.getMessage()
    frames = [
        f for f in traceback.extract_tb(record.exc_info[2]) if "site-packages" not in f.filename
    ]
    exception = traceback.format_exception_only(record.exc_info[1])
    return "".join([record.getMessage(), "\n", *traceback.format_list(frames), *exception])


def describe(request: dict) -> str:
    parts = [request["method"], _short.repr(request["url"])]
    parts += [f"{k}={_short.repr(request[k])}" for k in ("data", "files", "content") if request[k]]
    parts += [f"headers={request['headers']}"] if request["headers"] else []
    parts += [] if request["csrf"] else ["without the CSRF header"]
    return " ".join(parts)


def hidden_secrets(invite_token: str, reset_token: str, secret: str) -> list[str]:
    """Tokens and a secret where a client's mistake puts them: in a URL in a parameter,
    percent-encoded once or twice."""
    urls = [f"/invite/{invite_token}", f"/password/reset/{reset_token}"]
    urls += [f"/INCLUDES/api.php?secret={secret}", f"/login?next=/invite/{invite_token}"]
    once = [quote(url, safe="") for url in urls]
    return once + [quote(url, safe="") for url in once]


def in_script(number_and_digits: tuple[int, str]) -> str:
    number, digits = number_and_digits
    return str(number).translate(str.maketrans("0123456789", digits))


# Numbers in one decimal script, digits of several mixed, numbers too long for int().
EDGE_NUMBERS = st.one_of(
    st.tuples(st.integers(-(10**12), 10**12), st.sampled_from(DIGIT_RUNS)).map(in_script),
    st.lists(st.sampled_from(DIGIT_RUNS).flatmap(st.sampled_from), min_size=1, max_size=6).map(
        "".join
    ),
    st.sampled_from(HUGE_NUMBERS),
)


def texts(world: World) -> st.SearchStrategy[str]:
    known = st.sampled_from(EDGE_TEXT + EDGE_DATES + [SHALLOW_DEEP] + world.words)
    return st.one_of(
        known,
        st.text(max_size=30),
        st.emails(),
        st.tuples(known, st.text(max_size=8)).map("".join),
        EDGE_NUMBERS,
    )


# JSON texts a decoder may choke on, as a field's value or as the whole body.
EDGE_JSON = [
    *("9" * 4301, "-" + "9" * 4400, "1e400", "-0", "1.0", SHALLOW_DEEP, "[]", "{}", "null"),
    *('"\\u0000"', '"a\\u0000b"', '"\\ud800"', '"\\udfff\\ud800"', '"9999-12-31"'),
]
ODD_BODIES = [*DEEP_JSON, *EDGE_JSON, "", "{", '{"a":1,}', "\x00", '{"email":"a\x00b"}']


def requests(
    method: str, path: str, params: dict, query_names: list[str], world: World
) -> st.SearchStrategy[dict]:
    every_id = [i for ids in world.ids.values() for i in ids]
    text = texts(world)

    def number(name: str) -> st.SearchStrategy[str]:
        """An id: a real one, one out of range, any integer, or digits int() may not read."""
        ids = st.sampled_from(world.ids.get(name, every_id)).map(str)
        edges = st.sampled_from(EDGE_IDS).map(str)
        odd = st.sampled_from(SUPERSCRIPTS) | st.sampled_from(ODD_IDS) | EDGE_NUMBERS
        return st.one_of(ids, edges, st.integers().map(str), odd)

    def value(name: str) -> st.SearchStrategy[str]:
        return number(name) if name.endswith("_id") or name == "page" else text

    def segment(name: str, kind: type) -> st.SearchStrategy[str]:
        if kind is int:
            return st.sampled_from(world.ids.get(name, every_id)).map(str)
        return st.sampled_from(world.tokens)

    def weird_segment(name: str, kind: type) -> st.SearchStrategy[str]:
        return number(name) if kind is int else text.map(lambda s: quote(s, safe=""))

    known = st.sampled_from(sorted({*QUERY_NAMES, *query_names})).flatmap(
        lambda n: st.tuples(st.just(n), value(n))
    )
    query = st.lists(known | st.tuples(st.text(max_size=8), text), max_size=5)
    extra = st.lists(st.tuples(st.text(min_size=1, max_size=8), text), max_size=2)
    real = {"user_id": world.ids["user_id"], "client_id": world.ids["client_id"]}
    form = {name: good + [str(i) for i in real.get(name, [])] for name, good in FORM.items()}
    where = surface(path)

    api_good = {
        **{name: FORM[name] for name in API_FIELDS if name in FORM},
        **{name: ["Ann"] for name in ("first_name", "owner_first_name")},
        **{name: ["Lee"] for name in ("last_name", "owner_last_name")},
        "company_name": ["Acme Ltd"],
        "owner_password": [PASSWORD],
    }
    weird_json = st.one_of(
        st.sampled_from(EDGE_JSON),
        st.one_of(text, st.integers(), st.booleans(), st.none(), st.lists(text, max_size=2)).map(
            json.dumps
        ),
    )

    def usual_json(name: str) -> st.SearchStrategy[str]:
        """A value the API takes for this field, as JSON text."""
        if name in ("user_id", "owner_user_id"):
            return st.sampled_from(real["user_id"]).map(json.dumps)
        if name == "permissions":
            return st.lists(st.sampled_from(ALL_KEYS), min_size=1, max_size=3).map(json.dumps)
        return st.sampled_from(api_good.get(name, ["x"])).map(json.dumps)

    @st.composite
    def json_body(draw) -> str:
        if draw(st.integers(0, 9)) == 9:
            return draw(st.sampled_from(ODD_BODIES))
        fields = [name for name in API_FIELDS if draw(st.integers(0, 3)) < 2]
        pairs = [f"{json.dumps(n)}:{now_and_then(draw, usual_json(n), weird_json)}" for n in fields]
        return "{" + ",".join(pairs) + "}"

    whmcs_values = {
        name: st.sampled_from(world.ids[WHMCS_IDS[name]]).map(str) if name in WHMCS_IDS else text
        for name in WHMCS_PARAMS
    }

    @st.composite
    def whmcs_params(draw) -> list[tuple[str, str]]:
        """A call: the credential (now and then a wrong one), an action, its parameters."""
        identifier, secret = world.credential
        action = draw(st.sampled_from(sorted(WHMCS_ACTIONS)))
        pairs = [
            ("identifier", now_and_then(draw, st.just(identifier), text)),
            ("secret", now_and_then(draw, st.just(secret), text)),
            ("action", now_and_then(draw, st.just(action), st.just(action.upper()) | text)),
            ("responsetype", "json"),
        ]
        for name in WHMCS_PARAMS:
            if draw(st.integers(0, 2)) == 0:
                weird = st.sampled_from([*DEEP_JSON, *HUGE_NUMBERS]) | EDGE_NUMBERS | text
                pairs.append((name, now_and_then(draw, whmcs_values[name], weird)))
        return pairs

    @st.composite
    def request(draw) -> dict:
        url = path
        for template, (name, kind) in params.items():
            part = now_and_then(draw, segment(name, kind), weird_segment(name, kind))
            url = url.replace(template, part)
        pairs = draw(query)
        raw = draw(st.sampled_from(["", "", "", *RAW_QUERIES]))
        if pairs or raw:
            url += "?" + urlencode(pairs) + raw
        data, files, content, headers = {}, [], None, dict(draw(st.sampled_from(HTMX)))
        if method not in ("GET", "HEAD"):
            for name, good in form.items():
                for _ in range(draw(st.sampled_from([1, 1, 1, 0, 2]))):  # once, absent, repeated
                    data.setdefault(name, []).append(
                        now_and_then(draw, st.sampled_from(good), value(name))
                    )
            for name, extra_value in draw(extra):  # names the app does not read
                data.setdefault(name, []).append(extra_value)
            if data and draw(st.integers(0, 7)) == 7:  # a file where the form holds text
                name = draw(st.sampled_from(sorted(data)))
                files.append((name, ("x.txt", data.pop(name)[0].encode(), "text/plain")))
            if draw(st.integers(0, 9)) == 9:  # a body that is no well-formed form at all
                data, files, content = {}, [], draw(st.binary(max_size=64))
                headers["content-type"] = draw(st.sampled_from(BODY_TYPES))
        if where == "api":
            identifier, secret = world.credential
            bearer = f"Bearer {identifier}:{secret}"
            wrong = [f"Bearer {identifier}:", f"Bearer {quote(bearer)}", bearer.upper(), "Basic x"]
            headers["authorization"] = now_and_then(draw, st.just(bearer), st.sampled_from(wrong))
            data, files, content = {}, [], None
            if method in ("POST", "PUT", "PATCH"):
                content = draw(json_body()).encode()
                headers["content-type"] = "application/json"
        elif where == "whmcs":
            call = draw(whmcs_params())
            in_query = [pair for pair in call if method == "GET" or draw(st.integers(0, 3)) == 3]
            # A URL holds 64 KB at most (httpx's limit, and servers have one): the rest of a
            # GET's parameters is left out.
            in_query = [pair for pair in in_query if len(quote(pair[1])) < URL_BUDGET]
            while len(urlencode(in_query)) > URL_BUDGET:
                in_query.pop()
            if in_query:
                url += ("&" if "?" in url else "?") + urlencode(in_query)
            if method != "GET" and not content:
                data = {}
                for name, text_value in call:
                    if (name, text_value) not in in_query:
                        data.setdefault(name, []).append(text_value)
        return {
            "method": draw(st.sampled_from(["GET", "HEAD"])) if method == "GET" else method,
            "url": url,
            "data": data,
            "files": files,
            "content": content,
            "headers": headers,
            "csrf": draw(st.integers(0, 9)) < 9,
        }

    return request()


def now_and_then(draw, usual: st.SearchStrategy, weird: st.SearchStrategy):
    """A `weird` value one time in four (a usual one where hypothesis shrinks)."""
    return draw(weird if draw(st.integers(0, 3)) == 3 else usual)


def fuzz_every_route(world: World) -> list[str]:
    failures, pairs = [], route_table()
    examples = max(1, math.ceil(EXAMPLES / len(pairs)))
    for pair in pairs:
        try:
            # Shrinking the first few failures is enough (the same bug often shows on every route).
            world.fuzz(pair, examples, shrink=len(failures) < 3)
        except Exception as exc:
            failures += [str(e) for e in getattr(exc, "exceptions", [exc])]
    return failures


@pytest.mark.filterwarnings("ignore:Generating overly large repr")  # the 100,000-deep JSON
async def test_no_route_answers_a_5xx_or_writes_on_a_4xx_whoever_asks(monkeypatch):
    moment = clock.now()  # one instant: the database can be put back exactly as it was
    monkeypatch.setattr(clock, "now", lambda: moment)
    async with contextlib.AsyncExitStack() as stack:
        world = World(asyncio.get_running_loop())
        await world.build(stack)
        failures = await asyncio.to_thread(fuzz_every_route, world)
    assert not failures, "\n\n".join(failures)
