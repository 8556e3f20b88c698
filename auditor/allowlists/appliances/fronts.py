"""The readers of the appliance formats as format detection sees them: name, description,
suffixes and the sniff of each (:mod:`auditor.allowlists.appliances.sniffing`), and a ``parse``
that imports the format's module (its parser and lowering) only when a file of that format is
read. The formats' modules never import this one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from auditor.allowlists.appliances.sniffing import (
    root_name,
    sniff_asa,
    sniff_fortios,
    sniff_ios,
    sniff_junos,
    sniff_mikrotik,
    sniff_panos,
    sniff_windows,
)
from auditor.allowlists.base import ReadContext, Reader

if TYPE_CHECKING:
    from auditor.model import RangeSet


class AsaReader(Reader):
    name = "asa"
    description = (
        "Cisco ASA configuration (show running-config): access lists bound to an interface"
    )
    suffixes = (".asa",)
    ruleset = True

    @staticmethod
    def sniff(data: bytes) -> bool:
        return sniff_asa(data)

    def parse(self, data: bytes, ctx: ReadContext) -> RangeSet:
        from auditor.allowlists.appliances.asa import parse

        return parse(data, ctx)


class IosReader(Reader):
    name = "ios"
    description = (
        "Cisco IOS / IOS XE running configuration (IOS XR, NX-OS access lists): the inbound"
        " access lists of an interface"
    )
    ruleset = True

    @staticmethod
    def sniff(data: bytes) -> bool:
        return sniff_ios(data)

    def parse(self, data: bytes, ctx: ReadContext) -> RangeSet:
        from auditor.allowlists.appliances.ios import parse

        return parse(data, ctx)


class JunosReader(Reader):
    name = "junos"
    description = (
        "Juniper JunOS configuration (brace or set form): firewall filters, SRX security policies"
    )
    ruleset = True

    @staticmethod
    def sniff(data: bytes) -> bool:
        return sniff_junos(data)

    def parse(self, data: bytes, ctx: ReadContext) -> RangeSet:
        from auditor.allowlists.appliances.junos import parse

        return parse(data, ctx)


class PanosReader(Reader):
    name = "panos"
    description = (
        "Palo Alto PAN-OS or Panorama configuration (XML, set or brace form): security rules "
        "for a zone pair"
    )
    suffixes = ()
    ruleset = True

    @staticmethod
    def sniff(data: bytes) -> bool:
        return sniff_panos(data)

    def parse(self, data: bytes, ctx: ReadContext) -> RangeSet:
        from auditor.allowlists.appliances.panos import parse

        return parse(data, ctx)


class FortiosReader(Reader):
    name = "fortios"
    description = (
        "FortiGate configuration (show full-configuration, backup): firewall policies in order"
    )
    ruleset = True

    @staticmethod
    def sniff(data: bytes) -> bool:
        return sniff_fortios(data)

    def parse(self, data: bytes, ctx: ReadContext) -> RangeSet:
        from auditor.allowlists.appliances.fortios import parse

        return parse(data, ctx)


class PfsenseReader(Reader):
    name = "pfsense"
    description = "pfSense/OPNsense config.xml: filter rules of one interface (--chain wan)"
    ruleset = True

    @staticmethod
    def sniff(data: bytes) -> bool:
        return root_name(data) is not None

    def parse(self, data: bytes, ctx: ReadContext) -> RangeSet:
        from auditor.allowlists.appliances.pfsense import parse

        return parse(data, ctx)


class MikrotikReader(Reader):
    name = "mikrotik"
    description = "MikroTik RouterOS /export: firewall filter (raw, dstnat) rules in order"
    suffixes = (".rsc",)
    ruleset = True

    @staticmethod
    def sniff(data: bytes) -> bool:
        return sniff_mikrotik(data)

    def parse(self, data: bytes, ctx: ReadContext) -> RangeSet:
        from auditor.allowlists.appliances.mikrotik import evaluate_export

        return evaluate_export(data, ctx, self.name)


class WindowsFirewallReader(Reader):
    name = "windows-firewall"
    description = (
        "Windows Defender Firewall: Get-NetFirewallRule CSV or netsh advfirewall show rule"
        " verbose; block wins over allow"
    )
    ruleset = True

    @staticmethod
    def sniff(data: bytes) -> bool:
        return sniff_windows(data)

    def parse(self, data: bytes, ctx: ReadContext) -> RangeSet:
        from auditor.allowlists.appliances.windows_fw import parse

        return parse(data, ctx)
