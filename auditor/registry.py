"""One registry type for every family of plugins: readers, reports, rule platforms, feed parsers.

An entry is a kebab-case name and a lazy ``"module:Class"`` reference: the module is imported
the first time the class is asked for, so listing the names (``--help``, ``auditor formats``,
shell completion, catalog validation) imports nothing, and a run imports only the plugins it
uses. Adding a format is one new module plus one line in its family's table in auditor.plugins.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from typing import Generic, TypeVar, cast

from auditor.errors import UsageError

T = TypeVar("T")


class Registry(Generic[T]):
    """Named plugin classes of one family, with aliases; lookups ignore case unless told not to.

    ``names()`` and iteration are sorted (``listed()`` keeps the table's order); ``get``
    returns the class and ``create`` an instance; an unknown name is a :class:`UsageError`
    listing the choices. A name or alias given twice is refused, when the registry is built
    and on :meth:`add`.
    """

    def __init__(
        self,
        kind: str,
        entries: Mapping[str, str],
        aliases: Mapping[str, str] | None = None,
        *,
        ignore_case: bool = True,
    ) -> None:
        self.kind = kind
        """What one entry is, for messages: ``input format``, ``report``, ``rule platform``."""
        self.ignore_case = ignore_case
        """False where callers compare the name given with a registered one afterwards
        (``-o cidr`` decides what an incomplete run prints), so ``CIDR`` must not pass."""
        self._targets: dict[str, str | type[T]] = {}
        self._aliases: dict[str, str] = {}
        for name, target in entries.items():
            self.add(name, target)
        for alias, name in (aliases or {}).items():
            self.add_alias(alias, name)

    def add(self, name: str, target: str | type[T]) -> None:
        """Register ``name`` for a ``"module:Class"`` reference (or a class); duplicates are
        refused, in any case, and so is a name that is already an alias."""
        key = name.lower()
        if key != name:
            raise ValueError(f"{self.kind} name {name!r} is not lower case")
        if key in self._targets or key in self._aliases:
            raise ValueError(f"duplicate {self.kind} name {name!r}")
        if isinstance(target, str) and target.count(":") != 1:
            raise ValueError(f"{self.kind} {name!r}: {target!r} is not 'module:Class'")
        self._targets[key] = target

    def add_alias(self, alias: str, name: str) -> None:
        """Another name for a registered entry; it must not already be a name or an alias."""
        key = alias.lower()
        if key in self._targets or key in self._aliases:
            raise ValueError(f"duplicate {self.kind} name {alias!r}")
        if name not in self._targets:
            raise ValueError(f"{self.kind} alias {alias!r} names no entry ({name!r})")
        self._aliases[key] = name

    @property
    def aliases(self) -> dict[str, str]:
        """Alias to name, sorted by alias."""
        return dict(sorted(self._aliases.items()))

    def names(self) -> list[str]:
        """Every registered name (aliases not included), sorted; nothing is imported."""
        return sorted(self._targets)

    def listed(self) -> list[str]:
        """Every registered name in the order of the table (help lists them so, the default
        first); nothing is imported."""
        return list(self._targets)

    def key(self, name: str) -> str:
        """The registered name for a name (in any case, unless case matters) or an alias; an
        unknown name is returned as it would be looked up (no error: :meth:`get` refuses it)."""
        lowered = name.lower() if self.ignore_case else name
        return self._aliases.get(lowered, lowered)

    def get(self, name: str) -> type[T]:
        """The class for a name or an alias, in any case; imported on first use."""
        key = self.key(name)
        if key not in self._targets:
            raise UsageError(
                f"unknown {self.kind} {name!r}", hint="choose one of: " + ", ".join(self.names())
            )
        return self[key]

    def create(self, name: str) -> T:
        """An instance of the class for a name or an alias."""
        return self.get(name)()

    def __getitem__(self, name: str) -> type[T]:
        """The class registered under exactly ``name``; KeyError otherwise."""
        target = self._targets[name]
        if isinstance(target, str):
            target = self._targets[name] = self._load(name, target)
        return target

    def _load(self, name: str, target: str) -> type[T]:
        module_name, _, attr = target.partition(":")
        cls = cast("type[T]", getattr(importlib.import_module(module_name), attr))
        declared = getattr(cls, "name", name)
        if declared != name:
            raise RuntimeError(f"{self.kind} {name!r} points at {target}, named {declared!r}")
        return cls

    def __contains__(self, name: object) -> bool:
        return name in self._targets

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._targets)

    def items(self) -> Iterator[tuple[str, type[T]]]:
        """(name, class) for every entry, sorted by name; imports every entry."""
        return ((name, self[name]) for name in self.names())

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {self.names()!r})"
