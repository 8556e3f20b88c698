"""SPF records: the limits of RFC 7208, the errors of an SPF source, and parsing a record
into its terms (section 4.6: any syntax error makes the whole record a permerror)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from auditor import ipspace
from auditor.errors import AuditorError, InputError

MAX_LOOKUPS = 10
"""DNS-querying terms per check_host() (RFC 7208 section 4.6.4)."""
MAX_VOID = 2
MAX_MX = 10
MAX_DEPTH = 20
"""Nested include/redirect depth: a backstop behind loop detection."""
MAX_PUBLISHED_LOOKUPS = 100
"""The publisher's view ignores the limit of 10, but not without bound."""
RECORD_ADVISORY = 450
RECORD_WARNING = 512
"""Record sizes worth a word (RFC 7208 section 3.4)."""


class SpfError(InputError):
    """The SPF source cannot be expanded (no record, a permerror, a DNS failure)."""


class DnsFailure(SpfError):
    """SERVFAIL, refusal, timeout: the tree could not be read (temperror)."""


class NoSuchDomain(SpfError):
    """The name does not exist (NXDOMAIN): most often a typo or a retired name."""


class NoSpfRecord(SpfError):
    """The name exists but has no ``v=spf1`` TXT record."""


# --- records --------------------------------------------------------------------------------

_MECHANISMS = ("all", "include", "a", "mx", "ptr", "ip4", "ip6", "exists")
_DNS_TERMS = frozenset({"include", "a", "mx", "ptr", "exists"})
_QUALIFIERS = "+-?~"
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.-]*")
_MACRO = re.compile(r"%(?:\{([A-Za-z])([0-9]*)([rR]?)([.\-+,/_=]*)\}|%|_|-)|%")
_CIDR4 = r"(?:/(0|[1-9][0-9]?))"
_CIDR6 = r"(?:/(0|[1-9][0-9]{0,2}))"
_DUAL = re.compile(rf"(.*?){_CIDR4}?(?:/{_CIDR6})?")
_DOMAIN_MACROS = frozenset("slodiphv")
_TOPLABEL = re.compile(r"(?=.*[A-Za-z])[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?")


@dataclass(frozen=True)
class Term:
    text: str
    qualifier: str
    mechanism: str
    domain: str | None = None
    """The domain-spec as written (macros unexpanded); None means the current domain."""
    family: int | None = None
    first: int = 0
    last: int = 0
    cidr4: int = 32
    cidr6: int = 128


@dataclass(frozen=True)
class Record:
    domain: str
    text: str
    terms: tuple[Term, ...]
    redirect: str | None = None

    @property
    def has_all(self) -> bool:
        return any(t.mechanism == "all" for t in self.terms)


class _RecordError(Exception):
    """A syntax error: the record is a permerror before any term is evaluated (4.6)."""


def _check_domain_spec(spec: str, term: str) -> None:
    """domain-spec = macro-string domain-end (RFC 7208 section 7.1)."""
    if not spec or any(ord(c) < 0x21 or ord(c) > 0x7E for c in spec):
        raise _RecordError(f"{term}: invalid domain {spec!r}")
    pos = 0
    for m in _MACRO.finditer(spec):
        if m.group(0) == "%":
            raise _RecordError(f"{term}: a lone % in {spec!r}")
        if m.group(1) and m.group(1).lower() not in _DOMAIN_MACROS:
            # c, r and t exist only in explanation text (section 7.2)
            raise _RecordError(f"{term}: macro %{{{m.group(1)}}} is not allowed in a domain")
        pos = m.end()
    if spec.endswith("}") and pos == len(spec):
        return  # domain-end is a macro-expand
    name = spec.rstrip(".") if spec.endswith(".") and not spec.endswith("..") else spec
    top = name.rsplit(".", 1)
    if len(top) < 2 or not _TOPLABEL.fullmatch(top[1]):
        raise _RecordError(f"{term}: {spec!r} does not end in a valid top-level label")


def _network(term: str, value: str, family: int) -> tuple[int, int, int]:
    if family == 4:
        m = re.fullmatch(rf"([0-9.]+){_CIDR4}?", value)
    else:
        m = re.fullmatch(rf"([0-9A-Fa-f:.]+){_CIDR6}?", value)
    if not m:
        raise _RecordError(f"{term}: invalid network {value!r}")
    addr, plen_text = m.group(1), m.group(2)
    bits = 32 if family == 4 else 128
    plen = int(plen_text) if plen_text is not None else bits
    if plen > bits:
        raise _RecordError(f"{term}: prefix /{plen} is longer than {bits}")
    try:
        fam, value_int, mapped = ipspace.parse_address(addr)
    except AuditorError:
        raise _RecordError(f"{term}: invalid address {addr!r}") from None
    if family == 6 and mapped and plen >= 96:
        # ip6:::ffff:192.0.2.1/N: a prefix shorter than 96 covers ordinary IPv6 addresses
        # too; a longer one only IPv4-mapped clients, which are IPv4 clients (section 5.6)
        return 6, -1, -1
    if fam != family:
        raise _RecordError(f"{term}: {addr!r} is not an IPv{family} address")
    size = 1 << (bits - plen)
    first = value_int & ~(size - 1)
    return family, first, first + size - 1


def parse_record(domain: str, text: str) -> Record:
    """A record's terms; any syntax error anywhere makes the whole record a permerror."""
    words = text.split(" ")
    if words[0].lower() != "v=spf1":
        raise _RecordError("not an SPF record")
    terms: list[Term] = []
    redirect: str | None = None
    seen_exp = False
    for word in words[1:]:
        if not word:
            continue  # several spaces, or a trailing one, are fine
        name, eq, value = word.partition("=")
        if eq and _NAME.fullmatch(name) and ":" not in name and "/" not in name:
            key = name.lower()
            if key == "redirect":
                if redirect is not None:
                    raise _RecordError("redirect= given twice")
                _check_domain_spec(value, word)
                redirect = value
            elif key == "exp":
                if seen_exp:
                    raise _RecordError("exp= given twice")
                seen_exp = True
                _check_domain_spec(value, word)
            else:
                for m in _MACRO.finditer(value):
                    if m.group(0) == "%":
                        raise _RecordError(f"{word}: a lone %")
            continue
        qualifier = "+"
        body = word
        if body[0] in _QUALIFIERS:
            qualifier, body = body[0], body[1:]
        mech, colon, arg = body.partition(":")
        mech = mech.lower()
        dual = ""
        if not colon and "/" in mech:
            mech, _, rest = mech.partition("/")
            dual = "/" + rest
        if mech not in _MECHANISMS:
            raise _RecordError(f"unknown mechanism {word!r}")
        if mech == "all":
            if colon or dual:
                raise _RecordError(f"{word}: all takes no argument")
            terms.append(Term(word, qualifier, "all"))
        elif mech in ("include", "exists"):
            if not colon or dual:
                raise _RecordError(f"{word}: {mech} needs a domain and no prefix length")
            _check_domain_spec(arg, word)
            terms.append(Term(word, qualifier, mech, arg))
        elif mech == "ptr":
            if dual:
                raise _RecordError(f"{word}: ptr takes no prefix length")
            if colon:
                _check_domain_spec(arg, word)
            terms.append(Term(word, qualifier, mech, arg if colon else None))
        elif mech in ("a", "mx"):
            spec = None
            if colon:
                parts = _DUAL.fullmatch(arg)
                if parts is None:
                    raise _RecordError(f"{word}: cannot read it")
                spec, c4, c6 = parts.group(1), parts.group(2), parts.group(3)
                _check_domain_spec(spec, word)
            else:
                lengths = re.fullmatch(rf"{_CIDR4}?(?:/{_CIDR6})?", dual)
                if lengths is None:
                    raise _RecordError(f"{word}: invalid prefix length")
                c4, c6 = lengths.group(1), lengths.group(2)
            cidr4 = int(c4) if c4 is not None else 32
            cidr6 = int(c6) if c6 is not None else 128
            if cidr4 > 32 or cidr6 > 128:
                raise _RecordError(f"{word}: prefix length out of range")
            terms.append(Term(word, qualifier, mech, spec, cidr4=cidr4, cidr6=cidr6))
        else:  # ip4, ip6
            if not colon or dual:
                raise _RecordError(f"{word}: {mech} needs a network")
            fam = 4 if mech == "ip4" else 6
            family, first, last = _network(word, arg, fam)
            terms.append(Term(word, qualifier, mech, family=family, first=first, last=last))
    return Record(domain, text, tuple(terms), redirect)
