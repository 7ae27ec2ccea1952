import json
from urllib.parse import quote

import httpx
import pytest
from bs4 import BeautifulSoup

from tests.factories import PASSWORD

_apps: dict = {}


def app_for_tests():
    """The app for the current settings, made once per settings: making one costs about 0.4 s
    (Litestar registers some 440 handlers), which was a third of the suite's time when every
    test made its own. An app keeps nothing between requests but what it was made with; the
    templates' mode is module state, so it is set again for these settings each time. Its
    lifespan is not run: the session fixture owns the database."""
    from app.asgi import create_app, render_for
    from app.core.config import get_settings

    settings = get_settings()
    if settings not in _apps:
        _apps[settings] = create_app(settings, run_workers=False, manage_database=False)
    render_for(settings)
    return _apps[settings]


@pytest.fixture
async def http():
    # In the test's own event loop (the PostgreSQL pool belongs to it).
    transport = httpx.ASGITransport(app=app_for_tests(), client=("127.0.0.1", 50000))
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver.local", follow_redirects=False
    ) as client:
        yield Browser(client)


class Browser:
    """A test client that behaves like a browser: it keeps cookies and sends the CSRF token."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    @property
    def cookies(self):
        return self.client.cookies

    async def get(self, url: str, **kwargs):
        return await self.client.get(url, **kwargs)

    async def post(self, url: str, data: dict | None = None, *, csrf: bool = True, **kwargs):
        if csrf and "roster_csrf" not in self.client.cookies:
            await self.client.get("/login")
        headers = kwargs.pop("headers", {})
        if csrf:
            headers["x-csrftoken"] = self.client.cookies.get("roster_csrf")
        return await self.client.post(url, data=data or {}, headers=headers, **kwargs)

    async def login(self, email: str, password: str = PASSWORD, path: str = "/login"):
        response = await self.post(path, {"email": email, "password": password})
        assert response.status_code in (200, 303), response.text
        return response


def page(response) -> BeautifulSoup:
    return BeautifulSoup(response.text, "html.parser")


def text_of(response) -> str:
    return " ".join(page(response).get_text(" ").split())


def messages_of(response) -> list[dict]:
    """The messages a response gives the live region: a fragment's roster:flash event
    (HX-Trigger), else those rendered into a whole page's #flash."""
    header = response.headers.get("hx-trigger")
    if header:
        return json.loads(header).get("roster:flash", {}).get("messages", [])
    region = page(response).find(id="flash")
    return (
        [{"text": m.get_text(" ", strip=True)} for m in region.select(".flash")] if region else []
    )


def message_texts(response) -> list[str]:
    return [m["text"] for m in messages_of(response)]


def seen(response) -> str:
    """What a person sees of a response: its text and the messages it gives the live region."""
    return " ".join([text_of(response), *message_texts(response)])


def written_otherwise(number: int) -> list[str]:
    """`number` as int() reads it but not in ASCII decimal: in Arabic-Indic, fullwidth and
    Devanagari digits, with a space or a sign before it, with an underscore in it."""
    text = str(number)
    return [
        text.translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")),
        text.translate(str.maketrans("0123456789", "０１２３４５６７８９")),
        text.translate(str.maketrans("0123456789", "०१२३४५६७८९")),
        quote(" " + text),
        quote("+" + text),
        text[0] + "_" + text[1:] if len(text) > 1 else text + "_0",
    ]


async def log_in_as_staff(http, email: str, password: str, name: str, role: str) -> None:
    from app.domain.staff.services import create_admin
    from tests.factories import ADMIN

    await create_admin(email=email, password=password, name=name, role=role, actor=ADMIN)
    await http.login(email, password, path="/admin/login")


@pytest.fixture
async def admin_session(http):
    """`http` logged in as a Full Administrator."""
    await log_in_as_staff(http, "ada@example.com", "admin-passphrase-77", "Ada", "full")


@pytest.fixture
def allow_private(monkeypatch):
    """ROSTER_WEBHOOK_ALLOW_PRIVATE=1 (the tests' webhook receivers are on 127.0.0.1); the
    settings read afresh with it."""
    from app.core.config import get_settings

    monkeypatch.setenv("ROSTER_WEBHOOK_ALLOW_PRIVATE", "1")
    get_settings.cache_clear()
    yield get_settings()
    monkeypatch.delenv("ROSTER_WEBHOOK_ALLOW_PRIVATE")
    get_settings.cache_clear()


@pytest.fixture
async def support_session(http):
    """`http` logged in as a Support Operator."""
    await log_in_as_staff(http, "sam@example.com", "support-passphrase-7", "Sam", "support")


class _Counter:
    def __init__(self) -> None:
        self.n = 0
        self.statements: list[str] = []


@pytest.fixture
def count_queries(monkeypatch):
    """Counts the SQL statements run inside the `with` block (every Piccolo query, raw ones too,
    goes through the engine's run_querystring; the viewer's through db.fetch_quick), and keeps
    their text."""
    import contextlib

    from app.core import db
    from piccolo_conf import DB

    engine_class = type(DB)
    active: list[_Counter] = []

    def counted_call(original):
        async def counting(*args, **kwargs):
            for counter in active:
                counter.n += 1
                counter.statements.append(str(args[1] if original is run_querystring else args[0]))
            return await original(*args, **kwargs)

        return counting

    run_querystring = engine_class.run_querystring
    monkeypatch.setattr(engine_class, "run_querystring", counted_call(run_querystring))
    monkeypatch.setattr(db, "fetch_quick", counted_call(db.fetch_quick))

    @contextlib.contextmanager
    def counted():
        counter = _Counter()
        active.append(counter)
        try:
            yield counter
        finally:
            active.remove(counter)

    return counted
