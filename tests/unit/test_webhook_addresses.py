"""Which addresses webhooks may go to, whatever they are written as, and how a send names the
host it connects to by address."""

import ipaddress
from datetime import timedelta

import pytest

from app.domain.webhooks import addresses, sender
from app.domain.webhooks.present import shown_url

NOT_PUBLIC = [
    "127.0.0.1",
    "10.0.0.1",
    "172.16.5.4",
    "192.168.0.1",
    "169.254.169.254",
    "100.64.0.1",  # shared (CGNAT)
    "0.0.0.0",
    "224.0.0.1",
    "239.255.255.250",
    "240.0.0.1",
    "255.255.255.255",
    "192.0.2.1",  # documentation
    "::",
    "::1",
    "::ffff:127.0.0.1",  # IPv4-mapped
    "::ffff:10.0.0.1",
    "fe80::1",
    "fc00::1",
    "fd12:3456::1",
    "ff02::1",
    "2002:7f00:1::",  # 6to4 carrying 127.0.0.1
    "2002:a00:1::",  # 6to4 carrying 10.0.0.1
    "64:ff9b::7f00:1",  # NAT64
    "2001:db8::1",  # documentation
]
PUBLIC = ["93.184.216.34", "8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "2002:5db8:d822::"]


@pytest.mark.parametrize("address", NOT_PUBLIC)
def test_non_public_addresses_are_refused(address):
    assert not addresses.is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_are_taken(address):
    assert addresses.is_public(ipaddress.ip_address(address))


async def test_a_send_goes_to_the_checked_address_naming_the_host(monkeypatch):
    async def resolver(host, port):
        assert (host, port) == ("xn--hks-sna.example.com", 8443)
        return ["93.184.216.34", "2606:4700:4700::1111"]

    monkeypatch.setattr(addresses, "lookup", resolver)
    target = await addresses.target_of(
        "https://höks.example.com:8443/in?x=1", production=True, allow_private=False
    )
    assert str(target.url) == "https://93.184.216.34:8443/in?x=1"
    assert target.host_header == "xn--hks-sna.example.com:8443"
    assert target.server_name == "xn--hks-sna.example.com"


def test_the_activity_log_names_an_endpoint_without_its_credentials():
    assert shown_url("https://u:p@hooks.example.com:8443/in?token=x") == (
        "https://hooks.example.com:8443/in"
    )


def test_retries_back_off_to_every_10_hours_with_jitter():
    for attempts, nominal in [(1, timedelta(seconds=5)), (2, timedelta(minutes=5))]:
        assert nominal * 0.8 <= sender.retry_delay(attempts) <= nominal * 1.2
    assert sender.retry_delay(40) <= timedelta(hours=12)
