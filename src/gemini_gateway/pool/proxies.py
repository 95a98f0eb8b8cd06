"""A fixed outbound proxy per credential: `key|proxy` entries in GEMINI_API_KEYS and
VERTEX_EXPRESS_KEYS, and CREDENTIAL_PROXIES (credential id -> proxy URL, '' for a direct
connection), which wins. The backends send every call of the credential through its proxy
(transport.build.Transports.via)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from gemini_gateway.pool.pool import CredentialPool
    from gemini_gateway.settings import Settings

PROXY_SCHEMES = frozenset({"http", "https", "socks4", "socks5"})


def check_proxy(url: str) -> str:
    """`url` if it is a proxy URL the transports can use, else ValueError (the URL not repeated:
    it may hold a password)."""
    parts = urlsplit(url)
    if parts.scheme not in PROXY_SCHEMES or not parts.hostname:
        raise ValueError(f"a credential proxy must be a {', '.join(sorted(PROXY_SCHEMES))} URL with a host")
    return url


def split_proxies(entries: Iterable[str]) -> tuple[list[str], dict[str, str]]:
    """`key|proxy` entries as the keys, and the proxy of each key that names one."""
    keys: list[str] = []
    proxies: dict[str, str] = {}
    for entry in entries:
        key, bar, proxy = entry.partition("|")
        key, proxy = key.strip(), proxy.strip()
        keys.append(key)
        if bar and proxy:
            proxies[key] = check_proxy(proxy)
    return keys, proxies


def configure_proxies(pool: CredentialPool, settings: Settings) -> None:
    """The proxies of the `key|proxy` entries, with CREDENTIAL_PROXIES laid over them, into the pool."""
    pool.set_proxies({**pool.own_proxies, **settings.credential_proxies})
