"""Keyed diffs of desired against observed collections, and the Report each realizer returns."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")
K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True)
class Changes(Generic[T]):
    add: tuple[T, ...] = ()
    remove: tuple[T, ...] = ()
    modify: tuple[tuple[T, T], ...] = ()  # (observed, desired)

    def __bool__(self) -> bool:
        return bool(self.add or self.remove or self.modify)


def keyed_diff(desired: Iterable[T], observed: Iterable[T], key: Callable[[T], K],
               same: Callable[[T, T], bool] = lambda a, b: a == b) -> Changes[T]:
    want = {key(item): item for item in desired}
    have = {key(item): item for item in observed}
    return Changes(
        add=tuple(item for k, item in want.items() if k not in have),
        remove=tuple(item for k, item in have.items() if k not in want),
        modify=tuple((have[k], item) for k, item in want.items() if k in have and not same(have[k], item)),
    )


@dataclass
class Report:
    """What one realizer pass changed on the host (empty when the host already matched)."""

    subsystem: str
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.changed)

    def summary(self) -> str:
        parts = [f"+{len(self.added)}", f"-{len(self.removed)}", f"~{len(self.changed)}"]
        if self.errors:
            parts.append(f"{len(self.errors)} errors")
        return f"{self.subsystem}: {' '.join(parts)}"
