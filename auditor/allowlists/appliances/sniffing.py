"""How each appliance format is recognised: the patterns that claim a file's content, and
the ones its reader shares with them (the `show` outputs it refuses).

Imports nothing but ``re``: format detection (:mod:`auditor.allowlists.appliances.fronts`)
and each format's parser import from here, so recognising a file costs these patterns alone.
"""

from __future__ import annotations

import re
from typing import Any


class _Lazy:
    """A pattern compiled when first used: a file whose suffix names its format never asks
    these readers' sniffs, and then costs none of their patterns."""

    __slots__ = ("_args", "_compiled")

    def __init__(self, pattern: bytes, flags: int = 0) -> None:
        self._args = (pattern, flags)
        self._compiled: re.Pattern[bytes] | None = None

    def _re(self) -> re.Pattern[bytes]:
        if self._compiled is None:
            self._compiled = re.compile(*self._args)
        return self._compiled

    def search(self, data: bytes, *args: Any) -> re.Match[bytes] | None:
        return self._re().search(data, *args)

    def match(self, data: bytes, *args: Any) -> re.Match[bytes] | None:
        return self._re().match(data, *args)


def _lazy(pattern: bytes, flags: int = 0) -> _Lazy:
    return _Lazy(pattern, flags)


_HEAD = 65536
"""How much of a file the sniffs look at."""

# --- Cisco ASA --------------------------------------------------------------------------------

ASA_SNIFF = _lazy(
    rb"(?m)^(?:ASA Version \S"
    rb"|access-group \S+ (?:in|out) interface \S|access-group \S+ global\s*$"
    # an ASA network object (IOS has object-groups only)
    rb"|object network \S+\r?\n (?:host|subnet|range|fqdn) )"
)
ASA_SHARED = _lazy(rb"(?m)^access-list \S+ extended (?:permit|deny) ")
ASA_SHOW = _lazy(rb"(?m)^\s*access-list \S+(?:; \d+ elements| line \d+ )")
"""``show access-list`` output, which the ASA reader refuses."""


def sniff_asa(data: bytes) -> bool:
    head = data[:_HEAD]
    if ASA_SHOW.search(head):
        return False
    if ASA_SNIFF.search(head):
        return True
    # `access-list NAME extended permit` alone is also taken by IOS: an ASA's only when the
    # file shows none of IOS's own access-list syntax
    return bool(ASA_SHARED.search(head)) and not sniff_ios(data)


# --- Cisco IOS, IOS XE, IOS XR, NX-OS ---------------------------------------------------------

# A line a Cisco IOS, IOS XR or NX-OS configuration has and an ASA one does not.
IOS_MARKERS = _lazy(
    rb"(?m)^(?:"
    rb"ip access-list (?:standard|extended) \S+\s*$"
    rb"|ipv4 access-list \S+\s*$"
    rb"|ip access-list \S+\s*$"
    rb"|access-list (?:1\d\d|\d\d?|1[3-9]\d\d|2[0-6]\d\d) (?:permit|deny|remark|dynamic)\s"
    rb"|[ \t]+ip access-group \S+ (?:in|out)\s*$"
    rb"|[ \t]+ipv6 traffic-filter \S+ (?:in|out)\s*$"
    rb"|[ \t]+ipv4 access-group \S+ (?:ingress|egress)\s*$"
    rb")"
)
IOS_ASA = _lazy(rb"(?m)^(?:ASA Version |: Saved|access-group \S+ (?:in|out) interface )")
IOS_SHOW = _lazy(
    rb"(?m)^(?:(?:Standard|Extended|Reflexive) IP access list \S|IPv6 access list \S"
    rb"|IP access list \S|IPV4 ACL \S|(?:Network|Service) object group \S)"
)
"""``show access-lists`` (or ``show object-group``) output, which the IOS reader refuses."""


def sniff_ios(data: bytes) -> bool:
    """A configuration with IOS/IOS XR/NX-OS access-list syntax, and none of an ASA's."""
    head = data[:_HEAD]
    if b"\0" in head or IOS_ASA.search(head) or IOS_SHOW.search(head):
        return False
    return IOS_MARKERS.search(head) is not None


# --- Juniper JunOS ----------------------------------------------------------------------------

JUNOS_SNIFF = _lazy(
    rb"(?m)^(?:(?:set|deactivate) (?:system|firewall|security|interfaces|policy-options"
    rb"|routing-options|groups|snmp|protocols|services|routing-instances|applications)\b"
    rb"|(?:system|firewall|security|interfaces|policy-options|routing-options|protocols"
    rb"|groups|applications)\s*\{|replace:\s|## Last commit: )"
)


def sniff_junos(data: bytes) -> bool:
    """A JunOS configuration: ``set firewall ...`` lines or top-level ``firewall {`` blocks,
    at the very start of a line (an indented ``set`` is inside a FortiOS block)."""
    return bool(JUNOS_SNIFF.search(data[:_HEAD]))


# --- Palo Alto PAN-OS -------------------------------------------------------------------------

_PANOS_SET_WORDS = (
    r"(?:deviceconfig|address|address-group|rulebase|pre-rulebase|post-rulebase|shared"
    r"|vsys|config (?:devices|shared)|zone|service|service-group|device-group|mgt-config"
    r"|external-list|policy panorama|readonly|template|tag|application|profiles|log-settings)"
)
_PANOS_SET_LINE = _lazy(rb"(?m)^set " + _PANOS_SET_WORDS.encode() + rb"[ \t]")
_PANOS_FIRST_SET = _lazy(rb"(?m)^set (\S+)")
_PANOS_BRACE = _lazy(
    rb"(?m)^(?:#RANCID-CONTENT-TYPE: paloalto|show config (?:running|merged|candidate)\b"
    rb"|deviceconfig \{|(?:rulebase|mgt-config) \{)"
)
_PANOS_XML_ROOT = _lazy(rb"\A(?:<\?xml[^>]*\?>|<!--.*?-->|\s)*<(config|response)[\s>]", re.DOTALL)
_PANOS_XML = _lazy(rb"<(?:devices|mgt-config|shared|readonly)[\s>/]")


def sniff_panos(data: bytes) -> bool:
    head = data[:_HEAD].removeprefix(b"\xef\xbb\xbf")
    m = _PANOS_XML_ROOT.match(head)
    if m:
        return bool(_PANOS_XML.search(head)) and (m.group(1) == b"config" or b"<result" in head)
    first = _PANOS_FIRST_SET.search(head)
    if first is not None:
        # the first set line decides: JunOS' set form has other top words
        line_end = head.find(b"\n", first.start())
        line = head[first.start() : line_end if line_end >= 0 else None]
        return bool(_PANOS_SET_LINE.match(line + b" "))
    return bool(_PANOS_BRACE.search(head))


# --- FortiGate FortiOS ------------------------------------------------------------------------

_FORTIOS_SNIFF = _lazy(
    rb"(?:\xef\xbb\xbf)?(?:[ \t]*(?:#[^\n]*)?\r?\n)*"
    rb"config (?:firewall|system|vdom|global|router|user|vpn|log)\b"
)


def sniff_fortios(data: bytes) -> bool:
    """A FortiOS configuration: its first line (after comments such as ``#config-version``)
    opens a ``config`` block of a FortiOS section."""
    return _FORTIOS_SNIFF.match(data[:_HEAD]) is not None


# --- pfSense, OPNsense ------------------------------------------------------------------------

PFSENSE_ROOTS = ("pfsense", "opnsense")
_PFSENSE_HEAD = _lazy(
    rb"\A(?:\xef\xbb\xbf)?\s*(?:<\?xml[^>]*\?>\s*)?(?:<!--.*?-->\s*)*<(\w+)[\s>/]", re.S
)


def root_name(data: bytes) -> str | None:
    """``pfsense`` or ``opnsense`` when that is the document's root element."""
    m = _PFSENSE_HEAD.match(data[:_HEAD])
    if m is None:
        return None
    tag = m.group(1).decode("ascii", "replace").lower()
    return tag if tag in PFSENSE_ROOTS else None


# --- MikroTik RouterOS ------------------------------------------------------------------------

_MIKROTIK_SNIFF = _lazy(
    rb"(?m)^(?:#.* by RouterOS \d|/(?:ip|ipv6)(?: firewall |/firewall/)"
    rb"(?:filter|address-list|raw|nat|mangle)\b)"
)


def sniff_mikrotik(data: bytes) -> bool:
    return bool(_MIKROTIK_SNIFF.search(data[:_HEAD]))


# --- Windows Defender Firewall ----------------------------------------------------------------

NETSH = _lazy(rb"(?m)^Rule Name:\s")
"""A rule of ``netsh advfirewall firewall show rule`` output."""


def sniff_windows(data: bytes) -> bool:
    head = data[:_HEAD].removeprefix(b"\xef\xbb\xbf")
    if NETSH.search(head) and b"RemoteIP:" in head:
        return True
    first = head.lstrip().split(b"\n", 2)
    lines = [x for x in first if not x.startswith(b"#TYPE")]
    if not lines:
        return False
    cols = {c.strip().strip(b'"').lower() for c in lines[0].split(b",")}
    return {b"name", b"enabled", b"direction", b"remoteaddress"} <= cols
