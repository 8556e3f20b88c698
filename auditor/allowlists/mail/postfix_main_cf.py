"""Postfix ``main.cf``: the ``mynetworks`` parameter, the clients Postfix trusts
(``permit_mynetworks`` lets them relay).

postconf(5) and match_list(3) define the list: patterns separated by commas and/or
whitespace, continuation lines start with whitespace, whole-line ``#`` comments; its
patterns and the files they refer to are read as :mod:`auditor.allowlists.mail.postfix_lists`
describes. What the main.cf adds:

- ``$name``, ``${name}``, ``$(name)``, ``${name?value}`` and ``${name:value}`` references
  to parameters set in the same file (``config_directory`` defaults to /etc/postfix);
  the addresses keep the line they are written on; an unknown ``$parameter`` makes what
  follows it conditional;
- a main.cf without ``mynetworks``: the default then comes from ``mynetworks_style``
  (``host`` from compatibility_level 2 on, ``subnet`` before) and the host's network
  interfaces, which a file does not show (give the ``postconf -x mynetworks`` output
  instead, read as ``postconf``), so every address is conditional.

``-o mynetworks=...`` overrides in master.cf are not read. ``check_client_access`` tables
named in ``smtpd_*_restrictions`` and the tables in ``postscreen_access_list`` are listed
as findings: read them with ``postfix-cidr``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from auditor.allowlists.base import ReadContext, ReaderError, decode_text
from auditor.allowlists.mail.postfix_common import MatchRule, anything, content_lines
from auditor.allowlists.mail.postfix_lists import MatchListReader, Token, split_list
from auditor.model import Finding, Origin, RangeSet, RuleRef, Severity

_DEFAULTS = {"config_directory": "/etc/postfix"}


@dataclass
class _Param:
    name: str
    line: int
    pieces: list[tuple[int, str]]

    @property
    def value(self) -> str:
        return " ".join(p for _, p in self.pieces).strip()


_PARAM_LINE = re.compile(r"([A-Za-z0-9_.-]+)\s*=\s*(.*)")
_REF = re.compile(
    r"\$(?:\{([A-Za-z0-9_]+)(?:([?:])(\{[^}]*\}|[^}]*))?\}|\(([A-Za-z0-9_]+)\)|([A-Za-z0-9_]+))"
)


def parse_main_cf(text: str, name: str) -> tuple[dict[str, _Param], list[Finding]]:
    """The parameters of a main.cf (the last definition of a name wins, as in postconf(5))."""
    params: dict[str, _Param] = {}
    findings: list[Finding] = []
    current: _Param | None = None
    for lineno, stripped, continues in content_lines(text):
        if continues:
            if current is None:
                raise ReaderError(
                    "a line that starts with whitespace continues a parameter, but none is open",
                    source=name,
                    line=lineno,
                    hint="in main.cf a parameter starts at the beginning of a line",
                )
            current.pieces.append((lineno, stripped))
            continue
        m = _PARAM_LINE.fullmatch(stripped)
        if m is None:
            raise ReaderError(
                f"missing '=' after the parameter name in {stripped[:60]!r}",
                source=name,
                line=lineno,
                hint="main.cf lines are `name = value` (postconf(5)); master.cf is not read",
            )
        if m.group(1) in params:
            findings.append(
                Finding(
                    "redefined",
                    Severity.INFO,
                    f"{m.group(1)} is set again here; the earlier line"
                    f" {params[m.group(1)].line} is ignored",
                    Origin(name, lineno),
                )
            )
        current = _Param(m.group(1), lineno, [(lineno, m.group(2))] if m.group(2) else [])
        params[current.name] = current
    return params, findings


class _Expander:
    """``$name`` references of a main.cf, expanded into tokens (main.cf(5): parameters are
    expanded when the value is used; an address keeps the line it is written on)."""

    def __init__(self, params: dict[str, _Param], name: str) -> None:
        self.params = params
        self.name = name

    def tokens(self, param: _Param, seen: tuple[str, ...] = ()) -> list[Token]:
        if param.name in seen:
            raise ReaderError(
                f"parameter {param.name} refers to itself ({' -> '.join((*seen, param.name))})",
                source=self.name,
                line=param.line,
                hint="Postfix stops with 'macro nesting' at such a loop",
            )
        inner = (*seen, param.name)
        out: list[Token] = []
        for token, line in split_list(param.pieces):
            if "$" not in token:
                out.append(Token(token, line))
                continue
            whole = _REF.fullmatch(token)
            if whole and whole.group(2) is None:
                ref = whole.group(1) or whole.group(4) or whole.group(5)
                if ref in self.params:
                    out.extend(self.tokens(self.params[ref], inner))
                elif ref in _DEFAULTS:
                    out.extend(Token(t, line) for t, _ in split_list([(line, _DEFAULTS[ref])]))
                else:
                    out.append(Token(f"${ref}", line, unknown=True))
                continue
            expanded, unknown = self._substitute(token, inner)
            if unknown is not None:
                out.append(Token(f"${unknown}", line, unknown=True))
            else:
                out.extend(Token(t, line) for t, _ in split_list([(line, expanded)]))
        return out

    def _substitute(self, token: str, seen: tuple[str, ...]) -> tuple[str, str | None]:
        """A token with references inside (``cidr:$config_directory/relays``)."""
        unknown: list[str] = []

        def value(name: str) -> str | None:
            if name in self.params:
                parts = self.tokens(self.params[name], seen)
                if any(p.unknown for p in parts):
                    return None
                return " ".join(p.text for p in parts)
            return _DEFAULTS.get(name)

        def replace(m: re.Match[str]) -> str:
            name = m.group(1) or m.group(4) or m.group(5)
            got = value(name)
            if got is None:
                unknown.append(name)
                return ""
            if m.group(2):
                alt = m.group(3) or ""
                alt = alt[1:-1] if alt.startswith("{") and alt.endswith("}") else alt
                # ${name?value}: value when name is not empty; ${name:value}: when it is
                return alt if bool(got) == (m.group(2) == "?") else ""
            return got

        text = _REF.sub(replace, token)
        return text, (unknown[0] if unknown else None)


# --- main.cf ---------------------------------------------------------------------------------

# Parameters only a main.cf has; a `name = value` file with none of them is some other .cf
# (a mysql: or ldap: table definition, say).
_MAIN_CF_NAMES = frozenset(
    {"mynetworks", "mynetworks_style", "myhostname", "mydomain", "myorigin", "mydestination",
     "inet_interfaces", "inet_protocols", "relayhost", "relay_domains", "compatibility_level",
     "alias_maps", "alias_database", "queue_directory", "command_directory", "daemon_directory",
     "mail_owner", "biff", "append_dot_mydomain", "home_mailbox", "mailbox_size_limit",
     "message_size_limit", "recipient_delimiter", "virtual_mailbox_domains", "virtual_alias_maps",
     "transport_maps", "default_transport", "local_recipient_maps", "mailbox_command"}
)  # fmt: skip
_MAIN_CF_PREFIXES = ("smtpd_", "postscreen_")
_CLIENT_ACCESS = frozenset({"check_client_access"})


def _is_main_cf(names: Iterable[str]) -> bool:
    return any(n in _MAIN_CF_NAMES or n.startswith(_MAIN_CF_PREFIXES) for n in names)


def sniff_main_cf(data: bytes) -> bool:
    """A main.cf: `name = value` lines (and continuations, comments) naming mynetworks or at
    least two parameters only a main.cf has."""
    head = data[:8192].decode("utf-8", "replace")
    lines = head.split("\n")
    if len(data) > 8192:
        lines = lines[:-1]  # cut mid-line
    names: list[str] = []
    for raw in lines:
        line = raw.rstrip("\r")
        stripped = line.strip()
        if not stripped or stripped.startswith("#") or line[0] in " \t":
            continue
        m = _PARAM_LINE.fullmatch(stripped)
        if m is None:
            return False
        names.append(m.group(1))
    known = [n for n in names if n in _MAIN_CF_NAMES or n.startswith(_MAIN_CF_PREFIXES)]
    return "mynetworks" in names or "mynetworks_style" in names or len(set(known)) >= 2


# postconf(1) prints `name = value` lines too. What tells its output from a main.cf: the full
# output (`postconf`) always prints mail_version, the compiled-in version a main.cf has no
# reason to set; `postconf mynetworks [mynetworks_style]` prints only those parameters, with
# no comment and no continuation line.
_POSTCONF_ALONE = frozenset({"mynetworks", "mynetworks_style"})


def _postconf_lines(text: str) -> list[str] | None:
    """The parameter names of postconf-shaped text; None when a line is not `name = value`
    (a comment, a continuation, anything else)."""
    names: list[str] = []
    for raw in text.split("\n"):
        line = raw.rstrip("\r")
        if not line:
            continue
        m = _PARAM_LINE.fullmatch(line)
        if m is None or line[0] in " \t#":
            return None
        names.append(m.group(1))
    return names


def is_postconf_output(text: str, params: Iterable[str]) -> bool:
    """Whether parsed main.cf-style text is what postconf printed (see above)."""
    names = set(params)
    if "mail_version" in names:
        return True
    if "mynetworks" not in names or not names <= _POSTCONF_ALONE:
        return False
    return _postconf_lines(text) is not None


class PostfixMainCfReader(MatchListReader):
    name = "postfix-main-cf"
    description = "Postfix main.cf: the clients mynetworks trusts (! exclusions, files, cidr:)"
    suffixes = (".cf",)

    @staticmethod
    def sniff(data: bytes) -> bool:
        return sniff_main_cf(data)

    def parse(self, data: bytes, ctx: ReadContext) -> RangeSet:
        return self.read(data, ctx, printed=False)

    def read(self, data: bytes, ctx: ReadContext, *, printed: bool) -> RangeSet:
        """``printed``: the file is postconf output (else: when it looks like it)."""
        text = decode_text(data, ctx)
        params, findings = parse_main_cf(text, ctx.name)
        printed = printed or is_postconf_output(text, params)
        if printed and "mynetworks" not in params:
            raise ReaderError(
                "postconf output without mynetworks",
                source=ctx.name,
                hint="on the mail server run `postconf -x mynetworks > mynetworks.postconf`"
                " and give that file",
            )
        if not _is_main_cf(params):
            raise ReaderError(
                "no Postfix main.cf parameter (mynetworks, myhostname, smtpd_...) in this file",
                source=ctx.name,
                hint="give the main.cf (a mysql:/ldap: table definition is not one), or"
                " choose the format with file+FORMAT:PATH or --format",
            )
        lists = self.lists(ctx)
        findings += _client_access_findings(params, ctx.name)
        mynetworks = params.get("mynetworks")
        if mynetworks is None:
            rules = [_default_mynetworks(params, ctx.name)]
        else:
            tokens = _Expander(params, ctx.name).tokens(mynetworks)
            rules = lists.rules(tokens, ctx.name)
            if printed:
                findings.append(_postconf_finding(mynetworks, tokens, ctx.name))
            if not tokens:
                findings.append(
                    Finding(
                        "empty-list",
                        Severity.INFO,
                        "mynetworks is empty: Postfix trusts no client",
                        Origin(ctx.name, mynetworks.line),
                    )
                )
        findings += lists.findings
        fmt = "postconf" if printed else self.name
        return lists.result(data, ctx, fmt, rules, findings)


def _postconf_finding(mynetworks: _Param, tokens: Sequence[Token], name: str) -> Finding:
    message = (
        "read as postconf output: mynetworks is the value Postfix computed (mynetworks_style"
        " and the host's interfaces already applied when main.cf does not set it)"
    )
    if any(t.unknown for t in tokens):
        message += (
            "; its $parameters were printed as written: give `postconf -x mynetworks`"
            " output, which expands them"
        )
    return Finding("postconf-output", Severity.INFO, message, Origin(name, mynetworks.line))


def _default_mynetworks(params: dict[str, _Param], name: str) -> MatchRule:
    """Without mynetworks, Postfix computes it from mynetworks_style and the interfaces."""
    style_param = params.get("mynetworks_style")
    level_param = params.get("compatibility_level")
    if style_param is not None:
        style = style_param.value or "subnet"
        line = style_param.line
        said = f"mynetworks_style = {style}"
    else:
        level = level_param.value if level_param is not None else "0"
        major = level.split(".")[0]
        style = "host" if major.isdigit() and int(major) >= 2 else "subnet"
        line = level_param.line if level_param is not None else 0
        said = f"the default mynetworks_style ({style} at compatibility_level {level})"
    why = (
        f"mynetworks is not set, so Postfix trusts the networks {said} derives from the host's"
        " network interfaces, which the file does not show; on the mail server run"
        " `postconf -x mynetworks > mynetworks.postconf` and give that file instead: it holds"
        " the networks Postfix computed"
    )
    return anything(RuleRef(Origin(name, line or None), "mynetworks (not set)"), why)


def _client_access_findings(params: dict[str, _Param], name: str) -> list[Finding]:
    """check_client_access tables and postscreen_access_list tables decide about clients
    too; they are other files, named here so that they can be audited."""
    out: list[Finding] = []
    for pname in sorted(params):
        param = params[pname]
        if not (pname.startswith("smtpd_") and pname.endswith("_restrictions")) and (
            pname != "postscreen_access_list"
        ):
            continue
        tokens = split_list(param.pieces)
        for k, (token, line) in enumerate(tokens):
            table = None
            if pname == "postscreen_access_list":
                if ":" in token and not token.startswith("["):
                    table = token
            elif token.lower() in _CLIENT_ACCESS and k + 1 < len(tokens):
                table = tokens[k + 1][0]
            if table is None:
                continue
            how = "postscreen(8)" if pname == "postscreen_access_list" else token
            hint = ""
            if table.startswith("cidr:"):
                hint = f" (read it with -d file+postfix-cidr:{table[len('cidr:') :]})"
            out.append(
                Finding(
                    "client-access-table",
                    Severity.INFO,
                    f"{pname}: {how} checks clients against {table}{hint}",
                    Origin(name, line),
                )
            )
    return out
