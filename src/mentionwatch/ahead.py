"""Work on a mention done before it is asked for: a scan does it while it waits on the network, so the wait, not the
time after the last answer, pays for it (`pipeline.WorkAhead`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from mentionwatch.models import Mention

T = TypeVar("T")


class Ahead(Generic[T]):
    """What `work` gives for some mentions, worked out ahead: at most `limit` of them (each answer may hold a few
    KB). Found by the mention object and checked against what `work` reads of it (`reads`), so `take` always
    answers what `work` would: a mention not worked out ahead, or changed since, is worked out when asked for."""

    def __init__(self, work: Callable[[Mention], T], reads: Callable[[Mention], tuple[object, ...]], limit: int = 2000):
        self.limit = limit
        self._work = work
        self._reads = reads
        self._done: dict[int, tuple[tuple[object, ...], T]] = {}

    def __len__(self) -> int:
        return len(self._done)

    def add(self, mention: Mention) -> bool:
        """Work it out now; False (and nothing done) once `limit` are held."""
        if len(self._done) >= self.limit:
            return False
        self._done[id(mention)] = (self._reads(mention), self._work(mention))
        return True

    def take(self, mention: Mention) -> T:
        """The answer for `mention` (let go of here)."""
        found = self._done.pop(id(mention), None)
        if found is not None and found[0] == self._reads(mention):
            return found[1]
        return self._work(mention)

    def clear(self) -> None:
        self._done.clear()

    def stop(self) -> None:
        """Let go of everything, and work nothing out ahead from now on."""
        self.clear()
        self.limit = 0
