"""Which network addresses the gateway may fetch client-named media from: public unicast ones only.

An IPv6 address that carries an IPv4 one by a translation scheme (IPv4-mapped, IPv4-compatible,
SIIT, NAT64, 6to4, Teredo) reaches that IPv4 host, so it is judged by the address it carries:
`::ffff:127.0.0.1` is loopback, and `64:ff9b::8.8.8.8` (what DNS64 answers) is public.
"""

from __future__ import annotations

import ipaddress

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_COMPATIBLE = ipaddress.IPv6Network("::/96")  # deprecated IPv4-compatible form, ::a.b.c.d
_TRANSLATED = ipaddress.IPv6Network("::ffff:0:0:0/96")  # SIIT, ::ffff:0:a.b.c.d
_NAT64 = (ipaddress.IPv6Network("64:ff9b::/96"), ipaddress.IPv6Network("64:ff9b:1::/48"))
# IETF protocol assignments; Python before 3.12.4 counts most of this block as global.
_PROTOCOL_ASSIGNMENTS = ipaddress.IPv4Network("192.0.0.0/24")


def carried_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for, if it is of a form that embeds one."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]  # the client's address, which the traffic goes to
    if ip in _TRANSLATED or any(ip in net for net in _NAT64) or (ip in _COMPATIBLE and int(ip) > 1):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def _is_public_unicast(ip: IPAddress) -> bool:
    return ip.is_global and not (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or (isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local)
        or (isinstance(ip, ipaddress.IPv4Address) and ip in _PROTOCOL_ASSIGNMENTS)
    )


def is_public(address: str) -> bool:
    """True for a public unicast address; loopback, private, link-local, shared (CGNAT), multicast,
    reserved, documentation and unspecified ones, and IPv6 forms of those, are not. A scope
    (`fe80::1%eth0`) is ignored; an unparsable string is not public."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        carried = carried_ipv4(ip)
        if carried is not None:
            return _is_public_unicast(carried)
    return _is_public_unicast(ip)
