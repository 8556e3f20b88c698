"""The service a rule is about: ``tcp/25`` (default), ``tcp/25,465,587``, ``udp/53``, ``any``."""

from __future__ import annotations

import re
from dataclasses import dataclass

from auditor.errors import UsageError

_SPEC = re.compile(r"(tcp|udp)/([0-9]{1,5}(?:-[0-9]{1,5})?(?:,[0-9]{1,5}(?:-[0-9]{1,5})?)*)")

NAMED: dict[str, str] = {
    "smtp": "tcp/25",
    "submission": "tcp/587",
    "smtps": "tcp/465",
    "submissions": "tcp/465",
    "http": "tcp/80",
    "https": "tcp/443",
    "ssh": "tcp/22",
}
"""Well-known names, alone or joined by commas (smtp,submission is tcp/25,587). DNS is not
among them: it runs on udp/53 and tcp/53, so write the one meant."""


@dataclass(frozen=True, order=True)
class Service:
    protocol: str
    """``tcp``, ``udp`` or ``any``."""
    ports: tuple[tuple[int, int], ...] = ()
    """Inclusive port ranges, sorted; empty for ``any``."""

    @classmethod
    def parse(cls, text: str) -> Service:
        spec = text.strip().lower()
        if spec == "any":
            return cls("any")
        names = [part.strip() for part in spec.split(",")]
        if all(name in NAMED for name in names):
            spec = "tcp/" + ",".join(NAMED[name].partition("/")[2] for name in names)
        m = _SPEC.fullmatch(spec)
        if m is None:
            raise UsageError(
                f"invalid service {text!r}",
                hint="write tcp/25, tcp/25,465,587, udp/53, tcp/1024-2048, any, or a name: "
                + ", ".join(NAMED),
            )
        ports = []
        for part in m.group(2).split(","):
            lo_s, _, hi_s = part.partition("-")
            lo = int(lo_s)
            hi = int(hi_s) if hi_s else lo
            if (lo_s.startswith("0") and lo_s != "0") or not 1 <= lo <= hi <= 65535:
                raise UsageError(
                    f"invalid port {part!r} in service {text!r}",
                    hint="ports are 1 to 65535, ranges low-high",
                )
            ports.append((lo, hi))
        return cls(m.group(1), tuple(sorted(set(ports))))

    def __str__(self) -> str:
        if self.protocol == "any":
            return "any"
        return f"{self.protocol}/{self.port_list(',', '-')}"

    def describe(self) -> str:
        """For headers and comments: ``tcp/25``, or ``all protocols and ports``."""
        return "all protocols and ports" if self.protocol == "any" else str(self)

    def port_list(self, sep: str = ",", range_sep: str = "-") -> str:
        return sep.join(f"{a}" if a == b else f"{a}{range_sep}{b}" for a, b in self.ports)

    def contains(self, protocol: str, port: int) -> bool:
        if self.protocol == "any":
            return True
        return protocol == self.protocol and any(a <= port <= b for a, b in self.ports)
