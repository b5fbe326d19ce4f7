"""A plain dict from name to builder, used only where a setting string becomes a model."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    """Name → builder. Registering a name twice and asking for an unknown name both raise."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._builders: dict[str, Callable[[], T]] = {}

    def register(self, name: str) -> Callable[[Callable[[], T]], Callable[[], T]]:
        def add(builder: Callable[[], T]) -> Callable[[], T]:
            if name in self._builders:
                raise ValueError(f"{self.kind} {name!r} is already registered")
            self._builders[name] = builder
            return builder

        return add

    def build(self, name: str) -> T:
        try:
            builder = self._builders[name]
        except KeyError:
            known = ", ".join(sorted(self._builders))
            raise KeyError(f"unknown {self.kind} {name!r}; known: {known}") from None
        return builder()

    def __contains__(self, name: object) -> bool:
        return name in self._builders

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._builders))

    def names(self) -> list[str]:
        return sorted(self._builders)
