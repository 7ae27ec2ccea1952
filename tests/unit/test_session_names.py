"""How a session's browser is named on the Security page, in the activity log and in the
new-sign-in email: from its User-Agent, with ua-parser."""

import pytest

from app.domain.active_sessions.services import UNKNOWN_BROWSER, describe_browser

CASES = [
    (
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/120.0.0.0 Safari/537.36",
        "Chrome 120 on Linux",
        "Chrome on Linux",
    ),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0",
        "Firefox 121 on Windows",
        "Firefox on Windows",
    ),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
        "Mobile Safari 17 on iOS",
        "Mobile Safari on iOS",
    ),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/120.0.0.0 Safari/537.36 Edg/120.0.2210.91",
        "Edge 120 on macOS",
        "Edge on macOS",
    ),
    ("curl/8.4.0", "curl 8", "curl"),
]


@pytest.mark.parametrize(("user_agent", "described", "short"), CASES)
def test_a_real_user_agent_names_its_browser_and_system(user_agent, described, short):
    assert describe_browser(user_agent) == described
    assert describe_browser(user_agent, with_version=False) == short


@pytest.mark.parametrize("user_agent", ["", "python-httpx/0.27.0", "}{ not a browser"])
def test_a_user_agent_naming_no_browser_is_an_unknown_browser(user_agent):
    assert describe_browser(user_agent) == UNKNOWN_BROWSER == "Unknown browser"
