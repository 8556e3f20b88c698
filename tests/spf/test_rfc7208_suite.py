"""The RFC 7208 test suite (openspf 2014, via pyspf; ../shared/corpus/spf/rfc7208-tests.yml),
each test's zone served by a real DNS server on 127.0.0.1.

This tool enumerates what a domain authorises instead of checking one client, so each result
maps to: pass -> the client address is in the expanded set; fail, softfail, neutral -> it is
not; permerror, temperror, none -> the source fails or is partial. A test whose evaluation
reaches a term that depends on the client (a macro other than %{d}, ``ptr``, ``exists:`` with
a macro) cannot be decided by enumeration and is skipped, saying which term; the others must
all pass.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from dnsd import DnsServer, zone_from_suite

from auditor import ipspace
from auditor.spf.options import DnsOptions
from auditor.spf.record import SpfError
from auditor.spf.result import expand_domain

SUITE = (
    Path(__file__).resolve().parents[2].parent / "shared" / "corpus" / "spf" / "rfc7208-tests.yml"
)
ERRORS = {"permerror", "temperror", "none"}


def _cases() -> list[Any]:
    if not SUITE.is_file():
        return [pytest.param(None, None, None, marks=pytest.mark.skip(reason=f"{SUITE} is absent"))]
    out = []
    for doc in yaml.safe_load_all(SUITE.read_text()):
        for name, test in doc["tests"].items():
            out.append(pytest.param(doc["zonedata"], name, test, id=name))
    return out


def _domain(test: dict[str, Any]) -> str:
    mailfrom = test.get("mailfrom") or ""
    if "@" in mailfrom:
        return str(mailfrom.rsplit("@", 1)[1])
    return str(mailfrom or test["helo"])


@pytest.mark.parametrize(("zonedata", "name", "test"), _cases())
def test_suite(zonedata: dict[str, Any], name: str, test: dict[str, Any]) -> None:
    expected = test["result"] if isinstance(test["result"], list) else [test["result"]]
    with DnsServer(zone_from_suite(zonedata)) as server:
        options = DnsOptions(nameserver=f"127.0.0.1:{server.port}", timeout=0.4, deadline=4.0)
        try:
            expansion = expand_domain(_domain(test), options)
        except SpfError as e:
            assert set(expected) & ERRORS, f"{name}: failed ({e}) but expected {expected}"
            return
    family, address, mapped = ipspace.parse_address(test["host"])
    if mapped:
        # RFC 7208 section 5: an IPv4-mapped client address MUST be treated as IPv4
        family, address = 4, address & 0xFFFFFFFF
    result = expansion.family(family)
    authorised = any(first <= address <= last for first, last, _ in result.pieces)
    if (result.error or result.over_limit) and not authorised:
        # the evaluation stopped before this client was matched: check_host() errs for it
        assert set(expected) & ERRORS, (
            f"{name}: {result.error or result.over_limit}, but expected {expected}"
        )
        return
    if result.unlistable and not authorised:
        if set(expected) & ERRORS:
            return  # partial is not complete: an error result is satisfied
        pytest.skip(f"depends on the client: {result.unlistable[0]}")
    if authorised:
        assert "pass" in expected, f"{name}: {test['host']} authorised, expected {expected}"
    else:
        assert set(expected) & {"fail", "softfail", "neutral"}, (
            f"{name}: {test['host']} not authorised, expected {expected}"
        )
