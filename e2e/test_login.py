"""Logging in through the forms, as a person would, against a real server."""

import re

from conftest import ADMIN_EMAIL, ADMIN_PASSWORD, OWNER_EMAIL, OWNER_PASSWORD
from playwright.sync_api import Page, expect


def test_an_owner_logs_in_and_is_greeted(page: Page, base_url):
    page.goto(f"{base_url}/login")
    page.get_by_label("Email Address").fill(OWNER_EMAIL)
    page.get_by_label("Password").fill(OWNER_PASSWORD)
    page.get_by_role("button", name="Login").click()
    expect(page.get_by_text("Hello, Olivia!")).to_be_visible()
    expect(page.get_by_role("heading", name="Acme Hosting")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/account$"))
    page.get_by_text("Hello, Olivia!").click()
    page.get_by_role("menuitem", name="Logout").click()
    expect(page.get_by_role("heading", name="Login")).to_be_visible()


def test_a_wrong_password_gets_a_generic_error(page: Page, base_url):
    page.goto(f"{base_url}/login")
    page.get_by_label("Email Address").fill(OWNER_EMAIL)
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Login").click()
    expect(page.get_by_role("alert")).to_have_text("The email address or password is incorrect.")
    expect(page.get_by_text("Hello, Olivia!")).to_have_count(0)
    expect(page.get_by_label("Email Address")).to_have_value(OWNER_EMAIL)


def test_staff_log_in_at_the_admin_login(page: Page, base_url):
    page.goto(f"{base_url}/admin/login")
    page.get_by_label("Email Address").fill(ADMIN_EMAIL)
    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Login").click()
    expect(page.get_by_role("heading", name="Clients")).to_be_visible()
    expect(page.get_by_role("link", name="Acme Hosting")).to_be_visible()
    page.get_by_role("searchbox").fill("Bianchi")
    expect(page.get_by_role("link", name="Bianchi Web Studio")).to_be_visible()
    expect(page.get_by_role("link", name="Acme Hosting")).to_have_count(0)
