import pytest

from app.http.plumbing.delivery import chosen_coding


@pytest.mark.parametrize(
    "accept_encoding,coding",
    [
        ("br", "br"),
        ("gzip, deflate, br, zstd", "br"),
        ("br;q=0, gzip", "gzip"),
        ("gzip, br;q=0", "gzip"),
        ("BR;Q=0, GZIP", "gzip"),
        ("  br ; q = 0.000 ,gzip;q=0.5 ", "gzip"),
        ("gzip;q=0, br;q=0", None),
        ("gzip;q=1, br;q=0.9", "gzip"),
        ("gzip;q=0.5, br;q=0.5", "br"),
        ("*", "br"),
        ("*;q=0", None),
        ("*;q=0.5, br;q=0", "gzip"),
        ("br;q=0, *", "gzip"),
        ("gzip;q=0.2, *;q=0.8", "br"),
        ("x-gzip", "gzip"),
        ("br, br;q=0", None),
        ("identity", None),
        ("identity;q=0", None),
        ("", None),
        (" ,;, ;q=1,", None),
        ("br;q=abc, gzip", "gzip"),
        ("br;q=2, gzip;q=0.1", "gzip"),
        ("br;q=-1", None),
        ("br;q=nan, gzip;q=inf", None),
        ("br;q=", None),
        ("br;level=9", "br"),
        ("\x00br", None),
    ],
)
def test_the_coding_follows_the_q_values(accept_encoding, coding):
    assert chosen_coding(accept_encoding) == coding
