"""An immutable mapping, for the open-ended parts of values that are frozen once made
(a step's arguments, what a call returned, the final states of a run)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any


class FrozenMap(Mapping[str, Any]):
    """A mapping that cannot change once made; equal to any mapping with the same items.

    It pickles (runs cross process boundaries in worker pools) and hashes when its values do.
    """

    __slots__ = ("_items",)

    def __init__(self, items: Mapping[str, Any] | None = None, **more: Any) -> None:
        object.__setattr__(self, "_items", {**(items or {}), **more})

    def __getitem__(self, key: str) -> Any:
        return self._items[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("a FrozenMap cannot change")

    def __hash__(self) -> int:
        return hash(tuple(self._items.items()))

    def __repr__(self) -> str:
        return f"FrozenMap({self._items!r})"

    def __reduce__(self) -> tuple[type, tuple[dict[str, Any]]]:
        return (FrozenMap, (dict(self._items),))

    def plain(self) -> dict[str, Any]:
        """A plain dict of the same items (for JSON)."""
        return dict(self._items)


def frozen(value: Any) -> Any:
    """A JSON-like value made immutable all the way down: mappings become FrozenMaps, lists
    tuples."""
    if isinstance(value, Mapping):
        return FrozenMap({key: frozen(item) for key, item in value.items()})
    if isinstance(value, list | tuple):
        return tuple(frozen(item) for item in value)
    return value


def spelled(value: Any) -> str:
    """A call's argument as its text shows it: a list of names joined as C ORs flags
    (`MSG_PEEK|MSG_DONTWAIT`), anything else as str() writes it."""
    if isinstance(value, list | tuple):
        return "|".join(str(item) for item in value) or "0"
    return str(value)
