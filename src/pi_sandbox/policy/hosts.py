"""Which hosts an extension's ``http`` calls may reach (ARCHITECTURE §3.11).

The ``http`` capability lets an extension ask; this decides each destination, after the name is resolved
(the connector then connects to a checked address, never a second lookup):

1. a host on ``denyHosts`` (global, or the extension's ``perExtension.<id>.http.denyHosts``) → deny;
2. any address that is not public (private, loopback, link-local, cloud metadata, reserved) → deny unless an
   *explicit* entry covers it — the exact host name, or the address or its network; a wildcard that matches
   the name is not enough (``http.allowLoopback`` waives this for loopback addresses only);
3. a host on ``allowHosts`` (global, or the extension's ``perExtension.<id>.http.allowHosts``) → allow;
4. otherwise by the extension's mode: ``strict`` (the ``safe`` profile) → deny, ``prompt`` (``balanced``) →
   ask the user for this host, ``permissive`` → allow unless an allow list exists.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from pi_sandbox.capabilities import Capability
from pi_sandbox.config.hosts import (
    HostPattern,
    IpAddress,
    PatternKind,
    normalise_host,
    parse_address,
    parse_host_pattern,
)
from pi_sandbox.config.model import SecurityConfig
from pi_sandbox.policy.profiles import PROFILE_SPECS
from pi_sandbox.policy.prompts import PromptRequest, PromptResolver
from pi_sandbox.vocabulary import PolicyOutcome

#: Asks the user whether ``extension_id`` may reach ``host`` (the message says why and how to allow it).
HostPrompt = Callable[[str, str, str], bool]

#: Cloud instance-metadata endpoints: named in refusals so the operator sees what was at stake.
METADATA_ADDRESSES: Final = frozenset({"169.254.169.254", "fd00:ec2::254", "100.100.100.200", "192.0.0.192"})


@dataclass(frozen=True)
class HostEntry:
    """One allow or deny entry and where it was set (a settings file and key)."""

    pattern: HostPattern
    source: str
    key: str

    def to_dict(self) -> dict[str, str]:
        return {"pattern": self.pattern.text, "source": self.source, "key": self.key}


@dataclass(frozen=True)
class HostDecision:
    """The outcome for one destination; ``reason`` is a ledger reason code, ``message`` says what to change."""

    decision: PolicyOutcome
    reason: str
    message: str
    #: The settings line that would allow the host ("" when none would: a deny entry wins).
    remedy: str = ""
    entry: HostEntry | None = None


#: NAT64's well-known prefix (RFC 6052): the last 32 bits are the IPv4 address a translator connects to.
NAT64_PREFIX: Final = ipaddress.IPv6Network("64:ff9b::/96")


def embedded_ipv4(address: IpAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries to: 6to4 (``2002:7f00:1::``) and NAT64
    (``64:ff9b::a9fe:a9fe``), where a relay or translator would connect (IPv4-mapped ones are folded
    when parsed)."""
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.sixtofour is not None:
        return address.sixtofour
    if address in NAT64_PREFIX:
        return ipaddress.IPv4Address(int(address) & 0xFFFF_FFFF)
    return None


def address_class(address: IpAddress) -> str | None:
    """Why ``address`` is not public (``loopback_address``, ``private_address``, ...), None when it is.
    An IPv6 address that carries an IPv4 one (6to4, NAT64) is judged by that one as well."""
    inner = embedded_ipv4(address)
    if inner is not None:
        kind = address_class(inner)
        if kind is not None:
            return kind
    if str(address) in METADATA_ADDRESSES:
        return "metadata_address"
    if address.is_loopback:
        return "loopback_address"
    if address.is_link_local:
        return "link_local_address"
    if address.is_unspecified:
        return "unspecified_address"
    if address.is_multicast or address.is_reserved:
        return "reserved_address"
    if not address.is_global:
        return "private_address"
    return None


@dataclass(frozen=True)
class HostPolicy:
    """The host rules of one extension, compiled from the settings."""

    extension_id: str | None
    mode: str
    allow: tuple[HostEntry, ...]
    deny: tuple[HostEntry, ...]
    allow_loopback: bool

    @classmethod
    def for_extension(cls, config: SecurityConfig, extension_id: str | None) -> HostPolicy:
        """Global lists plus the extension's own; its mode (per-extension, else the profile's)."""
        override = config.per_extension.get(extension_id) if extension_id is not None else None
        mode = PROFILE_SPECS[config.profile].mode
        allow = _entries(config, "extensionPolicy.http.allow_hosts", "extensionPolicy.http.allowHosts",
                         config.http.allow_hosts)
        deny = _entries(config, "extensionPolicy.http.deny_hosts", "extensionPolicy.http.denyHosts",
                        config.http.deny_hosts)
        if override is not None:
            mode = override.mode or mode
            base = f"extensionPolicy.perExtension.{extension_id}.http"
            allow += _entries(config, f"{base}.allowHosts", f"{base}.allowHosts", override.http_allow_hosts)
            deny += _entries(config, f"{base}.denyHosts", f"{base}.denyHosts", override.http_deny_hosts)
        return cls(extension_id, mode, allow, deny, config.http.allow_loopback)

    def check_name(self, host: str) -> HostDecision | None:
        """The decision that needs no DNS lookup (a denied or unlisted name), else None: resolve, then
        :meth:`decide`. Deciding first keeps an extension from leaking data through lookups of names it may
        not reach (``<secret>.attacker.example``)."""
        name = normalise_host(host)
        if parse_address(name) is not None:
            return None  # an IP literal: decide() sees the address itself
        denied = next((e for e in self.deny if e.pattern.matches_name(name)), None)
        if denied is not None:
            return self._denied(name, denied)
        if any(e.pattern.matches_name(name) for e in self.allow):
            return None  # allowed by name: the addresses are checked once resolved
        unlisted = self._unlisted(name)
        return None if unlisted.decision is PolicyOutcome.ALLOW else unlisted

    def decide(self, host: str, addresses: list[str]) -> HostDecision:
        """Decide the destination ``host`` (as in the URL) that resolved to ``addresses``."""
        name = normalise_host(host)
        denied = next((e for e in self.deny
                       if e.pattern.matches_name(name) or any(_covers(e, a) for a in addresses)), None)
        if denied is not None:
            return self._denied(name, denied)
        explicit = next((e for e in self.allow if e.pattern.kind is PatternKind.NAME and e.pattern.matches_name(name)),
                        None)
        for text in addresses:
            address = parse_address(text)
            kind = "unparseable_address" if address is None else address_class(address)
            if kind is None or (kind == "loopback_address" and self.allow_loopback):
                continue
            if explicit is None and not any(_covers(e, text) for e in self.allow):
                return HostDecision(PolicyOutcome.DENY, kind,
                                    f"host '{name}' resolves to {kind.replace('_', ' ')} {text}; non-public addresses "
                                    f"are reached only through an explicit entry (a wildcard is not enough): "
                                    f"{self.remedy(name)} (or the address {text})", self.remedy(name))
        matched = next((e for e in self.allow if e.pattern.matches_name(name)), None)
        if matched is not None:
            return HostDecision(PolicyOutcome.ALLOW, "host_allowed", f"'{name}' matches '{matched.pattern.text}'",
                                entry=matched)
        return self._unlisted(name)

    def _denied(self, name: str, entry: HostEntry) -> HostDecision:
        return HostDecision(PolicyOutcome.DENY, "host_denied",
                            f"host '{name}' is denied by {entry.key} ('{entry.pattern.text}', {entry.source})",
                            entry=entry)

    def _unlisted(self, name: str) -> HostDecision:
        """A host no allow entry matches: the extension's mode decides."""
        if self.mode == "permissive" and not self.allow:
            return HostDecision(PolicyOutcome.ALLOW, "permissive", f"'{name}': any public host in permissive mode")
        if self.mode == "prompt":
            return HostDecision(PolicyOutcome.PROMPT, "host_prompt",
                                f"may this extension reach '{name}'? It is not on an http allow list; to allow it "
                                f"without asking: {self.remedy(name)}", self.remedy(name))
        return HostDecision(PolicyOutcome.DENY, "host_not_allowed",
                            f"host '{name}' is not on an http allow list ({self.mode} mode); {self.remedy(name)}",
                            self.remedy(name))

    def remedy(self, host: str) -> str:
        """The settings line that would allow ``host`` for this extension (or for all, without an id)."""
        if self.extension_id is None:
            return "add it to extensionPolicy.http.allowHosts in settings.json: " + json.dumps(
                {"extensionPolicy": {"http": {"allowHosts": [host]}}})
        return f"add it to extensionPolicy.perExtension.{self.extension_id}.http.allowHosts in settings.json: " + \
            json.dumps({"extensionPolicy": {"perExtension": {self.extension_id: {"http": {"allowHosts": [host]}}}}})

    def describe(self) -> dict[str, object]:
        """The host rules as JSON (``--explain-extension-policy``): lists with their sources, and the fallback."""
        fallback = {"strict": "deny", "prompt": "ask the user per host",
                    "permissive": "deny" if self.allow else "any public host"}[self.mode]
        return {
            "allow": [e.to_dict() for e in self.allow],
            "deny": [e.to_dict() for e in self.deny],
            "unlisted_hosts": fallback,
            "non_public_addresses": "explicit entry (exact name or address)"
            + ("; loopback allowed (http.allowLoopback)" if self.allow_loopback else ""),
        }


def _entries(config: SecurityConfig, provenance_key: str, key: str, patterns: tuple[str, ...]) -> tuple[HostEntry, ...]:
    source = config.source_of(provenance_key)
    return tuple(HostEntry(parse_host_pattern(p), source, key) for p in patterns)


def _covers(entry: HostEntry, address_text: str) -> bool:
    address = parse_address(address_text)
    return address is not None and entry.pattern.contains(address)


def host_prompter(prompts: PromptResolver) -> HostPrompt:
    """Per-host prompts through the usual resolver: remembered per ``http:<host>``, headless → deny."""

    def ask(extension_id: str, host: str, message: str) -> bool:
        return prompts.resolve(PromptRequest(extension_id, Capability.HTTP, "http", message, target=host)).allow

    return ask
