"""The values that travel on the feed."""

from __future__ import annotations

from dataclasses import dataclass, field

# What the feed carries, in the order a snapshot lists them.
KINDS = ("network", "subnet", "security_group", "security_group_rule", "port", "agent", "router", "floatingip")


@dataclass(frozen=True)
class Change:
    revision: int
    kind: str
    id: str
    body: dict | None  # None: the resource was deleted

    def as_dict(self) -> dict:
        return {"revision": self.revision, "kind": self.kind, "id": self.id, "body": self.body}

    @classmethod
    def from_dict(cls, data: dict) -> Change:
        return cls(data["revision"], data["kind"], data["id"], data.get("body"))


@dataclass
class Snapshot:
    """The API state at ``revision``: kind -> id -> body. A watcher applies changes to keep it current."""

    revision: int = 0
    resources: dict[str, dict[str, dict]] = field(default_factory=lambda: {kind: {} for kind in KINDS})

    def apply(self, change: Change) -> None:
        bucket = self.resources.setdefault(change.kind, {})
        if change.body is None:
            bucket.pop(change.id, None)
        else:
            bucket[change.id] = change.body
        self.revision = max(self.revision, change.revision)
