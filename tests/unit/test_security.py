import asyncio
import os
import threading
import time

import argon2
import pytest

from app.core import security
from app.core.config import get_settings, hashing_threads
from app.core.errors import DomainError
from app.core.logging_setup import redact
from app.http.plumbing.forms import safe_next


def test_passwords_are_hashed_with_argon2id_and_verify():
    hashed = security.hash_password("correct-horse-battery-9")
    assert hashed.startswith("$argon2id$")
    assert security.verify_password(hashed, "correct-horse-battery-9")
    assert not security.verify_password(hashed, "wrong")
    assert not security.verify_password(None, "anything")
    assert not security.verify_password("not-a-hash", "anything")


def test_tokens_have_256_bits_and_only_their_sha256_is_kept():
    token, digest = security.new_token()
    assert len(token) >= 43  # 32 random bytes, URL-safe base64
    assert digest == security.token_hash(token)
    assert len(digest) == 64 and token not in digest
    assert security.new_token()[0] != token


@pytest.mark.parametrize("password", ["short", "password1", "aaaaaaaaaaaa"])
def test_weak_passwords_are_refused(password):
    with pytest.raises(DomainError) as err:
        security.check_new_password(password)
    assert err.value.field == "password"


def test_a_strong_password_passes():
    security.check_new_password("violet-anchor-tundra-42")


def test_tokens_are_redacted_from_logged_urls():
    line = 'GET /invite/AbC_dEf-123 HTTP/1.1" 200 and /password/reset/xyz987'
    assert redact(line) == 'GET /invite/[redacted] HTTP/1.1" 200 and /password/reset/[redacted]'


TOKEN = "Tok3n_ThatMustNotShow-9"


@pytest.mark.parametrize(
    "line,expected",
    [
        (f"GET /INVITE/{TOKEN}/accept", "GET /INVITE/[redacted]/accept"),
        (f"GET /Password/Reset/{TOKEN}", "GET /Password/Reset/[redacted]"),
        (f"GET /verify-email/{TOKEN}?x=1", "GET /verify-email/[redacted]?x=1"),
        (f"GET /login?next=%2Finvite%2F{TOKEN}", "GET /login?next=[redacted]"),
        (f"GET /login?next=%252Finvite%252F{TOKEN}", "GET /login?next=[redacted]"),
        (f"GET /login?next=%2FINVITE%2F{TOKEN}&q=a", "GET /login?next=[redacted]&q=a"),
        (f"GET /login?next=%2Fpassword%2Freset%2F{TOKEN}", "GET /login?next=[redacted]"),
        (f"GET /login?x=1;next=/verify-email/{TOKEN}", "GET /login?x=1;next=[redacted]"),
        (f"GET /login?%2Finvite%2F{TOKEN}", "GET /login?[redacted]"),
        (f"GET /%2569nvite/{TOKEN}", "GET /invite/[redacted]"),
        (f"GET /x?next=%25252525252Finvite%2F{TOKEN}", "GET /x?next=[redacted]"),
        (f"GET /login?next=/x%3Fnext%3D%252Finvite%252F{TOKEN}", "GET /login?next=[redacted]"),
        (
            f"GET /INCLUDES/api.php?action=GetUsers&identifier=id1&secret={TOKEN}",
            "GET /INCLUDES/api.php?action=GetUsers&identifier=id1&secret=[redacted]",
        ),
        (
            f"GET /anything?username=id1&PASSWORD={TOKEN}&password2={TOKEN}&accesskey={TOKEN}",
            "GET /anything?username=id1&PASSWORD=[redacted]&password2=[redacted]"
            "&accesskey=[redacted]",
        ),
        (f"GET /login?code={TOKEN}&Token={TOKEN}", "GET /login?code=[redacted]&Token=[redacted]"),
        (f"GET /login?%53ecret={TOKEN}", "GET /login?%53ecret=[redacted]"),
        (f"GET /login?next=%2Fx%3Fsecret%3D{TOKEN}", "GET /login?next=[redacted]"),
        # What holds no secret stays as it was.
        ("GET /admin/users?q=ann%20lee&after=3", "GET /admin/users?q=ann%20lee&after=3"),
        ("GET /login?next=%2Faccount", "GET /login?next=%2Faccount"),
        ("100% done, 3/4 left, a=b", "100% done, 3/4 left, a=b"),
    ],
)
def test_secrets_are_redacted_whatever_their_case_and_encoding(line, expected):
    assert redact(line) == expected
    assert TOKEN not in redact(line)


def test_a_redacted_json_line_stays_json():
    import json

    line = json.dumps({"message": f'"GET /login?next=%2Finvite%2F{TOKEN}" 200 \\ "x"'})
    assert TOKEN not in redact(line)
    assert json.loads(redact(line))["message"] == '"GET /login?next=[redacted]" 200 \\ "x"'


def test_redacting_a_long_line_is_quick():
    import time

    started = time.perf_counter()
    redact("A" * 200_000 + " " + "/x?a=" * 20_000 + " " + "%25" * 50_000)
    assert time.perf_counter() - started < 1


@pytest.mark.parametrize(
    "url,expected",
    [
        ("/account", "/account"),
        ("//evil.example/x", "/d"),
        ("https://evil.example", "/d"),
        ("/\\evil", "/d"),
        (None, "/d"),
    ],
)
def test_next_urls_stay_on_this_site(url, expected):
    assert safe_next(url, "/d") == expected


def test_long_passwords_are_scored_not_refused_by_the_estimator():
    """zxcvbn raises on more than 72 characters: the check scores the first 72."""
    from app.core.security import MAX_PASSWORD_LENGTH, check_new_password

    check_new_password("correct horse battery staple " * 8)  # 232 characters, no ValueError
    check_new_password("q7-Vt" * (MAX_PASSWORD_LENGTH // 5))


def test_json_log_lines_carry_the_request_id_and_no_token(monkeypatch, capsys):
    import json
    import logging

    from app.core import logging_setup

    monkeypatch.setenv("ROSTER_LOG_FORMAT", "json")
    root = logging.getLogger()
    before = root.handlers[:], root.level
    try:
        logging_setup.configure_logging()
        token = logging_setup.request_id.set("req-9")
        try:
            logging.getLogger("roster.test").info('"GET /invite/S3cretTok HTTP/1.1" 200')
        finally:
            logging_setup.request_id.reset(token)
    finally:
        root.handlers[:], level = before
        root.setLevel(level)
    line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert line["request_id"] == "req-9" and line["logger"] == "roster.test"
    assert line["message"] == '"GET /invite/[redacted] HTTP/1.1" 200'


def test_an_unknown_log_format_is_refused(monkeypatch):
    import pytest

    from app.core import logging_setup

    monkeypatch.setenv("ROSTER_LOG_FORMAT", "xml")
    with pytest.raises(ValueError, match="ROSTER_LOG_FORMAT"):
        logging_setup.configure_logging()


# OWASP Password Storage Cheat Sheet, argon2id: (memory in KiB, passes), each with one lane.
OWASP_ARGON2ID_OPTIONS = [(47104, 1), (19456, 2), (12288, 3), (9216, 4), (7168, 5)]


def test_production_hashing_is_argon2id_at_or_above_owasps_recommendation():
    parameters = security.PASSWORD_PARAMETERS
    assert parameters.type is argon2.Type.ID
    assert any(
        parameters.memory_cost >= memory and parameters.time_cost >= passes
        for memory, passes in OWASP_ARGON2ID_OPTIONS
    )
    assert parameters.salt_len >= 16 and parameters.hash_len >= 32
    security.use_password_parameters(security.PASSWORD_PARAMETERS)
    try:
        made = argon2.extract_parameters(security.hash_password("correct-horse-battery-9"))
    finally:
        security.use_password_parameters(argon2.profiles.CHEAPEST)  # the tests' (tests/conftest.py)
    assert made == parameters


def test_a_production_hash_runs_on_one_thread_so_the_pool_bounds_its_cores():
    """libargon2 gives each lane a thread of its own: with more than one lane, one pool thread
    would keep more than one core busy."""
    assert security.PASSWORD_PARAMETERS.parallelism == 1
    assert security.PASSWORD_PARAMETERS.memory_cost == 47104  # OWASP's first option, 46 MiB
    assert security.PASSWORD_PARAMETERS.time_cost == 1


def test_the_hashing_pool_leaves_a_core_free_unless_told_otherwise():
    assert hashing_threads({}) == max(1, (os.cpu_count() or 1) - 1)
    assert hashing_threads({"ROSTER_HASHING_THREADS": "3"}) == 3
    for wrong in ("0", "-1", "two", "1.5"):
        with pytest.raises(ValueError, match="ROSTER_HASHING_THREADS"):
            hashing_threads({"ROSTER_HASHING_THREADS": wrong})


async def test_hashing_waits_in_line_in_its_pool():
    threads = get_settings().hashing_threads
    running, most = 0, 0
    lock = threading.Lock()

    def work():
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.02)
        with lock:
            running -= 1

    await asyncio.gather(*(security.in_hashing_pool(work) for _ in range(4 * threads)))
    assert most == threads
