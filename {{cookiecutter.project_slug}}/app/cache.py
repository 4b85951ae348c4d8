"""A bounded per-process cache of verified credentials."""

from __future__ import annotations

from typing import Generic, TypeVar

V = TypeVar("V")


class VerifiedCache(Generic[V]):
    """Values by the credential that proved them, at most ``size`` of them.

    A signed cookie or token never changes, so checking its signature again
    proves nothing new: the verified value is kept. When full, the cache
    starts again empty rather than evicting one entry at a time; a flood of
    distinct credentials costs one re-verification each, never memory.
    """

    __slots__ = ("_items", "_size")

    def __init__(self, size: int) -> None:
        self._items: dict[str, V] = {}
        self._size = size

    def get(self, key: str) -> V | None:
        """Return the value verified for ``key``, if it is still kept."""
        return self._items.get(key)

    def put(self, key: str, value: V) -> None:
        """Keep ``value`` for ``key``."""
        if len(self._items) >= self._size:
            self._items.clear()
        self._items[key] = value

    def discard(self, key: str) -> None:
        """Forget ``key`` (a value that is no longer good)."""
        self._items.pop(key, None)

    def __len__(self) -> int:
        return len(self._items)
