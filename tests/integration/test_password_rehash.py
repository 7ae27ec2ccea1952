"""A stored password hash made with other argon2id parameters than the ones in use is replaced at
the next successful login, and only then (both engines)."""

import dataclasses

import pytest
from argon2 import extract_parameters, profiles

from app.core import security
from app.core.errors import DomainError
from app.domain.auth import services as auth
from app.schema.staff import Admin
from app.schema.users import User
from tests.factories import PASSWORD, make_user
from tests.integration.conftest import log_in_as_staff

STRONGER = dataclasses.replace(profiles.CHEAPEST, time_cost=2, memory_cost=16)


@pytest.fixture
def stronger_parameters():
    security.use_password_parameters(STRONGER)
    yield
    security.use_password_parameters(profiles.CHEAPEST)


async def stored_hash(table, email: str) -> str:
    row = await table.select(table.password_hash).where(table.email == email).first()
    return row["password_hash"]


async def test_a_login_rehashes_a_password_hashed_with_older_parameters(http, stronger_parameters):
    security.use_password_parameters(profiles.CHEAPEST)
    user = await make_user(email="older@example.com")
    old_hash = await stored_hash(User, user["email"])
    security.use_password_parameters(STRONGER)

    with pytest.raises(DomainError):
        await auth.authenticate_user(user["email"], "not the password", "127.0.0.1")
    assert await stored_hash(User, user["email"]) == old_hash  # a failed login changes nothing

    await http.login(user["email"])
    new_hash = await stored_hash(User, user["email"])
    assert new_hash != old_hash and new_hash.startswith("$argon2id$")
    assert extract_parameters(new_hash) == STRONGER
    assert security.verify_password(new_hash, PASSWORD)

    await auth.authenticate_user(user["email"], PASSWORD, "127.0.0.1")
    assert await stored_hash(User, user["email"]) == new_hash  # current parameters: kept as is


async def test_a_staff_login_rehashes_too(http, stronger_parameters):
    security.use_password_parameters(profiles.CHEAPEST)
    await log_in_as_staff(http, "rehash.staff@example.com", PASSWORD, "Rhea Staff", "full")
    security.use_password_parameters(STRONGER)
    await auth.authenticate_admin("rehash.staff@example.com", PASSWORD, "127.0.0.1")
    assert extract_parameters(await stored_hash(Admin, "rehash.staff@example.com")) == STRONGER
