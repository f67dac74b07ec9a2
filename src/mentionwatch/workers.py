"""Sentiment scored on the machine's other cores (issue #13: a scan's throughput with the store on).

Sentiment is the pipeline's largest cost: about 140 µs a mention with VADER and TextBlob's subjectivity, against
12 µs to match a post. It is the same function of each text wherever it runs, so a batch large enough to pay for
starting processes is shared with worker processes: the texts go in chunks, the workers take them from the front
while the caller scores from the back every chunk no worker has started (a queued chunk is cancelled and scored
here), until they meet. The caller never waits on a worker that is still starting, the figures are the same (the
same code on the same text), the order is kept, and a worker that fails or dies only means that its chunks are
scored here.

Only the built-in scorers are shared: a worker makes its own from the name (`vader`, `textblob`), which gives the
same figures as the caller's. A plugin's scorer may hold state a worker cannot have, and is always run in the
caller. Workers are spawned (a fresh interpreter, safe beside the scan's threads on every platform) and ignore
Ctrl-C: the scan handles it, and ends them.
"""

from __future__ import annotations

import concurrent.futures as cf
import logging
import os
import signal
import threading
from collections.abc import Callable, Sequence
from typing import Any

from mentionwatch.sentiment import (
    DEFAULT_SCORER,
    Figures,
    Sentiment,
    SentimentMemo,
    SentimentScorer,
    TextBlobScorer,
    VaderScorer,
    figures,
    unwrapped,
)

log = logging.getLogger(__name__)

# Below this many texts to score, a worker that is still starting (0.3-0.5 s to import and load its lexicons)
# could not take enough of them to pay for itself: the caller scores 4,000 texts in about 0.55 s.
MIN_TEXTS = 4000
# A scan starts its workers once it has matched this many mentions: started then, a worker is warm before
# sentiment is scored (the first slices of matching), and a scan that has this many mostly has a batch worth it.
START_AT = 1000
# Texts per chunk: about 35 ms of scoring, so that the caller and the workers meet within a few milliseconds.
CHUNK = 250
# Chunks given to each worker at a time: enough that it never waits for the caller (which looks in between two of
# its own chunks), few enough that at the end the caller waits for at most about this many.
IN_FLIGHT = 3
# At most this many workers by default: sentiment is one stage of several, and each worker costs 60-80 MB.
MAX_AUTO_WORKERS = 4

_BUILT_IN: dict[str, type[VaderScorer] | type[TextBlobScorer]] = {"vader": VaderScorer, "textblob": TextBlobScorer}

# The scorer of a worker process, made by `_start`.
_worker_scorer: SentimentScorer | None = None


def available_cores() -> int:
    """The cores this process may run on (its affinity, where the platform says; else all of them)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def auto_workers() -> int:
    """The default number of workers: one per core beside the caller's, at most MAX_AUTO_WORKERS."""
    return max(0, min(available_cores() - 1, MAX_AUTO_WORKERS))


def _start(name: str) -> None:
    global _worker_scorer
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the scan's to handle; it ends the workers
    # A worker waiting for work never notices a scan that was killed (SIGKILL, the OOM killer): its queue stays
    # open in the worker itself. It watches the scan's process instead, and ends with it.
    threading.Thread(target=_end_with_parent, name="parent-watch", daemon=True).start()
    _worker_scorer = _BUILT_IN[name]()


def _end_with_parent() -> None:
    import multiprocessing.connection

    parent = multiprocessing.parent_process()
    if parent is not None:
        multiprocessing.connection.wait([parent.sentinel])
        os._exit(0)


def _score_chunk(texts: list[str]) -> list[Figures]:
    assert _worker_scorer is not None
    return [figures(_worker_scorer.score(text)) for text in texts]


class SentimentWorkers:
    """Worker processes that score sentiment beside the caller, started on first use and kept until `close`."""

    def __init__(self, scorer_name: str, workers: int) -> None:
        self.scorer_name = scorer_name
        self.workers = workers
        self._pool: cf.ProcessPoolExecutor | None = None
        self._ready: cf.Future[Any] | None = None
        self.broken = False
        self.scored = 0  # texts the workers scored

    @classmethod
    def for_scorer(cls, scorer: SentimentScorer | None, workers: int | None = None) -> SentimentWorkers | None:
        """Workers for `scorer` (None: the default scorer), or None when it cannot be shared (not a built-in) or
        there are to be none. `workers`: how many (None: `auto_workers()`; 0: none)."""
        if scorer is None:
            return cls.for_name(DEFAULT_SCORER, workers)
        inner = unwrapped(scorer)
        if type(inner) is not _BUILT_IN.get(getattr(inner, "name", "")):
            return None
        return cls.for_name(inner.name, workers)

    @classmethod
    def for_name(cls, scorer_name: str, workers: int | None = None) -> SentimentWorkers | None:
        """Workers for the built-in scorer of that name (None: not a built-in, or none to start)."""
        count = auto_workers() if workers is None else workers
        return cls(scorer_name, count) if count > 0 and scorer_name in _BUILT_IN else None

    @property
    def started(self) -> bool:
        """Worker processes are running (or starting)."""
        return self._pool is not None

    def ready(self) -> bool:
        """A worker has started (loaded its scorer): chunks handed over now are scored at once."""
        return not self.broken and self._ready is not None and self._ready.done() and not self._ready.exception()

    def submit(self, texts: list[str]) -> cf.Future[Any] | None:
        """Hand one chunk to the workers (None: they are not there to take it); `figures` reads its answer."""
        if self.broken or self._pool is None:
            return None
        try:
            return self._pool.submit(_score_chunk, texts)
        except Exception as exc:  # a pool broken since it started
            self._give_up(exc)
            return None

    def figures(self, future: cf.Future[Any]) -> list[Figures] | None:
        """What a chunk handed over came to (waiting for it), or None when its worker failed."""
        try:
            found: list[Figures] = future.result()
        except Exception as exc:  # a worker that failed or died: the caller scores the chunk itself
            self._give_up(exc)
            return None
        self.scored += len(found)
        return found

    def start(self) -> None:
        """Start the workers now (they are otherwise started by the first batch worth sharing)."""
        if self._pool is None and not self.broken:
            try:
                self._started()
            except Exception as exc:  # no process to start here (a sandbox without /dev/shm)
                self._give_up(exc)

    def score(self, texts: Sequence[str], scorer: SentimentScorer) -> list[Figures]:
        """The figures of `scorer.score(text)` for every text, in order: shared with the workers when they are worth
        starting."""

        def score(text: str) -> Figures:
            return figures(scorer.score(text))

        # A batch pays for starting a worker from MIN_TEXTS on; a worker already there is worth two chunks.
        if self.broken or len(texts) < (2 * CHUNK if self.ready() else MIN_TEXTS):
            return [score(text) for text in texts]
        chunks = [list(texts[i : i + CHUNK]) for i in range(0, len(texts), CHUNK)]
        found: list[list[Figures] | None] = [None] * len(chunks)
        try:
            pool, ready = self._started()
        except Exception as exc:  # no process to start here (a sandbox without /dev/shm): score here
            self._give_up(exc)
            return [score(text) for text in texts]
        # The workers take chunks from the front, a few at a time and only once one has started (so that the
        # caller never waits for a start); the caller scores from the back. They meet in the middle.
        given: dict[int, cf.Future[Any]] = {}
        front, back = 0, len(chunks)
        while front < back:
            if ready.done() and not self.broken:
                try:
                    ready.result()  # a worker that could not start raises here
                    while front < back and sum(not f.done() for f in given.values()) < IN_FLIGHT * self.workers:
                        given[front] = pool.submit(_score_chunk, chunks[front])
                        front += 1
                except Exception as exc:  # no worker to share with: the rest is scored here
                    self._give_up(exc)
            if front < back:
                back -= 1
                found[back] = [score(text) for text in chunks[back]]
        # What no worker has started yet is taken back (all of it before any is scored: meanwhile a worker would
        # start the next) and scored here rather than waited for.
        for i in [i for i in sorted(given, reverse=True) if given[i].cancel()]:
            found[i] = [score(text) for text in chunks[i]]
        for i, future in given.items():
            if found[i] is None:
                found[i] = self._result(future, chunks[i], score)
        return [s for chunk in found for s in chunk or ()]

    def _result(self, future: cf.Future[Any], chunk: list[str], score: Callable[[str], Figures]) -> list[Figures]:
        found = self.figures(future)
        return found if found is not None else [score(text) for text in chunk]

    def _started(self) -> tuple[cf.ProcessPoolExecutor, cf.Future[Any]]:
        """The pool, and a call that is done once a worker has started (loaded its scorer)."""
        if self._pool is None or self._ready is None:
            import multiprocessing  # here: a scan that never shares a batch does not import it (5 ms)

            self._pool = cf.ProcessPoolExecutor(
                self.workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_start,
                initargs=(self.scorer_name,),
            )
            self._ready = self._pool.submit(_score_chunk, [])
        return self._pool, self._ready

    def _give_up(self, exc: BaseException) -> None:
        if not self.broken:
            log.warning("sentiment is scored in this process only: its worker processes failed (%s)", exc)
        self.broken = True
        self.close()

    def close(self) -> None:
        """End the workers (without waiting for them: they have nothing left to do)."""
        if self._pool is not None:
            log.debug("sentiment: %d texts scored by %d worker process(es)", self.scored, self.workers)
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = self._ready = None

    def __enter__(self) -> SentimentWorkers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class HandOver:
    """Texts handed to the workers before they are needed (while the caller matches, or waits on the network),
    their sentiment put in `memo` as it comes back."""

    def __init__(self, shared: SentimentWorkers, memo: SentimentMemo) -> None:
        self.shared = shared
        self.memo = memo
        self._handed: list[tuple[list[str], cf.Future[Any]]] = []

    @property
    def held(self) -> int:
        """Texts with the workers whose sentiment is not yet in the memo."""
        return sum(len(texts) for texts, _ in self._handed)

    def offer(self, texts: Sequence[str]) -> int:
        """Hand these texts over, in chunks, if a worker is ready; returns how many were."""
        if not self.shared.ready():
            return 0
        for start in range(0, len(texts), CHUNK):
            chunk = list(texts[start : start + CHUNK])
            future = self.shared.submit(chunk)
            if future is None:
                return start
            self._handed.append((chunk, future))
        return len(texts)

    def collect(self) -> None:
        """Put what the workers have answered so far in the memo, without waiting."""
        if self._handed and self._handed[0][1].done():
            self.settle(wait=False)

    def settle(self, *, wait: bool = True) -> None:
        """Put the workers' answers in the memo (`wait`: all of them, waiting for those being scored; a chunk no
        worker has started is taken back, and left to the caller)."""
        if wait:
            # Taken back first, all at once: while the caller waits for one chunk, a worker starts the next.
            for _, future in reversed(self._handed):
                future.cancel()
        still: list[tuple[list[str], cf.Future[Any]]] = []
        for texts, future in self._handed:
            if future.cancelled():
                continue
            if not wait and not future.done():
                still.append((texts, future))
                continue
            found = self.shared.figures(future)
            if found is not None:
                self.memo.add(texts, (Sentiment(p, s) for p, s in found))
        self._handed = still
