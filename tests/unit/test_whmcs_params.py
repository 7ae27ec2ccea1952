"""How the WHMCS endpoint reads parameters, as whmcspy, whmcs-api-client and node-whmcs send
them (../shared/WHMCS-API.md §1.6)."""

import pytest

from app.http.whmcs.logs import redact_query
from app.http.whmcs.params import MAX_OFFSET, MAX_PAGE_SIZE, ApiError, Params, parse_pairs


def params(query_string: str, query: str = "") -> Params:
    return Params(parse_pairs(query_string), parse_pairs(query))


@pytest.mark.parametrize("sent", ["1", "true", "True", "TRUE", "yes", "Yes", "on", "ON", " true "])
def test_true_spellings(sent):
    assert params(f"flag={sent}").bool("flag") is True


@pytest.mark.parametrize("sent", ["0", "false", "False", "no", "NO", "off", "Off", ""])
def test_false_spellings(sent):
    assert params(f"flag={sent}").bool("flag") is False


def test_absent_boolean_takes_the_default():
    assert params("").bool("flag") is False
    assert params("").bool("flag", default=True) is True


def test_unreadable_boolean_is_refused_with_its_name():
    with pytest.raises(ApiError, match="Invalid value for flag"):
        params("flag=maybe").bool("flag")


@pytest.mark.parametrize(
    "sent",
    [
        "permissions=profile,tickets,orders",
        "permissions%5B%5D=profile&permissions%5B%5D=tickets&permissions%5B%5D=orders",
        "permissions%5B0%5D=profile&permissions%5B1%5D=tickets&permissions%5B2%5D=orders",
        "permissions=profile&permissions=tickets&permissions=orders",
        "permissions%5B2%5D=orders&permissions%5B0%5D=profile&permissions%5B1%5D=tickets",
        "permissions=profile,+tickets,&permissions%5B%5D=orders",
    ],
)
def test_every_list_form_gives_the_same_items(sent):
    assert params(sent).list("permissions") == ["profile", "tickets", "orders"]


def test_an_index_of_thousands_of_digits_sorts_after_the_smaller_ones():
    # int() refuses more than 4,300 digits: the index is compared as digits instead.
    huge, larger = "9" * 5000, "1" + "0" * 5000
    sent = f"permissions%5B{larger}%5D=orders&permissions%5B{huge}%5D=tickets"
    sent += "&permissions%5B007%5D=profile&permissions%5B%5D=quotes"
    assert params(sent).list("permissions") == ["quotes", "profile", "tickets", "orders"]


def test_list_ignores_other_names_and_blanks():
    assert params("permissionsx=a&other%5B0%5D=b&permissions=,,").list("permissions") == []


@pytest.mark.parametrize(
    "sent", ["", "abc", "-1", "0", "1.5", "1e3", "12345678901", "9" * 5000, "1%00", "%EF%BC%91"]
)
def test_ids_outside_digits_and_range_get_the_actions_error(sent):
    with pytest.raises(ApiError) as raised:
        params(f"user_id={sent}").id("user_id", "Invalid user id")
    assert raised.value.message == "Invalid user id"


def test_an_id_within_range():
    assert params("user_id=42").id("user_id", "Invalid user id") == 42


def test_paging_defaults_and_clamps():
    assert params("").page() == (0, 25)
    assert params("limitstart=50&limitnum=10").page() == (50, 10)
    assert params("limitstart=-5&limitnum=-1").page() == (0, 25)
    assert params("limitstart=x&limitnum=0").page() == (0, 25)
    assert params(f"limitstart={'9' * 5000}&limitnum=100000").page() == (MAX_OFFSET, MAX_PAGE_SIZE)


def test_the_body_wins_over_the_query_string_name_by_name():
    sent = params("action=GetUsers&search=a", query="action=AddUser&limitnum=5")
    assert sent.text("action") == "GetUsers"
    assert sent.text("limitnum") == "5"


def test_empty_values_are_absent():
    sent = params("username=&password=&identifier=abc")
    assert not sent.has("username") and sent.has("identifier")


def test_too_many_fields_are_refused():
    with pytest.raises(ApiError, match="Too many parameters"):
        parse_pairs("&".join(f"k{n}=v" for n in range(5000)))


def test_the_query_string_of_the_api_path_is_redacted_in_log_lines():
    line = '127.0.0.1:5 - "POST /includes/api.php?action=GetUsers&secret=s3cr3t HTTP/1.1" 200'
    assert redact_query(line) == '127.0.0.1:5 - "POST /includes/api.php?[redacted] HTTP/1.1" 200'
    assert redact_query("GET /login?next=/x") == "GET /login?next=/x"
