"""JunOS configuration text, in either of its two forms, as one tree.

- The brace (curly) form of ``show configuration``: statements ending in ``;``, blocks in
  ``{ }``, value lists in ``[ ]``, ``/* */`` and ``#`` comments, ``"quoted"`` words, and the
  annotations ``inactive:`` (the statement and everything under it is skipped, as the device
  does), ``replace:``, ``protect:`` (no effect on what the configuration says).
- The ``set`` form (``show configuration | display set``, or configuration-mode commands):
  ``set PATH``, ``deactivate PATH`` / ``activate PATH`` (a deactivated statement and what is
  under it is skipped), ``delete PATH`` (removes what was set before it) and ``insert PATH
  NAME before|after NAME`` (moves an element among its siblings), one command a line.

Both become the same tree (Junos CLI User Guide, "Display set Commands from the
Configuration": each ``set`` line is the path from the top of the hierarchy to a statement):
each node is a word of a path, its children in the order the configuration first names them
(the order of terms and policies), with the line it was first named on.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from auditor.allowlists.base import ReaderError

_TOKEN = re.compile(
    r"(?P<nl>\n)|(?P<ws>[ \t\r\f\v]+)|(?P<c>/\*.*?(?:\*/|\Z))|(?P<h>#[^\n]*)"
    r'|(?P<s>"(?:[^"\\\n]|\\.)*")|(?P<p>[{};\[\]])|(?P<w>[^\s{};\[\]"]+)',
    re.DOTALL,
)
_SET_WORD = re.compile(r'"(?:[^"\\]|\\.)*"|\[|\]|[^\s"\[\]]+')
_ANNOTATIONS = ("replace:", "protect:", "inactive:", "active:")
_COMMANDS = ("set", "delete", "deactivate", "activate", "insert")


@dataclass
class Node:
    """One word of a configuration path; its children in the order first named."""

    word: str
    line: int
    children: dict[str, Node] = field(default_factory=dict)

    def get(self, *words: str) -> Node | None:
        node: Node | None = self
        for w in words:
            if node is None:
                return None
            node = node.children.get(w)
        return node

    def keys(self) -> list[str]:
        return list(self.children)

    def paths(self) -> Iterator[tuple[list[str], int]]:
        """Every statement under the node: its words below the node and the line of its
        last word (the statement's own line)."""
        for child in self.children.values():
            if not child.children:
                yield [child.word], child.line
                continue
            for words, line in child.paths():
                yield [child.word, *words], line


@dataclass
class Config:
    root: Node
    form: str
    """``set`` or ``brace``."""
    skipped: int = 0
    """Statements skipped as inactive or deactivated."""
    lines: list[str] = field(default_factory=list)


@dataclass
class _Stmt:
    words: list[str]
    lines: list[int]
    """The line each word was written on."""


def _unquote(word: str) -> str:
    if len(word) >= 2 and word[0] == word[-1] == '"':
        return re.sub(r"\\(.)", r"\1", word[1:-1])
    return word


def _error(source: str, line: int, message: str, hint: str | None = None) -> ReaderError:
    return ReaderError(message, source=source, line=line, hint=hint)


def is_set_form(text: str) -> bool:
    for raw in text.split("\n"):
        line = raw.strip()
        if not line or line.startswith(("#", "/*")):
            continue
        return line.split(None, 1)[0] in _COMMANDS
    return False


def parse(text: str, source: str) -> Config:
    """The tree of a configuration in either form."""
    if is_set_form(text):
        stmts, skipped = _set_form(text, source)
        form = "set"
    else:
        stmts, skipped = _brace_form(text, source)
        form = "brace"
    root = Node("", 0)
    for stmt in stmts:
        node = root
        for word, line in zip(stmt.words, stmt.lines, strict=True):
            nxt = node.children.get(word)
            if nxt is None:
                nxt = node.children[word] = Node(word, line)
            node = nxt
    return Config(root, form, skipped, text.split("\n"))


def _expand(words: list[str], lines: list[int], source: str) -> list[_Stmt]:
    """A statement with a ``[ a b ]`` list is one statement per value."""
    if "[" not in words:
        return [_Stmt(words, lines)]
    at = words.index("[")
    try:
        end = words.index("]", at)
    except ValueError:
        raise _error(source, lines[at], "a '[' list is not closed with ']'") from None
    head, values, tail = words[:at], words[at + 1 : end], words[end + 1 :]
    hl, vl, tl = lines[:at], lines[at + 1 : end], lines[end + 1 :]
    out: list[_Stmt] = []
    for v, ln in zip(values, vl, strict=True):
        out += _expand([*head, v, *tail], [*hl, ln, *tl], source)
    return out


def _brace_form(text: str, source: str) -> tuple[list[_Stmt], int]:
    out: list[_Stmt] = []
    skipped = 0
    # per open block: its words, their lines, whether it is inactive, statements emitted so far
    stack: list[tuple[list[str], list[int], bool, int]] = []
    words: list[str] = []
    lines: list[int] = []
    inactive = False
    line = 1
    in_list = False
    for m in _TOKEN.finditer(text):
        kind = m.lastgroup
        tok = m.group()
        if kind == "nl":
            line += 1
            continue
        if kind in ("ws", "h"):
            continue
        if kind == "c":
            if not tok.endswith("*/"):
                raise _error(source, line, "a /* comment is not closed with */")
            line += tok.count("\n")
            continue
        if kind in ("s", "w"):
            if not words and not in_list and tok in _ANNOTATIONS and kind == "w":
                inactive = inactive or tok == "inactive:"
                continue
            words.append(_unquote(tok) if kind == "s" else tok)
            lines.append(line)
            line += tok.count("\n")
            continue
        if tok == "[":
            in_list = True
            words.append("[")
            lines.append(line)
            continue
        if tok == "]":
            in_list = False
            words.append("]")
            lines.append(line)
            continue
        if in_list:
            raise _error(source, line, f"{tok!r} inside a '[ ]' list", "close the list with ']'")
        prefix_words = [w for s in stack for w in s[0]]
        prefix_lines = [n for s in stack for n in s[1]]
        dead = any(s[2] for s in stack)
        if tok == "{":
            if not words:
                raise _error(source, line, "'{' without a statement before it")
            stack.append((words, lines, inactive, len(out)))
        elif tok == ";":
            if words:
                if dead or inactive:
                    skipped += 1
                else:
                    out += _expand(prefix_words + words, prefix_lines + lines, source)
        else:  # "}"
            if words:
                raise _error(
                    source,
                    lines[0],
                    f"'{' '.join(words)[:60]}' is not ended with ';' before '}}'",
                    "end each statement with ';'",
                )
            if not stack:
                raise _error(source, line, "'}' without an open block", "a '{' is missing above")
            block, block_lines, block_inactive, emitted = stack.pop()
            # an empty block still names its element
            if not (block_inactive or dead) and len(out) == emitted:
                out += _expand(
                    [w for s in stack for w in s[0]] + block,
                    [n for s in stack for n in s[1]] + block_lines,
                    source,
                )
        words, lines, inactive = [], [], False
    if in_list:
        raise _error(source, line, "a '[' list is not closed with ']'")
    if words:
        raise _error(
            source,
            lines[0],
            f"'{' '.join(words)[:60]}' is not ended with ';'",
            "a brace-form configuration ends each statement with ';' or a '{ }' block",
        )
    if stack:
        raise _error(
            source,
            stack[-1][1][0],
            f"the block '{' '.join(stack[-1][0])[:60]}' is not closed",
            "a '}' is missing (is the file cut short?)",
        )
    return out, skipped


def _set_form(text: str, source: str) -> tuple[list[_Stmt], int]:
    stmts: list[_Stmt] = []
    off: dict[tuple[str, ...], bool] = {}
    for n, raw in enumerate(text.split("\n"), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        found = _SET_WORD.findall(line)
        words: list[str] = []
        for w in found:
            if w.startswith("#"):
                break  # ## SECRET-DATA and other trailing comments
            words.append(_unquote(w))
        command, path = words[0], words[1:]
        if command not in _COMMANDS:
            raise _error(
                source,
                n,
                f"{command!r} is not a configuration command (set, delete, deactivate,"
                " activate, insert)",
                "give the whole configuration in one form: `show configuration | display set`"
                " or `show configuration`",
            )
        if not path:
            raise _error(source, n, f"{command} without a configuration path")
        if command == "set":
            stmts += _expand(path, [n] * len(path), source)
        elif command in ("deactivate", "activate"):
            off[tuple(path)] = command == "deactivate"
        elif command == "delete":
            stmts = [s for s in stmts if s.words[: len(path)] != path]
        else:
            stmts = _insert(stmts, path, source, n)
    dead = [list(p) for p, on in off.items() if on]
    kept = [s for s in stmts if not any(s.words[: len(p)] == p for p in dead)]
    return kept, len(stmts) - len(kept)


def _insert(stmts: list[_Stmt], path: list[str], source: str, line: int) -> list[_Stmt]:
    """``insert PARENT KIND A before|after KIND B``: A's statements move next to B's."""
    where = next((k for k, w in enumerate(path) if w in ("before", "after")), None)
    if where is None or where < 2 or len(path) != where + 3 or path[where - 2] != path[where + 1]:
        raise _error(
            source,
            line,
            "cannot read the insert command",
            "write insert PATH KIND NAME before|after KIND NAME",
        )
    moving = path[:where]
    anchor = path[: where - 1] + [path[where + 2]]
    mine = [s for s in stmts if s.words[: len(moving)] == moving]
    rest = [s for s in stmts if s.words[: len(moving)] != moving]
    at = [k for k, s in enumerate(rest) if s.words[: len(anchor)] == anchor]
    if not mine or not at:
        missing = " ".join(moving if not mine else anchor)
        raise _error(source, line, f"insert: {missing} is not in the configuration")
    k = at[0] if path[where] == "before" else at[-1] + 1
    return rest[:k] + mine + rest[k:]
