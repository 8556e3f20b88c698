"""``asa``: a Cisco ASA configuration (``show running-config``, or the saved startup
configuration), evaluated for a new connection to the service coming in on one interface.

What is read [Cisco, "CLI Book 2: Cisco Secure Firewall ASA Series Firewall CLI Configuration
Guide", chapters "Access Control Lists", "Objects for Access Control" and "Access Rules"
(cisco.com/c/en/us/td/docs/security/asa/asa922/configuration/firewall/asa-922-firewall-config/
access-acls.html, access-objects.html, access-rules.html)]:

- ``access-list NAME extended permit|deny PROTOCOL SOURCE [PORTS] DESTINATION [PORTS]``, in
  order, first match. The protocol is a name or number (``ip`` is every protocol), a service
  ``object`` or a service or protocol ``object-group``. Sources and destinations: ``any``
  (both families), ``any4``, ``any6``, ``host A``, ``A MASK``, an IPv6 prefix, a ``name``
  alias, ``object NAME``, ``object-group NAME``; ``interface IF`` (the ASA's own address:
  conditional). Ports: ``eq``, ``lt``, ``gt``, ``neq``, ``range``, a port name from the ASA's
  own table (``smtp`` is 25), or a service ``object-group``; source ports are judged against
  the ports a client connects from. ``remark`` lines are skipped (but hold a line number),
  ``inactive`` entries never match, ``log`` is ignored, a ``time-range`` makes the entry
  conditional, as do users, security groups and ICMP types.
- ``object network`` (``host``, ``subnet``, ``range``; ``fqdn`` is conditional, its addresses
  are resolved at run time), ``object-group network`` (``network-object host A``, ``A MASK``,
  a prefix, ``object NAME``; ``group-object NAME``, nested, a cycle is an error), ``object
  service``, ``object-group service`` (``port-object``, ``service-object``, ``group-object``),
  ``object-group protocol``, ``name A NAME``.
- ``access-group NAME in interface IF`` and ``access-group NAME global``: a connection coming in
  on IF meets the interface's access list, then the global one, then the implicit deny
  ("Interface access rules are processed before global access rules"; "the implicit deny
  comes after the global rule is processed"). ``access-group NAME out interface IF`` is met on
  the way out, on the interface the server is behind (found from ``--to`` and the interfaces'
  ``ip address``; else its drops are conditional).
- An interface with neither its own nor a global access list: the security levels decide
  ("traffic from a higher security interface to a lower ... is allowed"; from lower to higher
  it is denied; between equal levels only with ``same-security-traffic permit
  inter-interface``). ``nameif inside`` is level 100 unless set, any other name level 0.

``--chain`` names the interface the connections come in on (its ``nameif``) or an access
list; without it, the one interface with an inbound access list, or the global one, or the
only access list. The object groups and network objects are the scopes (``--scope NAME``).
NAT rules are listed as a finding: since 8.3 access lists name real addresses, so ``--to``
is the server's real (inside) address.
"""

from __future__ import annotations

from auditor.allowlists.appliances.asa_config import parse_config
from auditor.allowlists.appliances.asa_lower import evaluate_config
from auditor.allowlists.appliances.sniffing import ASA_SHOW as _SHOW
from auditor.allowlists.base import ReadContext, ReaderError, decode_text
from auditor.model import RangeSet


def parse(data: bytes, ctx: ReadContext) -> RangeSet:
    """What :class:`AsaReader` reads from a configuration."""
    text = decode_text(data, ctx)
    if _SHOW.search(data[:65536]):
        m = _SHOW.search(data[:65536])
        line = data[: m.start()].count(b"\n") + 1 if m else None
        raise ReaderError(
            "this looks like `show access-list` output, not a configuration",
            source=ctx.name,
            line=line,
            hint="give `show running-config` (or the saved configuration): it holds the"
            " access lists in order, with the objects and the access-group lines",
        )
    cfg = parse_config(text, ctx)
    return evaluate_config(cfg, data, ctx)
