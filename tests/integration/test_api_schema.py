"""The OpenAPI document of /api/v1 describes exactly what the server does: it is valid OpenAPI
3.1, and schemathesis calls every operation of a real `roster serve` with a bearer credential
and checks each answer (no 5xx; status code, content type and body as documented).

Bounded and repeatable: a few examples per operation, derandomized (a fixed seed)."""

import os
import shutil
import tempfile
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from openapi_spec_validator import validate
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from app.domain.clients.services import create_client
from app.domain.credentials.services import create_credential
from app.domain.staff.services import create_admin
from app.http.api.app import create_api_app
from soak.servers import running_servers
from tests.factories import ADMIN, unique_email

EXAMPLES_PER_OPERATION = int(os.environ.get("ROSTER_API_SCHEMA_EXAMPLES", "12"))
STATUSES: dict[str, set[int]] = {}  # what each operation answered, across its examples
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def server(database):
    """One `roster serve` on the run's test database (set by tests/conftest)."""
    workdir = Path(tempfile.mkdtemp(prefix="roster-api-schema-"))
    env = {**os.environ}
    env.pop("ROSTER_SMTP_URL", None)
    with running_servers(1, env, workdir) as (only,):
        yield only
    log = only.log_path.read_text(errors="replace")
    if " ERROR " in log:
        print(f"\nthe server's log has errors: {only.log_path}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
async def authorization() -> dict:
    """A Full Administrator's credential, and a few accounts (per test: every test starts
    from empty tables)."""
    admin_id = await create_admin(
        email=unique_email("schema-staff"),
        password="staff-passphrase-77",
        name="Sasha Schema",
        role="full",
        actor=ADMIN,
    )
    credential = await create_credential(admin_id, description="schemathesis", actor=ADMIN)
    for _ in range(3):  # no passwords: nothing to hash
        await create_client(
            owner_email=unique_email(), owner_first="Sam", owner_last="Seed", actor=ADMIN
        )
    return {"Authorization": f"Bearer {credential.identifier}:{credential.secret}"}


def api_document() -> dict:
    """The document the server publishes at /api/v1/schema/openapi.json, built in-process so
    that the tests can be generated before the server starts (checked equal below)."""
    return create_api_app(production=False).openapi_schema.to_schema()


def test_the_document_is_valid_openapi_3_1_with_bearer_security(server):
    document = httpx.get(f"{server.url}/api/v1/schema/openapi.json").json()
    assert document == api_document()
    validate(document)
    assert document["openapi"].startswith("3.1")
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    assert document["security"] == [{"bearer": []}]
    assert all(path.startswith("/api/v1/") for path in document["paths"])
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            problems = {
                status
                for status, response in operation["responses"].items()
                if "application/problem+json" in (response.get("content") or {})
            }
            assert {"401", "422", "500"} <= problems, (method, path)
            if method != "get":
                assert "403" in problems, (method, path)


def test_the_reference_page_is_served_with_its_own_policy(server):
    page = httpx.get(f"{server.url}/api/v1/schema")
    assert page.status_code == 200 and "api-reference" in page.text
    policy = page.headers["content-security-policy"]
    assert "https://cdn.jsdelivr.net" in policy and "frame-ancestors 'none'" in policy
    # Only that page: the rest of the site keeps the strict policy.
    login = httpx.get(f"{server.url}/login")
    assert "cdn.jsdelivr.net" not in login.headers["content-security-policy"]


schema = schemathesis.openapi.from_dict(api_document())
# The coverage phase sends requests without the credential or with a broken one: enough of them
# to reach the failed-authentication throttle (app.domain.credentials.services.API_LIMIT), after
# which every call, the authenticated ones too, is a 429. Authentication has its own tests
# (test_api_v1.py); here the examples and the fuzzing phases, positive and negative data.
schema.config.phases.coverage.enabled = False


@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_answers_as_documented(case, server, authorization):
    response = case.call_and_validate(
        base_url=server.url, headers=authorization, checks=CHECKS, timeout=30
    )
    if case.method.upper() == case.operation.method.upper():  # not a probe with another method
        operation = f"{case.method.upper()} {case.operation.path}"
        STATUSES.setdefault(operation, set()).add(response.status_code)


def test_the_generated_calls_were_authenticated_and_reached_the_resources():
    """Every answer being a 401 problem would conform too: the credential must have worked."""
    print("\n".join(f"{op}: {sorted(codes)}" for op, codes in sorted(STATUSES.items())))
    assert len(STATUSES) == len(api_document_operations())
    assert not [op for op, codes in STATUSES.items() if codes == {401}]
    for listing in ("GET /api/v1/clients", "GET /api/v1/users", "GET /api/v1/permissions"):
        assert 200 in STATUSES[listing], STATUSES[listing]
    # The documented examples make a valid body: creates went through.
    for create in ("POST /api/v1/clients", "POST /api/v1/users"):
        assert 201 in STATUSES[create], STATUSES[create]


def api_document_operations() -> list[tuple[str, str]]:
    return [
        (method, path)
        for path, operations in api_document()["paths"].items()
        for method in operations
    ]
