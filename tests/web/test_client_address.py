"""The address a request is counted under: the peer's, or what a trusted proxy says in `Forwarded` or
`X-Forwarded-For` (read from the right, skipping trusted proxies); headers from anyone else change nothing."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from litestar.connection import ASGIConnection

from shared.settings import load_settings
from tests.servers import use_environment
from web.client import client_address


def address(peer: str, *headers: tuple[str, str]) -> str:
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/login",
        "headers": [(name.lower().encode(), value.encode()) for name, value in headers],
        "client": (peer, 40000),
        "query_string": b"",
    }
    return client_address(ASGIConnection(scope))  # type: ignore[arg-type]


def test_without_trusted_proxies_the_peer_is_the_client(var_dir: Path) -> None:
    assert address("127.0.0.1", ("X-Forwarded-For", "198.51.100.7")) == "127.0.0.1"
    assert address("127.0.0.1", ("Forwarded", "for=198.51.100.7")) == "127.0.0.1"


def test_a_trusted_proxy_names_the_client(var_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    use_environment(monkeypatch, EDOCTA_TRUSTED_PROXIES="127.0.0.1, 10.0.0.0/8")
    # The right-most address that is not a trusted proxy: what the client wrote on the left is not believed.
    assert address("127.0.0.1", ("X-Forwarded-For", "1.2.3.4, 198.51.100.7, 10.1.2.3")) == "198.51.100.7"
    assert address("127.0.0.1", ("Forwarded", 'for=1.2.3.4, for="[2001:db8::1]:4711";proto=https')) == "2001:db8::1"
    assert address("127.0.0.1", ("Forwarded", "for=192.0.2.60:8080")) == "192.0.2.60"
    # An obfuscated or unknown node: only the last trusted hop is known.
    assert address("127.0.0.1", ("X-Forwarded-For", "198.51.100.7, unknown")) == "127.0.0.1"
    assert address("127.0.0.1") == "127.0.0.1"
    # Not from a trusted proxy: the header is ignored.
    assert address("203.0.113.9", ("X-Forwarded-For", "198.51.100.7")) == "203.0.113.9"


def test_a_bad_trusted_proxy_setting_is_a_clear_error(var_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDOCTA_TRUSTED_PROXIES", "127.0.0.1, proxy.example")
    message = "EDOCTA_TRUSTED_PROXIES: 'proxy.example' is not an address or a network"
    with pytest.raises(ValueError, match=re.escape(message)):
        load_settings()
