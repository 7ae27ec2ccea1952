"""Page weight: compressed answers, long-lived caching of versioned static
files, and a password meter answered by the server instead of an 822 KB script."""

import gzip
import hashlib
import re
import time

import brotli
import pytest
import rjsmin

from app.core.config import FRONTEND_DIR
from app.core.errors import DomainError
from app.core.security import MAX_PASSWORD_LENGTH, check_new_password
from app.domain.access import services as access
from app.http.plumbing.delivery import APP_SCRIPT
from app.http.public.strength import LABELS
from tests.factories import ADMIN, PASSWORD, make_client, make_user
from tests.integration.conftest import page

HX = {"HX-Request": "true", "HX-Request-Type": "partial"}
STATIC = FRONTEND_DIR / "static"
YEAR = "public, max-age=31536000, immutable"


async def raw_get(http, url: str, encoding: str, **headers):
    """The answer as sent (`response.content` would be decoded): (response, body bytes)."""
    headers = {"accept-encoding": encoding, **headers}
    async with http.client.stream("GET", url, headers=headers) as response:
        return response, b"".join([chunk async for chunk in response.aiter_raw()])


def decoded(response, body: bytes) -> bytes:
    encoding = response.headers.get("content-encoding", "identity")
    return {"br": brotli.decompress, "gzip": gzip.decompress}.get(encoding, bytes)(body)


def varies_on_encoding(response) -> bool:
    return "accept-encoding" in response.headers.get("vary", "").lower()


@pytest.fixture
async def users_tab(http, admin_session):
    client_id, _ = await make_client("Client Test")
    for i in range(3):
        user = await make_user("Member", f"Number{i}")
        await access.grant_access(client_id, user["id"], ["tickets"], actor=ADMIN)
    return f"/admin/clients/{client_id}/users"


# Compression


async def test_pages_come_in_brotli_or_gzip_when_asked_and_plain_otherwise(http, users_tab):
    plain, plain_body = await raw_get(http, users_tab, "identity")
    assert plain.status_code == 200 and "content-encoding" not in plain.headers
    assert len(plain_body) > 5000 and varies_on_encoding(plain)
    for encoding in ("br", "gzip"):
        response, body = await raw_get(http, users_tab, encoding)
        assert response.headers["content-encoding"] == encoding
        assert varies_on_encoding(response)
        assert "hx-request" in response.headers["vary"].lower()  # the page's own Vary stays
        assert len(body) < len(plain_body) / 3
        assert int(response.headers["content-length"]) == len(body)
        assert decoded(response, body) == plain_body
    # Browsers list several: brotli wins.
    response, _ = await raw_get(http, users_tab, "gzip, deflate, br, zstd")
    assert response.headers["content-encoding"] == "br"


async def test_htmx_fragments_are_compressed_and_stay_fragments(http, users_tab):
    for i in range(12):
        await make_user("Searchable", f"Person{i}")
    response, body = await raw_get(http, "/admin/users?q=Searchable", "br", **HX)
    assert response.status_code == 200 and response.headers["content-encoding"] == "br"
    fragment = decoded(response, body).decode()
    assert "<html" not in fragment and "Person11" in fragment


# A coding with q=0 is refused, wherever an answer is compressed.
REFUSE_BROTLI = "br;q=0, gzip"
REFUSE_BOTH = "gzip;q=0, br;q=0, *;q=0"


async def test_a_refused_coding_is_never_sent_pages_fragments_static_files_api(http, users_tab):
    for i in range(12):
        await make_user("Searchable", f"Person{i}")
    script = f"/static/js/app.js?v={sha12('js/app.js')}"
    schema = "/api/v1/schema/openapi.json"
    for url, headers in (
        (users_tab, {}),
        ("/admin/users?q=Searchable", HX),
        ("/static/css/roster.css", {}),
        (script, {}),
        (schema, {}),
    ):
        plain, plain_body = await raw_get(http, url, "identity", **headers)
        assert plain.status_code == 200 and len(plain_body) > 1024, url
        gzipped, body = await raw_get(http, url, REFUSE_BROTLI, **headers)
        assert gzipped.headers.get("content-encoding") == "gzip", url
        assert decoded(gzipped, body) == plain_body and varies_on_encoding(gzipped)
        neither, body = await raw_get(http, url, REFUSE_BOTH, **headers)
        assert "content-encoding" not in neither.headers and body == plain_body, url
        assert varies_on_encoding(neither)


async def test_redirects_and_empty_answers_are_not_compressed(http):
    await make_client("Client Test", owner_email="fiona@example.com")
    await http.get("/login")
    token = http.cookies.get("roster_csrf")
    form = {"email": "fiona@example.com", "password": PASSWORD}
    plain = await http.client.post(
        "/login", data=form, headers={"x-csrftoken": token, "accept-encoding": "br"}
    )
    assert plain.status_code == 303 and plain.headers["location"] == "/account"
    assert "content-encoding" not in plain.headers
    htmx = await http.client.post(
        "/login", data=form, headers={"x-csrftoken": token, "accept-encoding": "br", **HX}
    )
    assert htmx.status_code == 200 and htmx.headers["hx-location"] == "/account"
    assert "content-encoding" not in htmx.headers and htmx.content == b""
    # ... and where they lead is compressed.
    home, _ = await raw_get(http, "/account", "br")
    assert home.status_code == 200 and home.headers["content-encoding"] == "br"


# Static files


def app_js() -> str:
    """app.js as written: its parts, in their order, one line break between two."""
    return "\n".join((STATIC / part).read_text() for part in APP_SCRIPT)


def test_every_behaviour_is_in_app_js_or_loaded_by_the_template_that_needs_it():
    templates = "\n".join(
        path.read_text() for path in (STATIC.parent / "templates").rglob("*.html")
    )
    for path in sorted((STATIC / "js" / "behaviours").glob("*.js")):
        relative = path.relative_to(STATIC).as_posix()
        loaded = f"static_url('{relative}')" in templates
        assert (relative in APP_SCRIPT) != loaded, relative  # one or the other, never both


def source_of(relative: str) -> bytes:
    return app_js().encode() if relative == "js/app.js" else (STATIC / relative).read_bytes()


def sha12(relative: str) -> str:
    return hashlib.sha256(source_of(relative)).hexdigest()[:12]


async def test_pages_link_versioned_static_files_cached_for_a_year(http, users_tab):
    soup = page(await http.get(users_tab))
    links = [soup.find("link", rel="stylesheet")["href"], soup.find("link", rel="icon")["href"]]
    links += [s["src"] for s in soup.find_all("script", src=True)]
    assert len(links) == 5  # stylesheet, icon, htmx, its SSE extension, app.js
    for url in links:
        path, version = re.fullmatch(r"/static/(.+)\?v=([0-9a-f]{12})", url).groups()
        assert version == sha12(path)
        response = await http.get(url)  # logged in: static files are not "no-store"
        assert response.status_code == 200
        assert response.headers["cache-control"] == YEAR
        source = source_of(path)
        if path == "js/app.js":
            source = rjsmin.jsmin(app_js()).encode()
        assert response.content == source


async def test_unversioned_or_stale_static_urls_are_revalidated_with_304(http):
    for url in ("/static/css/roster.css", "/static/css/roster.css?v=000000000000"):
        response = await http.get(url)
        assert response.status_code == 200
        assert response.headers["cache-control"] == "no-cache"
        etag, modified = response.headers["etag"], response.headers["last-modified"]
        assert sha12("css/roster.css") in etag
        for condition in ({"if-none-match": etag}, {"if-modified-since": modified}):
            again = await http.get(url, headers=condition)
            assert again.status_code == 304 and again.content == b""
            assert again.headers["etag"] == etag
            assert again.headers["cache-control"] == "no-cache"
        changed = await http.get(url, headers={"if-none-match": 'W/"0123456789ab"'})
        assert changed.status_code == 200 and len(changed.content) > 1000
    for url in ("/static/css/nothing.css", "/static/%2e%2e/app/asgi.py", "/static/"):
        assert (await http.get(url)).status_code == 404


async def test_a_versioned_url_answers_304_too_and_compressed_files_share_the_etag(http):
    url = f"/static/js/app.js?v={sha12('js/app.js')}"
    response, body = await raw_get(http, url, "br")
    assert response.headers["content-encoding"] == "br"
    assert decoded(response, body) == rjsmin.jsmin(app_js()).encode()
    plain, _ = await raw_get(http, url, "identity")
    # Weak: the same file whatever its Content-Encoding.
    assert plain.headers["etag"] == response.headers["etag"]
    assert plain.headers["etag"].startswith("W/")
    again = await http.get(url, headers={"if-none-match": response.headers["etag"]})
    assert again.status_code == 304 and again.headers["cache-control"] == YEAR
    assert varies_on_encoding(again)


async def test_our_script_is_sent_minified_and_the_js_of_a_page_stays_under_20_kb_gzipped(http):
    source = app_js()
    response, body = await raw_get(http, f"/static/js/app.js?v={sha12('js/app.js')}", "gzip")
    sent = decoded(response, body).decode()
    assert response.headers["content-type"].startswith("text/javascript")
    assert "\n  // " in source and "// " not in sent and len(sent) < 0.75 * len(source)
    vendor, vendor_body = await raw_get(
        http,
        f"/static/vendor/htmx-4.0.1/htmx.min.js?v={sha12('vendor/htmx-4.0.1/htmx.min.js')}",
        "gzip",
    )
    assert decoded(vendor, vendor_body) == (STATIC / "vendor/htmx-4.0.1/htmx.min.js").read_bytes()
    assert len(body) + len(vendor_body) <= 20 * 1024  # the Users tab's budget


async def test_static_files_set_no_cookie(http):
    for url in ("/static/css/roster.css", f"/static/favicon.svg?v={sha12('favicon.svg')}"):
        response = await http.client.get(url)
        assert response.status_code == 200
        assert "set-cookie" not in response.headers
    assert not http.cookies
    # Pages still hand out the CSRF cookie.
    assert "roster_csrf=" in (await http.client.get("/login")).headers["set-cookie"]


# The password meter


async def strength(http, password: str, **fields):
    response = await http.post(
        "/password-strength", {"password": password, "meter": "r", **fields}, headers=HX
    )
    assert response.status_code == 200, response.text
    meter = page(response).find(id="r-strength")
    return int(meter["data-score"]), meter.find(class_="strength-label").get_text()


async def test_the_meter_is_answered_by_the_server(http):
    response = await http.post("/password-strength", {"password": "password", "meter": "r"})
    assert response.status_code == 200
    soup = page(response)
    meter = soup.select_one("div.strength-meter#r-strength")
    assert meter["data-score"] == "0"
    live = meter.find("p", id="r-strength-text")
    assert live["aria-live"] == "polite"
    assert live.get_text(" ", strip=True) == "Password Strength: Very weak (too easy to guess)"
    assert await strength(http, "Xq7#mP2v!kL9wZ4r-tundra") == (4, "Very strong")
    assert await strength(http, "") == (-1, "Enter a Password")


async def test_the_meter_agrees_with_the_servers_rule(http):
    names = {"first_name": "Olivia", "last_name": "Featherstone", "email": "olivia@example.com"}
    inputs = list(names.values())
    passwords = [
        "password",
        "12345678",
        "Tr0ub4dour&3",
        "Xk9#qL2",  # strong enough, too short
        "correct horse",
        PASSWORD,
        "olivia@example.com",  # weak only because of who types it
        "OliviaFeatherstone",
        "Featherstone2024!",
        "sunshine-umbrella-42",
        "Xq7#mP2v!kL9wZ4r-tundra",
    ]
    for password in passwords:
        score, label = await strength(http, password, **names)
        assert label.startswith(LABELS[score])
        try:
            check_new_password(password, inputs)
            refused = False
        except DomainError:
            refused = True
        assert refused == ("(" in label), (password, label)
    # The same password, without the names it resembles, is fine.
    for password in ("olivia@example.com", "OliviaFeatherstone"):
        assert "(" not in (await strength(http, password))[1]
        assert "too easy" in (await strength(http, password, **names))[1]


async def test_the_meter_reads_at_most_the_longest_password_allowed(http):
    started = time.perf_counter()
    _, label = await strength(http, "x7Kq9ZpL2vWm" * 1000)
    assert time.perf_counter() - started < 2
    assert label.endswith(f"(too long: at most {MAX_PASSWORD_LENGTH} characters)") or (
        "too easy" in label
    )
    _, label = await strength(http, "x7#Kq9Zp!L2vWm" * 19)  # 266 characters
    assert f"at most {MAX_PASSWORD_LENGTH}" in label
    # A body far bigger than any form holding a password is not read at all.
    response = await http.post("/password-strength", {"password": "x" * 20_000}, headers=HX)
    assert response.status_code == 413


async def test_the_meter_needs_the_csrf_token(http):
    response = await http.post("/password-strength", {"password": "password"}, csrf=False)
    assert response.status_code == 403
    await http.get("/login")
    response = await http.client.post(
        "/password-strength",
        data={"password": "password", "_csrf_token": http.cookies.get("roster_csrf")},
    )
    assert response.status_code == 200  # the form's hidden field does as well as the header


async def test_the_meter_touches_no_database_and_answers_logged_in_people_too(http, count_queries):
    await http.get("/register")
    with count_queries() as queries:
        assert (await strength(http, "password"))[0] == 0
    assert queries.n == 0
    await make_client("Client Test", owner_email="fiona@example.com")
    await http.login("fiona@example.com")
    assert (await strength(http, "Xq7#mP2v!kL9wZ4r-tundra"))[0] == 4


async def test_the_meter_refuses_an_unknown_meter_id(http):
    response = await http.post("/password-strength", {"password": "x", "meter": '"><script>'})
    assert response.status_code == 400


async def test_password_fields_ask_the_server_and_no_script_is_loaded(http):
    soup = page(await http.get("/register"))
    field = soup.find("input", id="f-password")
    assert field["hx-post"] == "/password-strength"
    assert field["hx-trigger"] == "input changed delay:300ms"
    assert field["hx-target"] == "#f-strength" and soup.select_one(field["hx-target"])
    assert field["hx-sync"] == "this:replace"
    assert field["hx-vals"] == '{"meter": "f"}'
    assert field["maxlength"] == str(MAX_PASSWORD_LENGTH)
    assert not field.has_attr("data-strength-meter")
    assert field.find_parent("form").find("input", attrs={"name": "_csrf_token"})
    assert not (STATIC / "vendor" / "zxcvbn-4.4.2").exists()
    assert (await http.get("/static/vendor/zxcvbn-4.4.2/zxcvbn.js")).status_code == 404


def test_production_versions_each_static_file_once_per_process(monkeypatch):
    """Development sees an edited file at once; production hashes each file once, instead of
    resolving and stat'ing four files on every page."""
    from app.asgi import create_app
    from app.core.config import load_settings
    from app.http.plumbing import delivery
    from app.http.plumbing.render import templates

    versioned = []
    real = delivery.static_file
    monkeypatch.setattr(delivery, "static_file", lambda rel: versioned.append(rel) or real(rel))
    production = load_settings(
        {"ROSTER_ENV": "production", "ROSTER_SECRET_KEY": "k" * 40, "ROSTER_BASE_URL": "https://x"}
    )
    create_app(production, run_workers=False, manage_database=False)
    try:
        delivery.fixed_static_url.cache_clear()
        for _ in range(3):
            url = templates.globals["static_url"]("css/roster.css")
        assert versioned == ["css/roster.css"] and url.startswith("/static/css/roster.css?v=")
        create_app(load_settings(), run_workers=False, manage_database=False)
        templates.globals["static_url"]("css/roster.css")
        assert len(versioned) == 2  # development looks at the file again
    finally:
        create_app(load_settings(), run_workers=False, manage_database=False)
