"""Host patterns of ``http.allowHosts`` / ``http.denyHosts``: what may be written, and what each one matches.

| pattern | matches | explicit? |
|---|---|---|
| ``api.github.com`` | that host name only | yes |
| ``*.github.com`` | every subdomain of github.com, not github.com itself | no (wildcard) |
| ``.github.com`` | github.com and every subdomain | no (wildcard) |
| ``*`` | every host | no (wildcard) |
| ``127.0.0.1``, ``::1``, ``[::1]`` | a URL whose host is that address | yes |
| ``10.0.0.0/8``, ``fd00::/8`` | a URL whose host is an address in the network | yes |

Private, loopback, link-local and other non-public addresses are reached only through an *explicit*
entry: the exact host name, or an address or network containing the address; a wildcard that matches the
name is not enough (ARCHITECTURE §3.11). An address or network entry never allows a *name* by itself (a name
is allowed by a name pattern, a prompt answer or permissive mode), so names no rule can allow are refused
before they are resolved. Ports are not part of a pattern.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from enum import Enum

import idna

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_LABEL = r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?"
_NAME = re.compile(rf"^{_LABEL}(?:\.{_LABEL})*$")


class PatternKind(Enum):
    """How a host pattern matches."""

    NAME = "name"  # one host name
    SUBDOMAINS = "subdomains"  # *.example.com
    DOMAIN = "domain"  # .example.com: the domain and its subdomains
    ANY = "any"  # *
    NETWORK = "network"  # an address or a CIDR network


@dataclass(frozen=True)
class HostPattern:
    """One parsed entry of an allow or deny list (``text`` as written)."""

    text: str
    kind: PatternKind
    name: str = ""
    network: IpNetwork | None = None

    @property
    def explicit(self) -> bool:
        """Whether the entry names one host or address range (not a wildcard)."""
        return self.kind in (PatternKind.NAME, PatternKind.NETWORK)

    def matches_name(self, host: str) -> bool:
        """Whether the URL's host (a name or an IP literal, lower-case, no trailing dot) matches."""
        if self.kind is PatternKind.ANY:
            return True
        if self.kind is PatternKind.NETWORK:
            address = parse_address(host)
            return address is not None and self.contains(address)
        if parse_address(host) is not None:  # name patterns never match an IP literal
            return False
        if self.kind is PatternKind.NAME:
            return host == self.name
        if self.kind is PatternKind.SUBDOMAINS:
            return host.endswith("." + self.name)
        return host == self.name or host.endswith("." + self.name)

    def contains(self, address: IpAddress) -> bool:
        """Whether a (resolved) address lies in this entry's network."""
        return self.network is not None and address.version == self.network.version and address in self.network


def normalise_host(host: str) -> str:
    """A URL host as patterns see it *and as it is resolved and reached*: lower-case, brackets and one
    trailing dot removed, a name with non-ASCII characters in its IDNA (UTS #46) ASCII form.

    Resolvers and HTTP clients map such names before the lookup (full-width ``ｅｖｉｌ.com``, circled
    letters, an ideographic full stop, a soft hyphen or zero-width space inside a label all reach
    ``evil.com``); a deny entry compared with the raw text never matched them. A name no mapping accepts
    is left as written: its lookup fails."""
    name = host.strip().lower().removeprefix("[").removesuffix("]").rstrip(".")
    if not name.isascii():
        try:
            name = idna.encode(name, uts46=True).decode("ascii").lower().rstrip(".")
        except (idna.IDNAError, UnicodeError, ValueError):
            pass
    return name


def parse_address(text: str) -> IpAddress | None:
    """``text`` as an IP address (IPv4-mapped IPv6 folded to IPv4; a zone id dropped), else None."""
    try:
        address = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def parse_host_pattern(text: str) -> HostPattern:
    """Parse one entry; raises ``ValueError`` with an operator-readable reason."""
    raw = text.strip()
    token = raw.lower().rstrip(".")
    if token == "*":
        return HostPattern(raw, PatternKind.ANY)
    bare = token.removeprefix("[").removesuffix("]")
    try:
        network = ipaddress.ip_network(bare, strict=False)
    except ValueError:
        network = None
    if network is not None:
        return HostPattern(raw, PatternKind.NETWORK, network=network)
    if not token.isascii():
        raise ValueError("write internationalised names in their ASCII form (xn--...)")
    if ":" in token or "/" in token:
        raise ValueError("a host pattern has no scheme, port or path (write 'api.example.com', not a URL)")
    if token.startswith("*."):
        kind, name = PatternKind.SUBDOMAINS, token[2:]
    elif token.startswith("."):
        kind, name = PatternKind.DOMAIN, token[1:]
    else:
        kind, name = PatternKind.NAME, token
    if "*" in name:
        raise ValueError("'*' is allowed only as the whole entry or as a leading '*.' (e.g. '*.github.com')")
    if not _NAME.match(name) or len(name) > 253:
        raise ValueError("not a host name, address or network")
    return HostPattern(raw, kind, name=name)
