"""RFC 7239 `Forwarded` parsing: the element the nearest proxy added, or nothing when malformed."""

from __future__ import annotations

import pytest

from gemini_gateway.forwarded import forwarded_element


@pytest.mark.parametrize(
    ("value", "element"),
    [
        ("proto=https;host=gw.example.com", {"proto": "https", "host": "gw.example.com"}),
        (
            'For="[2001:db8::1]:4711";Host="gw.example.com:8443"',
            {"for": "[2001:db8::1]:4711", "host": "gw.example.com:8443"},
        ),
        (
            "host=client.example, for=10.0.0.1;host=gw.example.com",
            {"for": "10.0.0.1", "host": "gw.example.com"},
        ),
        ('host="a\\"b"', {"host": 'a"b'}),
        ("host=gw.example.com,", {}),  # the nearest proxy's element is empty
        ("host=gw.example.com;junk", {}),
        ('host="unterminated', {}),
    ],
)
def test_the_last_element_is_read(value: str, element: dict[str, str]) -> None:
    assert forwarded_element(value) == element
