"""TOTP: the ±1 step window, replay refusal, and recovery codes (hashed, single use)."""

import hashlib
from datetime import timedelta

import pyotp
import pytest

from app.core import clock
from app.domain.two_factor import services as two_factor
from app.schema.two_factor import RecoveryCode
from tests.factories import make_user, user_actor

SECRET = pyotp.random_base32()


def code(offset: int = 0, secret: str = SECRET) -> str:
    return two_factor.code_at(secret, two_factor.time_step() + offset)


@pytest.mark.parametrize("offset", [-1, 0, 1])
def test_a_code_within_one_step_either_side_is_accepted(offset):
    assert two_factor.matching_step(SECRET, code(offset)) == two_factor.time_step() + offset


@pytest.mark.parametrize("offset", [-2, 2, 10])
def test_a_code_two_steps_away_is_refused(offset):
    assert two_factor.matching_step(SECRET, code(offset)) is None


def test_codes_are_what_authenticator_apps_show():
    # pyotp's TOTP at the same instant: SHA-1, 6 digits, 30 seconds.
    assert code() == pyotp.TOTP(SECRET).at(clock.now())
    assert two_factor.matching_step(SECRET, f" {code()[:3]} {code()[3:]} ") is not None
    assert two_factor.matching_step(SECRET, "abcdef") is None


def test_recovery_codes_are_random_grouped_and_stored_as_sha256():
    codes = two_factor.new_recovery_codes()
    assert len(codes) == 10 and len(set(codes)) == 10
    for c in codes:
        assert len(c) == 14 and c[4] == c[9] == "-"
        raw = c.replace("-", "")
        assert two_factor.recovery_code_hash(c) == hashlib.sha256(raw.encode()).hexdigest()
        # Typed in lower case or without dashes, it is the same code.
        assert two_factor.recovery_code_hash(raw.lower()) == two_factor.recovery_code_hash(c)


async def enrolled_user():
    user = await make_user()
    person = two_factor.Person("user", user["id"])
    secret = await two_factor.begin_enrolment(person)
    codes = await two_factor.confirm_enrolment(person, code(0, secret), actor=user_actor(user))
    return person, secret, codes


async def test_a_used_code_is_never_accepted_again():
    person, secret, _ = await enrolled_user()
    # The step that confirmed the enrolment is used, and so is every one before it.
    assert not await two_factor.use_code(person, code(0, secret))
    assert not await two_factor.use_code(person, code(-1, secret))
    assert await two_factor.use_code(person, code(1, secret))
    assert not await two_factor.use_code(person, code(1, secret))


async def test_a_later_step_is_accepted_once_the_clock_moves_on(monkeypatch):
    person, secret, _ = await enrolled_user()
    later = clock.now() + timedelta(seconds=90)
    monkeypatch.setattr(clock, "now", lambda: later)
    assert await two_factor.use_code(person, code(0, secret))
    assert not await two_factor.use_code(person, code(0, secret))


async def test_recovery_codes_are_stored_hashed_and_work_once():
    person, _, codes = await enrolled_user()
    stored = {r["code_hash"] for r in await RecoveryCode.select(RecoveryCode.code_hash)}
    assert stored == {two_factor.recovery_code_hash(c) for c in codes}
    assert not any(c in h or c.replace("-", "") in h for c in codes for h in stored)
    assert await two_factor.use_code(person, codes[3].lower())
    assert not await two_factor.use_code(person, codes[3])
    assert (await two_factor.status(person))["recovery_codes_left"] == 9


async def test_another_persons_recovery_code_does_not_work():
    person, _, _ = await enrolled_user()
    _, _, others = await enrolled_user()
    assert not await two_factor.use_code(person, others[0])
