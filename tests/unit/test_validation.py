import pytest

from app.core import permissions
from app.core.config import load_settings
from app.core.errors import DomainError
from app.core.validation import clean_email, clean_name, clean_permissions


def test_permission_keys_are_the_thirteen_of_the_spec_in_order():
    assert permissions.ALL_KEYS == (
        "profile",
        "contacts",
        "products",
        "manageproducts",
        "productsso",
        "domains",
        "managedomains",
        "invoices",
        "quotes",
        "tickets",
        "affiliates",
        "emails",
        "orders",
    )
    assert all(p.description for p in permissions.PERMISSIONS)


def test_permissions_round_trip_in_canonical_order():
    stored = permissions.serialize(["orders", "profile", "invoices"])
    assert stored == "profile,invoices,orders"
    assert permissions.deserialize(stored) == ("profile", "invoices", "orders")
    assert permissions.deserialize("") == ()


def test_unknown_and_empty_permission_sets_are_refused():
    with pytest.raises(DomainError, match="Unknown permission: root"):
        clean_permissions(["profile", "root"])
    with pytest.raises(DomainError, match="at least one"):
        clean_permissions([])
    assert clean_permissions(["tickets", "profile", "tickets"]) == ("profile", "tickets")


def test_emails_are_validated_and_compared_lowercased():
    assert clean_email("  Fiona@Example.COM ") == ("Fiona@example.com", "fiona@example.com")
    for bad in ["", "not-an-email", "a@b", "x" * 250 + "@example.com"]:
        with pytest.raises(DomainError):
            clean_email(bad)


def test_names_are_trimmed_required_and_bounded():
    assert clean_name("  Ada   Lovelace ", "Name", "name") == "Ada Lovelace"
    with pytest.raises(DomainError, match="Enter a name"):
        clean_name("   ", "Name", "name")
    with pytest.raises(DomainError, match="limited to 100"):
        clean_name("x" * 101, "Name", "name")


def test_settings_follow_the_spec_defaults(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    s = load_settings({})
    assert s.database_url == "sqlite:///./roster.sqlite3"
    assert s.base_url == "http://127.0.0.1:8000"
    assert s.smtp_url is None
    assert s.mail_from == "Roster <no-reply@localhost>"
    assert s.env == "development" and not s.production
    assert s.secret_key and (tmp_path / ".roster-secret").exists()
    assert load_settings({}).secret_key == s.secret_key  # generated once
    with pytest.raises(ValueError, match="ROSTER_SECRET_KEY"):
        load_settings({"ROSTER_ENV": "production"})
    assert load_settings({"ROSTER_ENV": "production", "ROSTER_SECRET_KEY": "k"}).production
