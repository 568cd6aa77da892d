"""One registry per extension point: the only place anyone learns which Ψ, regularisers,
layer types, solvers, optimizers and task kinds exist.

A :class:`Registry` maps a spec name to the object that declares everything about itself (its
parameters, its facts, its export); nothing else keeps a list of names.  An extension registers
itself — ``REGULARISERS.register(Huber)`` — from any module, a test file included, and
:meth:`Registry.registered` does so for the length of a ``with`` block.
"""

from __future__ import annotations

import contextlib
import difflib
from collections.abc import Callable, Iterator, Mapping
from typing import Generic, TypeVar

__all__ = ["Registry"]

T = TypeVar("T")


class Registry(Mapping[str, T], Generic[T]):
    """Name → entry, in registration order; ``what`` names the concept in messages
    (``"regulariser"``); ``key`` reads an entry's name (default: its ``name`` attribute)."""

    def __init__(self, what: str, entries: tuple[T, ...] = (),
                 key: Callable[[T], str] = lambda entry: entry.name,  # type: ignore[attr-defined]
                 aliases: Callable[[T], tuple[str, ...]] = lambda entry: ()) -> None:
        self.what = what
        self._key = key
        self._aliases = aliases
        self._entries: dict[str, T] = {}
        for entry in entries:
            self.register(entry)

    def register(self, entry: T) -> T:
        """Add ``entry`` under its name and its aliases (``ValueError`` if one is taken);
        returns it, so that it serves as a class decorator."""
        names = (self._key(entry), *self._aliases(entry))
        for name in names:
            if not name or not name.isidentifier():
                raise ValueError(f"a {self.what} needs a name that is an identifier, got "
                                 f"{name!r}")
            if name in self._entries:
                raise ValueError(f"a {self.what} called `{name}` is registered already")
        for name in names:
            self._entries[name] = entry
        return entry

    def unregister(self, name: str) -> None:
        """Remove the entry called ``name``, with its aliases (``KeyError`` if there is
        none)."""
        entry = self._entries[name]
        for alias in (self._key(entry), *self._aliases(entry)):
            self._entries.pop(alias, None)

    @contextlib.contextmanager
    def registered(self, entry: T) -> Iterator[T]:
        """``entry`` registered for the length of the block, then removed again."""
        self.register(entry)
        try:
            yield entry
        finally:
            self.unregister(self._key(entry))

    def __setitem__(self, name: str, entry: T) -> None:
        """Put ``entry`` under ``name``, replacing what was there (a test's stand-in)."""
        if self._key(entry) != name:
            raise ValueError(f"the {self.what} `{self._key(entry)}` cannot stand under `{name}`")
        self._entries[name] = entry

    def __delitem__(self, name: str) -> None:
        self.unregister(name)

    def closest(self, name: str) -> str | None:
        """The registered name closest to ``name`` (for "did you mean"), or None."""
        match = difflib.get_close_matches(name, list(self._entries), n=1, cutoff=0.6)
        return match[0] if match else None

    def __getitem__(self, name: str) -> T:
        return self._entries[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"<Registry of {self.what}s: {', '.join(self._entries)}>"
