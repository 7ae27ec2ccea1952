"""Webhooks in a real browser: staff add an endpoint (its secret shown once), send it a test
event, see it delivered in the endpoint's log, and resend it; a real receiver on 127.0.0.1
verifies each request's signature with the Standard Webhooks library."""

import http.server
import json
import threading

import pytest
from conftest import ADMIN_EMAIL, ADMIN_PASSWORD, login
from playwright.sync_api import Page, expect
from standardwebhooks import Webhook


class Receiver:
    """Answers 200 to every POST and keeps (headers, body) of each."""

    def __init__(self) -> None:
        self.received: list[tuple[dict, bytes]] = []
        received = self.received

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(200)
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver():
    receiving = Receiver()
    yield receiving
    receiving.server.shutdown()


def test_staff_add_an_endpoint_send_a_test_event_and_resend_it(page: Page, base_url, receiver):
    login(page, base_url, ADMIN_EMAIL, ADMIN_PASSWORD, path="/admin/login")
    page.get_by_role("navigation", name="Admin").get_by_role("link", name="Webhooks").click()
    expect(page.get_by_role("heading", level=1, name="Webhooks")).to_be_visible()

    form = page.locator("#webhook-add-form")
    form.get_by_label("URL").fill(receiver.url)
    form.get_by_label("Description").fill("Billing (e2e)")
    form.get_by_role("button", name="Add Endpoint").click()
    secret_field = page.get_by_label("Signing secret of endpoint")
    expect(secret_field).to_be_visible()
    secret = secret_field.input_value()
    assert secret.startswith("whsec_")

    page.get_by_role("link", name="Open endpoint").click()
    expect(page.get_by_role("heading", level=1, name="Billing (e2e)")).to_be_visible()
    assert secret not in page.content()  # shown once

    page.get_by_role("button", name="Send test event").click()
    expect(page.locator("#flash")).to_contain_text("Test event queued")
    rows = page.locator("#webhook-deliveries tbody tr")
    for _ in range(40):  # the sender posts it at once; the log shows it when asked again
        if rows.first.get_by_text("Delivered").count():
            break
        page.wait_for_timeout(250)
        page.reload()
    expect(rows.first).to_contain_text("Delivered")
    expect(rows.first).to_contain_text("200")
    for headers, body in receiver.received:
        Webhook(secret).verify(body, headers)  # raises unless signed with the secret shown
    [(headers, body)] = received_tests(receiver)

    rows.first.get_by_role("button", name="Resend").click()
    expect(page.locator("#flash")).to_contain_text("Delivery queued again")
    for _ in range(40):
        if len(received_tests(receiver)) == 2:
            break
        page.wait_for_timeout(250)
    assert [h["webhook-id"] for h, _ in received_tests(receiver)] == [headers["webhook-id"]] * 2


def received_tests(receiver: Receiver) -> list[tuple[dict, bytes]]:
    """The test events received (an endpoint taking every event also hears of its own making)."""
    return [(h, b) for h, b in receiver.received if json.loads(b)["type"] == "webhook.test"]
