"""Sentiment shared with worker processes (`mentionwatch.workers`, issue #13): the same figures as one process
gives, the work really shared (by the scan's work ahead too), and a worker that dies costing only time."""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mentionwatch.config import BrandConfig
from mentionwatch.models import Mention
from mentionwatch.pipeline import Fetched, WorkAhead, process
from mentionwatch.sentiment import Sentiment, SentimentMemo, TextBlobScorer, VaderScorer, figures, sentiment_text
from mentionwatch.workers import MIN_TEXTS, HandOver, SentimentWorkers

# The 4,200 human-rated tweets shipped with vaderSentiment (benchmarks/data, see its SOURCES): real text, and
# more of it than a batch needs to be shared.
TWEETS = Path(__file__).parents[1] / "benchmarks" / "data" / "vader_tweets_GroundTruth.txt"
NOW = datetime(2026, 11, 1, tzinfo=UTC)
BRANDS = [BrandConfig(name="Acme", terms=["Acme"])]
SINCE = datetime(2026, 1, 1, tzinfo=UTC)


def tweets() -> list[str]:
    lines = TWEETS.read_text(encoding="utf-8").splitlines()
    return [parts[2] for parts in (line.rstrip("\r").split("\t", 2) for line in lines) if len(parts) == 3]


def items() -> list[Mention]:
    """Every tweet naming the brand, as a post: one mention each."""
    return [
        Mention(source="s", id=str(i), url=f"https://x.test/{i}", published_at=NOW, text=f"Acme {text}")
        for i, text in enumerate(tweets())
    ]


class Counting:
    """A scorer that counts the texts it scored itself (and, not being a built-in, is never shared)."""

    def __init__(self, scorer: VaderScorer | TextBlobScorer) -> None:
        self.name = scorer.name
        self._scorer = scorer
        self.calls = 0

    def score(self, text: str) -> Sentiment:
        self.calls += 1
        return self._scorer.score(text)


def started(workers: SentimentWorkers) -> SentimentWorkers:
    workers.start()
    deadline = time.monotonic() + 60
    while not workers.ready():
        assert time.monotonic() < deadline and not workers.broken, "the worker did not start"
        time.sleep(0.02)
    return workers


def test_there_are_enough_tweets_to_share() -> None:
    assert len(tweets()) >= MIN_TEXTS


@pytest.mark.parametrize("scorer", [VaderScorer, TextBlobScorer])
def test_shared_scoring_gives_the_same_figures_and_shares_the_work(scorer: type[VaderScorer | TextBlobScorer]) -> None:
    texts = tweets()
    mine = scorer()
    alone = [figures(mine.score(t)) for t in texts]
    counting = Counting(mine)
    with started(SentimentWorkers(mine.name, 1)) as workers:
        shared = workers.score(texts, counting)
    assert shared == alone  # the same floats, in order
    assert 0 < counting.calls < len(texts) and workers.scored == len(texts) - counting.calls


def test_a_small_batch_starts_no_process() -> None:
    texts = tweets()[: MIN_TEXTS - 1]
    scorer = VaderScorer()
    with SentimentWorkers("vader", 1) as workers:
        assert workers.score(texts, scorer) == [figures(scorer.score(t)) for t in texts]
        assert not workers.started


def test_only_the_built_in_scorers_are_shared() -> None:
    vader = VaderScorer()
    assert SentimentWorkers.for_scorer(Counting(vader), 1) is None  # a plugin's scorer may hold state
    assert SentimentWorkers.for_scorer(vader, 0) is None  # `scoring.workers: 0`
    found = SentimentWorkers.for_scorer(SentimentMemo().wrap(vader), 2)  # a scan's memo around the built-in
    assert found is not None and (found.scorer_name, found.workers) == ("vader", 2)
    default = SentimentWorkers.for_scorer(None, 1)
    assert default is not None and default.scorer_name == "vader"
    assert SentimentWorkers.for_name("someplugin", 1) is None


def test_a_worker_that_dies_costs_only_time() -> None:
    texts = tweets()
    scorer = VaderScorer()
    with started(SentimentWorkers("vader", 1)) as workers:
        for child in multiprocessing.active_children():
            os.kill(child.pid or 0, signal.SIGKILL)
        assert workers.score(texts, scorer) == [figures(scorer.score(t)) for t in texts]
        assert workers.broken
        # From then on everything is scored here, and nothing is started again.
        assert workers.score(texts, scorer) == [figures(scorer.score(t)) for t in texts]
        assert not workers.started


def test_the_pipeline_gives_the_same_mentions_with_workers_or_without() -> None:
    alone = process(items(), BRANDS, since=SINCE, workers=0)
    assert len(alone) > MIN_TEXTS
    assert [m.to_dict() for m in process(items(), BRANDS, since=SINCE, workers=1)] == [m.to_dict() for m in alone]
    # Workers already running take what has matched while the rest is matched, then share what is left.
    with started(SentimentWorkers("vader", 1)) as workers:
        shared = process(items(), BRANDS, since=SINCE, shared=workers)
    assert workers.scored > 0
    assert [m.to_dict() for m in shared] == [m.to_dict() for m in alone]


def test_what_no_worker_has_started_is_taken_back_at_once() -> None:
    """Settling cancels every chunk still queued before waiting for any (waiting first let a worker start the
    next chunk, and the next: the caller waited for them all)."""
    texts = tweets()
    memo = SentimentMemo()
    with started(SentimentWorkers("vader", 1)) as workers:
        hand = HandOver(workers, memo)
        assert hand.offer(texts) == len(texts)
        deadline = time.monotonic() + 60
        while not len(memo):  # the first chunk is scored: the worker is busy with the next ones
            assert time.monotonic() < deadline
            hand.collect()
            time.sleep(0.001)
        hand.settle()
        assert hand.held == 0
    assert 0 < len(memo) < len(set(texts)) / 2  # a few chunks scored, most of them taken back
    scorer = VaderScorer()
    assert all(figures(memo.wrap(scorer).score(t)) == figures(scorer.score(t)) for t in texts)


def test_the_work_ahead_hands_texts_to_the_workers() -> None:
    """What a scan scores while its sources are still reading goes to the workers too (a CPU-bound scan: a large
    file), and gives the same mentions."""
    posts = items()

    async def go(workers: SentimentWorkers) -> list[Mention]:
        fetched = Fetched()
        work = WorkAhead(BRANDS, since=SINCE, scorer_name="vader", shared=workers)
        task = asyncio.ensure_future(work.run(fetched))
        for i, item in enumerate(posts):
            fetched.mentions.append(item)
            fetched.arrived.set()
            if i % 100 == 0:
                await asyncio.sleep(0.005)
        await asyncio.sleep(0.2)
        task.cancel()
        work.settle()
        assert len(work.memo) == len({sentiment_text(m) for m in posts})  # every text scored ahead
        return process(fetched.mentions, BRANDS, since=SINCE, scorer=work.scorer(), matching=work.matching)

    with started(SentimentWorkers("vader", 1)) as workers:
        ahead = asyncio.run(go(workers))
    assert workers.scored > 0
    assert [m.to_dict() for m in ahead] == [m.to_dict() for m in process(items(), BRANDS, since=SINCE, workers=0)]


def test_a_scan_from_the_command_line_prints_the_same_with_workers_or_without(tmp_path: Path) -> None:
    """The real command, whose workers are spawned from its console script."""
    posts = tmp_path / "posts.jsonl"
    posts.write_text("".join(json.dumps(m.to_dict()) + "\n" for m in items()), encoding="utf-8")
    outputs = []
    for workers in (0, 1):
        config = tmp_path / f"mw{workers}.yaml"
        config.write_text(
            f"since: 2026-01-01\nscoring:\n  workers: {workers}\nbrands:\n  - name: Acme\n    terms: [Acme]\n"
            f"sources:\n  - type: jsonl\n    path: {posts}\n",
            encoding="utf-8",
        )
        done = subprocess.run(
            [sys.executable, "-m", "mentionwatch", "scan", "-c", str(config), "-f", "jsonl", "--no-store", "-v"],
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        rows = [json.loads(line) for line in done.stdout.splitlines()]
        outputs.append([{k: v for k, v in row.items() if k != "first_seen"} for row in rows])
    assert len(outputs[0]) > MIN_TEXTS and outputs[1] == outputs[0]


def test_a_killed_scan_leaves_no_worker_behind(tmp_path: Path) -> None:
    """SIGKILL (or the OOM killer) gives the scan no chance to end its workers: they end with it."""
    script = tmp_path / "holder.py"
    script.write_text(
        "import multiprocessing, sys, time\n"
        "from mentionwatch.workers import SentimentWorkers\n"
        "if __name__ == '__main__':\n"
        "    workers = SentimentWorkers('vader', 1)\n"
        "    workers.start()\n"
        "    while not workers.ready():\n"
        "        time.sleep(0.02)\n"
        "    print(*[p.pid for p in multiprocessing.active_children()], flush=True)\n"
        "    time.sleep(120)\n",
        encoding="utf-8",
    )
    # Its resource tracker, left behind too, reports the semaphores of a pool that was never shut down: not ours to
    # hear.
    holder = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert holder.stdout is not None
        pids = [int(pid) for pid in holder.stdout.readline().split()]
        assert pids
    finally:
        holder.kill()
        holder.wait()
    deadline = time.monotonic() + 30
    while any(_alive(pid) for pid in pids):
        assert time.monotonic() < deadline, "a worker outlived its killed scan"
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by init) is gone for this purpose.
    status = Path(f"/proc/{pid}/status")
    return not status.exists() or "zombie" not in status.read_text()
