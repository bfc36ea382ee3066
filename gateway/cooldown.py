"""Targets that keep failing are left alone for a while."""

from __future__ import annotations

import time
from collections.abc import Callable

# Raw `provider/model` targets come from callers, so the table is bounded.
_MAX_ENTRIES = 1024


class Cooldowns:
    def __init__(
        self, failures: int, seconds: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._threshold = failures
        self._seconds = seconds
        self._clock = clock
        self._failures: dict[str, int] = {}
        self._until: dict[str, float] = {}

    def until(self, target: str) -> float | None:
        """The clock time the target's cooldown ends, or None when it is not cooling down."""
        until = self._until.get(target)
        if until is None:
            return None
        if until <= self._clock():
            del self._until[target]
            return None
        return until

    def failed(self, target: str) -> bool:
        """Count a failed turn; True when this failure starts a cooldown."""
        count = self._failures.pop(target, 0) + 1
        if len(self._failures) >= _MAX_ENTRIES:
            # Dicts keep insertion order, and each failure re-inserts its target, so the
            # first entry is the one that failed least recently.
            del self._failures[next(iter(self._failures))]
        if count >= self._threshold:
            if len(self._until) >= _MAX_ENTRIES:
                del self._until[next(iter(self._until))]
            self._until[target] = self._clock() + self._seconds
            return True
        self._failures[target] = count
        return False

    def succeeded(self, target: str) -> None:
        if self._failures:
            self._failures.pop(target, None)
