"""A feed that answers 304 costs no parsing, matching or sentiment: what it gave (its mentions, matched and scored)
is kept, keyed by its validator and by what it depends on (the brands, the scorer, `since`), and a second scan
prints exactly what the first printed."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from mentionwatch.cache import HttpCache
from mentionwatch.matching import BrandMatcher
from mentionwatch.sentiment import TextBlobScorer, VaderScorer
from mentionwatch.sources import rss

from conftest import LoopbackServer, Reply, Request, Run, fixture_path

ALERTS = fixture_path("rss", "google_alerts_atom_feedjira.xml").read_bytes()  # 20 entries, "Slack", July 2019
GNEWS = fixture_path("rss", "google_news_rss_topstories_fr_BE_2020_prof18.xml").read_bytes()  # "Belgique", 2020
ATOM = {"content-type": "application/atom+xml"}
RSS = {"content-type": "application/rss+xml"}
LAST_MODIFIED = "Sun, 08 Mar 2020 10:40:00 GMT"


class Feeds:
    """Two real feeds with validators: one with an ETag, one with only a Last-Modified (each answers 304 when
    asked with its own), and a `version` of the first that the test can change."""

    def __init__(self, server: LoopbackServer) -> None:
        self.server = server
        self.alerts = ALERTS
        self.version = "v1"
        server.route("/alerts.xml", self._alerts)
        server.route("/news.xml", self._news)

    def _alerts(self, req: Request) -> Reply:
        etag = f'"{self.version}"'
        if req.headers.get("if-none-match") == etag:
            return Reply(304, b"", {"ETag": etag})
        return Reply(200, self.alerts, {**ATOM, "ETag": etag})

    def _news(self, req: Request) -> Reply:
        if req.headers.get("if-modified-since") == LAST_MODIFIED:
            return Reply(304, b"")
        return Reply(200, GNEWS, {**RSS, "Last-Modified": LAST_MODIFIED})

    def statuses(self) -> list[str]:
        return [r.headers.get("if-none-match") or r.headers.get("if-modified-since") or "" for r in self.server.requests]


@pytest.fixture
def feeds(server: LoopbackServer) -> Feeds:
    return Feeds(server)


class Work:
    """How often feeds were parsed, items matched, texts scored and a scorer loaded: counted around the real
    functions."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: Counter[str] = Counter()
        self._count(monkeypatch, rss, "parse_feed", "parsed")
        self._count(monkeypatch, BrandMatcher, "match_haystack", "matched")
        self._count(monkeypatch, VaderScorer, "score", "scored")
        self._count(monkeypatch, TextBlobScorer, "score", "scored")
        self._count(monkeypatch, VaderScorer, "__init__", "scorer loaded")
        self._count(monkeypatch, TextBlobScorer, "__init__", "scorer loaded")

    def _count(self, monkeypatch: pytest.MonkeyPatch, owner: Any, name: str, what: str) -> None:
        real = getattr(owner, name)

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls[what] += 1
            return real(*args, **kwargs)

        monkeypatch.setattr(owner, name, counted)

    def done(self) -> Counter[str]:
        """What was done since the last call."""
        calls, self.calls = self.calls, Counter()
        return calls


@pytest.fixture
def work(monkeypatch: pytest.MonkeyPatch) -> Work:
    return Work(monkeypatch)


def write_config(
    path: Path, server: LoopbackServer, brands: str, *, since: str = "2017-01-01", scorer: str = "vader"
) -> Path:
    path.write_text(
        f"since: {since}\nbrands:\n{brands}\nscoring:\n  sentiment: {scorer}\n"
        f"sources:\n  - type: rss\n    urls: [{server.url}/alerts.xml, {server.url}/news.xml]\n"
    )
    return path


SLACK = "  - name: Slack\n    terms: [Slack]\n"
BOTH = SLACK + "  - name: Belgium\n    terms: [Belgique]\n"


def scan(cli: Callable[..., Run], cfg: Path, *args: str) -> Run:
    run = cli("scan", "-c", str(cfg), "-f", "json", *args)
    assert run.code == 0, run.stderr
    return run


def test_a_second_scan_of_unchanged_feeds_prints_exactly_the_first_and_parses_matches_scores_nothing(
    tmp_path: Path, feeds: Feeds, work: Work, cli: Callable[..., Run]
) -> None:
    cfg = write_config(tmp_path / "c.yaml", feeds.server, BOTH)
    health = tmp_path / "health.json"
    first = scan(cli, cfg)
    assert work.done() == {"parsed": 2, "matched": 2 * 21, "scored": 21, "scorer loaded": 2}  # vader: TextBlob's too
    second = scan(cli, cfg, "--health", str(health))
    assert second.stdout == first.stdout
    assert len(json.loads(first.stdout)) == 21
    assert work.done() == {}, "an unchanged feed is neither parsed, matched nor scored, and no scorer is loaded"
    assert sorted(feeds.statuses()) == sorted(["", "", '"v1"', LAST_MODIFIED])
    [source] = json.loads(health.read_text())["sources"]
    assert (source["state"], source["items"], source["mentions"]) == ("not modified", 21, 21)


def test_new_finds_nothing_new_in_unchanged_feeds(tmp_path: Path, feeds: Feeds, work: Work, cli: Callable[..., Run]) -> None:
    cfg = write_config(tmp_path / "c.yaml", feeds.server, BOTH)
    assert len(json.loads(scan(cli, cfg, "--new").stdout)) == 21
    assert scan(cli, cfg, "--new").stdout == "", "nothing new: nothing on stdout, not even `[]`"
    assert work.done()["parsed"] == 2  # the first scan's


def test_the_cron_recipe_seed_then_new_since_last_reuses_and_finds_nothing_new(
    tmp_path: Path, feeds: Feeds, work: Work, cli: Callable[..., Run]
) -> None:
    """`--since last` reads a feed over the configured `since` (read whole, it saves no request from its watermark;
    the store says what is new): the seed's window, so what the feeds gave is taken as it was; the watermarks it
    moves are the ones a fresh read would move."""
    cfg = write_config(tmp_path / "c.yaml", feeds.server, BOTH, since="2019-01-01")
    assert scan(cli, cfg, "--seed").stdout == ""
    work.done()
    for _ in range(2):
        assert scan(cli, cfg, "--new", "--since", "last").stdout == ""
        assert work.done() == {}
    stats = json.loads(cli("stats", "-c", str(cfg), "--json").stdout)
    assert stats["mentions"] == 21 and stats["sources"][0]["last_state"] == "not modified"


def test_changed_brands_read_the_unchanged_feeds_again_and_print_what_a_fresh_scan_prints(
    tmp_path: Path, feeds: Feeds, work: Work, cli: Callable[..., Run]
) -> None:
    cfg = write_config(tmp_path / "c.yaml", feeds.server, SLACK)
    assert len(json.loads(scan(cli, cfg).stdout)) == 20
    changes = [
        BOTH,  # a brand more
        SLACK.replace("[Slack]", "[Slack]\n    exclude: [NASDAQ]"),  # an exclusion
        SLACK.replace("terms: [Slack]", "query: 'Slack NEAR/3 shares'"),  # a query instead of terms
        SLACK.replace("[Slack]", "[slack]\n    case_sensitive: true"),  # case: matches no "Slack"
    ]
    for brands in changes:
        write_config(cfg, feeds.server, brands)
        work.done()
        again = scan(cli, cfg)
        assert work.done()["parsed"] == 2, "the bodies kept with their validators are parsed and matched again"
        assert again.stdout == scan(cli, cfg, "--no-cache").stdout
    assert len(json.loads(scan(cli, cfg).stdout)) < 20  # the last: only the entries that say `slack` in lower case


def test_another_scorer_scores_the_unchanged_feeds_again(
    tmp_path: Path, feeds: Feeds, work: Work, cli: Callable[..., Run]
) -> None:
    cfg = write_config(tmp_path / "c.yaml", feeds.server, BOTH)
    vader = scan(cli, cfg)
    write_config(cfg, feeds.server, BOTH, scorer="textblob")
    work.done()
    textblob = scan(cli, cfg)
    assert work.done()["scored"] == 21
    assert textblob.stdout != vader.stdout
    assert textblob.stdout == scan(cli, cfg, "--no-cache").stdout
    work.done()
    assert scan(cli, cfg).stdout == textblob.stdout and work.done() == {}


def test_a_later_since_takes_what_was_kept_and_an_earlier_one_reads_the_feeds_again(
    tmp_path: Path, feeds: Feeds, work: Work, cli: Callable[..., Run]
) -> None:
    """Entries older than a scan's `since` are left out, unmatched: a scan that reaches further back must match
    them, and one that reaches less far leaves out the same and more."""
    cfg = write_config(tmp_path / "c.yaml", feeds.server, BOTH, since="2019-07-10T11:00Z")
    narrow = json.loads(scan(cli, cfg).stdout)
    assert 0 < len(narrow) < 20
    work.done()
    write_config(cfg, feeds.server, BOTH, since="2017-01-01")
    wide = scan(cli, cfg)
    assert len(json.loads(wide.stdout)) == 21 and work.done()["scored"] > 0
    assert wide.stdout == scan(cli, cfg, "--no-cache").stdout
    write_config(cfg, feeds.server, BOTH, since="2019-07-10T11:30Z")
    work.done()
    narrower = scan(cli, cfg)
    assert work.done() == {}
    assert narrower.stdout == scan(cli, cfg, "--no-cache").stdout
    assert 0 < len(json.loads(narrower.stdout)) < len(narrow)


def test_a_feed_that_changed_is_read_again_and_the_unchanged_one_is_not(
    tmp_path: Path, feeds: Feeds, work: Work, cli: Callable[..., Run]
) -> None:
    cfg = write_config(tmp_path / "c.yaml", feeds.server, BOTH)
    scan(cli, cfg)
    # A new version of the alerts feed: the second entry gone, the first one's title changed.
    start = ALERTS.index(b"<entry>", ALERTS.index(b"<entry>") + 1)
    end = ALERTS.index(b"<entry>", start + 1)
    title = b"Automotive &lt;b&gt;Slack&lt;/b&gt; Market by"
    feeds.alerts = (ALERTS[:start] + ALERTS[end:]).replace(title, title.replace(b"Market", b"Markets"))
    feeds.version = "v2"
    work.done()
    changed = json.loads(scan(cli, cfg).stdout)
    assert work.done()["parsed"] == 1
    assert len(changed) == 20 and any("Slack Markets" in m["title"] for m in changed)
    assert "Slack Market by" not in json.dumps(changed)
    assert scan(cli, cfg).stdout == scan(cli, cfg, "--no-cache").stdout


def test_what_was_kept_but_cannot_be_read_is_made_again(
    tmp_path: Path, feeds: Feeds, work: Work, cli: Callable[..., Run]
) -> None:
    cfg = write_config(tmp_path / "c.yaml", feeds.server, BOTH)
    first = scan(cli, cfg)
    cache = next((tmp_path / "cache").rglob("http.sqlite3"))
    with sqlite3.connect(cache) as db:
        db.execute("UPDATE given SET data = x'00ff'")
    work.done()
    assert scan(cli, cfg).stdout == first.stdout
    assert work.done()["parsed"] == 2  # the bodies kept with the validators


def test_a_reused_feed_counts_its_skipped_and_older_entries_as_before(
    tmp_path: Path, feeds: Feeds, work: Work, cli: Callable[..., Run]
) -> None:
    # The first entry dated in year 0, which no calendar holds: it is skipped, the rest of the feed is read.
    dates = b"<published>2019-07-10T11:53:37Z</published> <updated>2019-07-10T11:53:37Z</updated>"
    feeds.alerts = ALERTS.replace(dates, dates.replace(b"2019-07-10", b"0000-07-10"), 1)
    cfg = write_config(tmp_path / "c.yaml", feeds.server, BOTH, since="2019-07-10T11:00Z")
    health = tmp_path / "h.json"
    scan(cli, cfg, "--health", str(health))
    before = json.loads(health.read_text())["sources"][0]
    assert before["skipped"] == 1 and before["older"] > 0
    work.done()
    scan(cli, cfg, "--health", str(health))
    after = json.loads(health.read_text())["sources"][0]
    assert work.done() == {}
    assert {k: after[k] for k in ("items", "mentions", "skipped", "older")} == {
        k: before[k] for k in ("items", "mentions", "skipped", "older")
    }


def undated(document: bytes) -> Iterator[bytes]:
    yield document.replace(b"<published>", b"<!--").replace(b"</published>", b"-->").replace(
        b"<updated>", b"<!--"
    ).replace(b"</updated>", b"-->")


def test_undated_entries_keep_the_time_they_were_first_seen(
    tmp_path: Path, feeds: Feeds, work: Work, cli: Callable[..., Run]
) -> None:
    # The same entries with their dates taken out: each is dated when first seen, and stays so.
    feeds.alerts = next(undated(ALERTS))
    cfg = write_config(tmp_path / "c.yaml", feeds.server, SLACK)
    first = json.loads(scan(cli, cfg).stdout)
    assert len(first) == 20 and all(m["undated"] for m in first)
    work.done()
    second = json.loads(scan(cli, cfg).stdout)
    assert work.done() == {}
    assert second == first


def test_another_release_parses_unchanged_feeds_anew(
    tmp_path: Path, feeds: Feeds, work: Work, cli: Callable[..., Run], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An upgrade may read the same bytes differently: what a feed gave is not taken, the kept body is parsed."""
    cfg = write_config(tmp_path / "c.yaml", feeds.server, BOTH)
    first = scan(cli, cfg)
    monkeypatch.setattr("mentionwatch.pipeline.__version__", "99.0")
    work.done()
    assert scan(cli, cfg).stdout == first.stdout
    assert work.done()["parsed"] == 2


def test_what_unchanged_feeds_gave_is_read_while_their_answers_are_on_the_way(
    tmp_path: Path, feeds: Feeds, work: Work, cli: Callable[..., Run], monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = write_config(tmp_path / "c.yaml", feeds.server, BOTH)
    first = scan(cli, cfg)
    # Slow answers, as over a real network: the scan has time to read ahead what the feeds gave.
    for path, answer in (("/alerts.xml", feeds._alerts), ("/news.xml", feeds._news)):
        feeds.server.route(path, lambda req, answer=answer: dataclasses.replace(answer(req), stall=0.8))
    reads: Counter[str] = Counter()
    for name, what in (("given_for", "read ahead"), ("get_given", "read at its answer")):
        real = getattr(HttpCache, name)

        def counted(self: HttpCache, *args: Any, real: Any = real, what: str = what) -> Any:
            reads[what] += 1
            return real(self, *args)

        monkeypatch.setattr(HttpCache, name, counted)
    work.done()
    assert scan(cli, cfg).stdout == first.stdout
    assert work.done() == {}
    assert reads == {"read ahead": 2}, "both 304s found what their documents gave already read"
    # A document read ahead that then comes back changed is parsed, not taken from what was read.
    start = ALERTS.index(b"<entry>", ALERTS.index(b"<entry>") + 1)
    feeds.alerts = ALERTS[:start] + ALERTS[ALERTS.index(b"<entry>", start + 1) :]
    feeds.version = "v2"
    reads.clear()
    changed = json.loads(scan(cli, cfg).stdout)
    assert reads["read ahead"] == 2 and work.done()["parsed"] == 1
    assert len(changed) == 20
