"""`mentionwatch report` (issue #14): each section's figures on a fixed store (tests/report_store.py), worked out
by hand; the spike rule on constructed series; terms; the four formats (JSON contract, Markdown and table
snapshots, untrusted text); and the command itself. The HTML is checked in a real browser in
tests/test_report_browser.py."""

from __future__ import annotations

import io
import json
import math
import os
import re
import threading
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

import report_store
from mentionwatch.report import BrandSpec, Report, Window, collect, figures, write
from mentionwatch.report.spikes import DAILY, find_spikes
from mentionwatch.report.terms import compare
from mentionwatch.store import Query, Tally
from mentionwatch.store.sqlite import SqliteStore
from mentionwatch.vocabulary import own_words, terms_of
from report_store import SCANNED, SINCE, UNTIL

from conftest import LoopbackServer, Reply, Run, fixture_path

SNAPSHOTS = Path(__file__).parent / "snapshots"
HN = fixture_path("hackernews", "search_by_date_query_nodejs_2017.json").read_bytes()
BRANDS = [BrandSpec("Acme", False, ("Acme", "@acme", "#acme", "acme.io")), BrandSpec("Rival", True, ("Rival",))]


@pytest.fixture(scope="module")
def store_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return report_store.build(tmp_path_factory.mktemp("report") / "store.sqlite3")


@pytest.fixture(scope="module")
def report(store_path: Path) -> Report:
    store = SqliteStore.open(store_path)
    try:
        return collect(store, BRANDS, Window.of(SINCE, UNTIL), now=SCANNED)
    finally:
        store.close()


def rendered(report: Report, fmt: str, width: int = 80) -> str:
    out = io.StringIO()
    write(report, fmt, out, width=width)
    return out.getvalue()


class ThreadedReads:
    """The report store read as PostgreSQL's is (`concurrent_reads`): from several threads at once, each on a
    connection of its own."""

    concurrent_reads = True

    def __init__(self, path: Path, failing: str = "") -> None:
        self.path, self.failing = path, failing
        self.local = threading.local()
        self.threads: set[str] = set()
        self.opened: list[SqliteStore] = []

    def __getattr__(self, name: str) -> Any:
        if name == self.failing:
            raise RuntimeError(f"{name} failed")
        if not hasattr(self.local, "store"):
            self.local.store = SqliteStore.open(self.path)
            self.opened.append(self.local.store)
        self.threads.add(threading.current_thread().name)
        return getattr(self.local.store, name)


def test_a_store_read_from_several_threads_gives_the_same_report(store_path: Path, report: Report) -> None:
    store = ThreadedReads(store_path)
    try:
        threaded = collect(store, BRANDS, Window.of(SINCE, UNTIL), now=SCANNED)  # type: ignore[arg-type]
    finally:
        for each in store.opened:
            each.close()
    assert len(store.threads) > 1  # the tallies and the brands' short readings were read beside the terms
    assert rendered(threaded, "json") == rendered(report, "json")


@pytest.mark.parametrize("failing", ["tallies", "response_stats", "said"])
def test_a_reading_that_fails_in_another_thread_fails_the_report(store_path: Path, failing: str) -> None:
    store = ThreadedReads(store_path, failing)
    try:
        with pytest.raises(RuntimeError, match=f"{failing} failed"):
            collect(store, BRANDS, Window.of(SINCE, UNTIL), now=SCANNED)  # type: ignore[arg-type]
    finally:
        for each in store.opened:
            each.close()


# -- the window


def test_a_window_of_three_days_or_more_is_counted_per_day_from_midnight() -> None:
    window = Window.of(datetime(2026, 11, 21, 15, 30, tzinfo=UTC), UNTIL)
    assert (window.since, window.bucket) == (SINCE, "day")
    assert window.periods()[0] == "2026-11-21" and window.periods()[-1] == "2026-11-30"
    assert window.previous == (datetime(2026, 11, 11, tzinfo=UTC), SINCE)


def test_a_shorter_window_is_counted_per_hour_from_the_top_of_the_hour() -> None:
    window = Window.of(datetime(2026, 11, 25, 0, 40, tzinfo=UTC), datetime(2026, 11, 26, tzinfo=UTC))
    assert window.bucket == "hour"
    assert window.periods()[:2] == ["2026-11-25T00:00:00Z", "2026-11-25T01:00:00Z"]
    assert len(window.periods()) == 24


# -- the sections, on the fixed store


def test_volume_per_day_and_the_change_against_the_previous_period(report: Report) -> None:
    acme, rival = report.brand("Acme").volume, report.brand("Rival").volume
    # Two a day, twelve on 2026-11-25 (eight posts about an outage, the HN one, three others; the coupon spam
    # that day is marked ignored and not counted).
    assert [p.mentions for p in acme.series] == [2, 2, 2, 2, 12, 2, 2, 2, 2, 2]
    assert acme.series[4].period == "2026-11-25"
    # 8 x 2 + 12 = 30 against the previous ten days' 10 x 2 = 20: (30 - 20) / 20 = +50%.
    assert (acme.mentions, acme.previous, acme.change) == (30, 20, 0.5)
    # One a day (10) against one a day from 2026-11-16 (5): +100%.
    assert (rival.mentions, rival.previous, rival.change) == (10, 5, 1.0)


def test_volume_per_hour_when_the_window_is_under_three_days(store_path: Path) -> None:
    store = SqliteStore.open(store_path)
    try:
        day = Window.of(datetime(2026, 11, 25, tzinfo=UTC), datetime(2026, 11, 26, tzinfo=UTC))
        made = collect(store, BRANDS[:1], day, now=SCANNED)
    finally:
        store.close()
    counts = {p.period: p.mentions for p in made.brand("Acme").volume.series if p.mentions}
    # s1..s9 at 01:00..09:00, the fillers at 12:00, 13:00, 14:00; the ignored spam at 11:00 is not counted.
    hours = [f"2026-11-25T{h:02d}:00:00Z" for h in (1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 13, 14)]
    assert counts == dict.fromkeys(hours, 1)
    # The day before, 2026-11-24: a4 and one filler.
    assert made.brand("Acme").volume.previous == 2


def test_image_shares_trend_and_impact_weighted_sentiment(report: Report) -> None:
    image = report.brand("Acme").image
    # Positive: a1, a3, a4. Negative: a2, s1..s9. Neutral: the 17 fillers.
    assert (image.now.positive, image.now.neutral, image.now.negative) == (3, 17, 10)
    assert image.now.share("negative") == pytest.approx(10 / 30)
    # The previous period: 20 neutral mentions, so the negative share rose by 33 points.
    assert (image.before.positive, image.before.neutral, image.before.negative) == (0, 20, 0)
    assert image.trend("negative") == pytest.approx(10 / 30 - 0)
    assert image.trend("neutral") == pytest.approx(17 / 30 - 1)
    # Each mention weighs 1 + its impact. Sum of s: 3 x 0.5 - 10 x 0.5 = -3.5. Sum of s x impact: a1 0.5 x 25
    # + a2 -0.5 x 50 + a4 0.5 x 25 + s9 -0.5 x 75 = -37.5. Weights: 30 mentions + impact 25 + 50 + 25 + 75 = 205.
    assert image.weighted == pytest.approx((-3.5 - 37.5) / 205)  # -0.2
    assert image.weighted_before == 0.0
    # Rival: five at +0.5, one of them with impact 25: (2.5 + 12.5) / (10 + 25).
    assert report.brand("Rival").image.weighted == pytest.approx(15 / 35)


def test_a_trend_needs_mentions_in_both_periods() -> None:
    image = figures.image([Tally(("Acme", "positive"), 2, 0.0, 1.0, 0.0)], [], [], [])
    assert image.now.share("positive") == 1.0
    assert image.trend("positive") is None
    assert (image.weighted, image.weighted_before) == (0.5, None)


def test_the_loudest_negative_and_positive_mentions_come_with_their_links(report: Report) -> None:
    image = report.brand("Acme").image
    # Ranked by sentiment x (1 + impact): s9 -0.5 x 76 = -38, a2 -0.5 x 51 = -25.5, then the newest of s1..s8 at
    # -0.5 x 1 (s8, 08:00).
    assert [c.id for c in image.most_negative] == ["s9", "a2", "s8"]
    assert image.most_negative[0].url == "https://news.ycombinator.com/item?id=109"
    # a4 and a1 both 0.5 x 26 = 13 (the newer first), then a3 at 0.5 x 1.
    assert [c.id for c in image.most_positive] == ["a4", "a1", "a3"]
    assert [c.impact_absolute for c in image.most_positive] == [25.0, 25.0, 0.0]


def test_share_of_voice_of_mentions_and_of_impact(report: Report) -> None:
    acme, rival = report.brand("Acme"), report.brand("Rival")
    assert rival.competitor and not acme.competitor
    # Mentions: 30 and 10 of 40. Impact: Acme 25 + 50 + 25 + 75 = 175, Rival 25, of 200.
    assert (acme.voice.mentions, rival.voice.mentions) == (30 / 40, 10 / 40)
    assert (acme.impact, rival.impact) == (175.0, 25.0)
    assert (acme.voice.impact, rival.voice.impact) == (175 / 200, 25 / 200)


def test_where_top_sources_communities_and_linked_domains(report: Report) -> None:
    where = report.brand("Acme").where
    assert [(r.name, r.mentions) for r in where.sources] == [("blog", 17), ("reddit", 10), ("hn", 2), ("mastodon", 1)]
    assert [(r.name, r.mentions) for r in where.communities] == [
        ("blog.example.com", 17),
        ("r/devops", 10),
        ("HN", 2),
        ("mastodon.social", 1),
    ]
    # Only a1 and s9 link anywhere; one mention each, so the louder (s9, impact 75) first. `www.` is dropped.
    assert [(r.name, r.mentions, r.impact) for r in where.domains] == [
        ("status.acme.io", 1, 75.0),
        ("techcrunch.com", 1, 25.0),
    ]


def test_who_top_authors_by_impact_and_the_needs_reply_inbox_oldest_first(report: Report) -> None:
    who = report.brand("Acme").who
    # dave 75, bob 50, alice and erin 25 (by name), then carol at 0 before u1..u8; fillers have no author.
    assert [(r.name, r.impact) for r in who.authors] == [
        ("dave", 75.0),
        ("bob", 50.0),
        ("alice", 25.0),
        ("erin", 25.0),
        ("carol", 0.0),
    ]
    # a2 (new) and a4 (read) wait for an answer; s9 needs one too but is marked done.
    assert [(c.id, c.status) for c in who.inbox] == [("a2", "new"), ("a4", "read")]
    assert who.inbox_total == 2
    assert who.inbox[0].url == "https://www.reddit.com/r/devops/comments/a2/post/"


def test_what_terms_rising_and_new_against_the_previous_period(report: Report) -> None:
    what = report.brand("Acme").what
    terms = {(t.term, t.mentions, t.previous) for t in what.terms}
    # outage and checkout: s1..s9 (9); offline: s1..s8 (8); dashboard: a3, a4. Before: checkout in p1 and p2,
    # offline in p1. Acme's own words, stop-words and terms in a single mention are left out.
    assert terms == {("checkout", 9, 2), ("outage", 9, 0), ("offline", 8, 1), ("dashboard", 2, 0)}
    assert [t.term for t in what.terms] == ["checkout", "outage", "offline", "dashboard"]
    assert [(t.term, t.mentions) for t in what.hashtags] == [("#devtools", 2)]
    # Rising: checkout +7 and offline +7 (the more frequent first). New: in no mention before.
    assert [t.term for t in what.rising] == ["checkout", "offline"]
    assert [t.term for t in what.new] == ["outage", "#devtools", "dashboard"]
    assert [t.term for t in report.brand("Rival").what.terms] == ["neat"]


def test_spikes_with_their_mentions_and_terms(report: Report) -> None:
    assert len(report.spikes) == 1
    spike = report.spikes[0]
    # The trailing fortnight is two a day: median 2, MAD 0, so the spread is sqrt(2); (12 - 2) / sqrt(2) = 7.07.
    assert (spike.brand, spike.period, spike.mentions, spike.baseline) == ("Acme", "2026-11-25", 12, 2.0)
    assert spike.score == pytest.approx(10 / math.sqrt(2))
    # The loudest first (s9, impact 75), then the earliest.
    assert [c.id for c in spike.citations] == ["s9", "s1", "s2", "s3", "s4"]
    # In the spike: outage and checkout 9 times, offline 8, none in the window's other 18 mentions (excess 9, 9, 8).
    assert spike.terms == ["checkout", "outage", "offline"]


def test_ignored_mentions_are_never_counted(store_path: Path) -> None:
    store = SqliteStore.open(store_path)
    try:
        counted = store.count(Query(brands=["Acme"], since=SINCE, until=UNTIL, statuses=("new", "read", "done")))
        every = store.count(Query(brands=["Acme"], since=SINCE, until=UNTIL))
    finally:
        store.close()
    assert (counted, every) == (30, 31)


# -- the store's aggregates


def test_tally_groups_and_keeps_the_top_groups_of_each_brand(store_path: Path) -> None:
    store = SqliteStore.open(store_path)
    try:
        window = Query(since=SINCE, until=UNTIL, statuses=("new", "read", "done"))
        by_sentiment = store.tally(window, ("brand", "sentiment"))
        top = store.tally(window, ("brand", "source"), top=1)
        with pytest.raises(ValueError, match="tally by"):
            store.tally(window, ("brand; DROP TABLE mentions",))
    finally:
        store.close()
    assert [(t.key, t.mentions) for t in by_sentiment] == [
        (("Acme", "negative"), 10),
        (("Acme", "neutral"), 17),
        (("Acme", "positive"), 3),
        (("Rival", "neutral"), 5),
        (("Rival", "positive"), 5),
    ]
    acme_negative = by_sentiment[0]
    # Impact 50 (a2) + 75 (s9); sentiment 10 x -0.5; sentiment x impact: -0.5 x 50 - 0.5 x 75.
    assert (acme_negative.impact, acme_negative.sentiment, acme_negative.sentiment_x_impact) == (125.0, -5.0, -62.5)
    assert [(t.key, t.mentions) for t in top] == [(("Acme", "blog"), 17), (("Rival", "hn"), 10)]


def test_a_mention_saved_before_terms_were_kept_is_counted_all_the_same(tmp_path: Path) -> None:
    # Schema 7 keeps each mention's terms as it is saved; mentions saved before have none, and a report works theirs
    # out as it reads them: the same report either way.
    from mentionwatch.store.sqlite import kept_terms

    path = report_store.build(tmp_path / "old.sqlite3")
    brands = [BrandSpec("Acme", False, ("Acme", "@acme", "#acme", "acme.io")), BrandSpec("Rival", True, ("Rival",))]

    def report() -> str:
        store = SqliteStore.open(path)
        try:
            out = io.StringIO()
            write(collect(store, brands, Window.of(SINCE, UNTIL), now=SCANNED), "json", out)
            return out.getvalue()
        finally:
            store.close()

    store = SqliteStore.open(path)
    rows = store._db.execute("SELECT title, text, terms FROM mentions").fetchall()
    assert rows and all(terms == kept_terms(title, text) for title, text, terms in rows)
    store.close()
    kept = report()
    assert '"terms": [' in kept and '"spikes"' in kept
    store = SqliteStore.open(path)
    store._db.execute("UPDATE mentions SET terms = NULL")
    store.close()
    assert report() == kept


def test_a_mention_saved_before_communities_were_kept_is_placed_all_the_same(tmp_path: Path) -> None:
    path = report_store.build(tmp_path / "old.sqlite3")
    window = Query(brands=["Acme"], since=SINCE, until=UNTIL, statuses=("new", "read", "done"))
    store = SqliteStore.open(path)
    try:
        kept = store.tally(window, ("brand", "community"))
        store._db.execute("UPDATE mentions SET community = NULL")  # as schema 1 left them
        worked_out = store.tally(window, ("brand", "community"))
    finally:
        store.close()
    assert worked_out == kept
    assert {t.key[1] for t in kept} == {"blog.example.com", "r/devops", "HN", "mastodon.social"}


# -- the spike rule, on constructed series


def test_a_real_spike_is_found_with_its_baseline() -> None:
    found = find_spikes([2] * 14 + [12])
    assert [(s.index, s.mentions, s.baseline) for s in found] == [(14, 12, 2.0)]
    assert found[0].score == pytest.approx(10 / math.sqrt(2))


def test_noise_is_no_spike() -> None:
    # Counts around 10, as a Poisson process gives them (sd about 3).
    noise = [8, 12, 9, 11, 10, 7, 13, 9, 10, 12, 8, 11, 14, 9, 10, 13, 7, 12, 15, 9, 6, 11, 14, 10]
    assert find_spikes(noise) == []


def test_a_slow_rise_is_no_spike() -> None:
    # At the end: 30 against the median of 16..29 (22.5), MAD 3.5 -> spread 5.19; z = 1.44.
    assert find_spikes(list(range(1, 31))) == []


def test_a_spike_right_after_a_spike_continues_it_then_a_later_one_is_found_again() -> None:
    # 20 then 22: the second day is inside the first spike's cooldown (two buckets), not a new spike.
    assert [s.index for s in find_spikes([2] * 14 + [20, 22, 2])] == [14]
    # After the cooldown, the next burst is a spike again: the median shrugs off the first spike in its window.
    found = find_spikes([2] * 14 + [20, 22, 2, 2, 18])
    assert [(s.index, s.baseline) for s in found] == [(14, 2.0), (18, 2.0)]


def test_a_spike_before_the_judged_buckets_still_quiets_the_ones_after_it() -> None:
    # A notify run judges the last three hours only: of a burst that began two hours ago, the hours since are its
    # continuation, as in the report of the whole series; the next spike comes after the cooldown, as there.
    burst = [2] * 14 + [20, 22, 21, 20, 23]
    assert [s.index for s in find_spikes(burst)] == [14, 17]  # the daily rule's cooldown: two buckets
    assert find_spikes(burst[:17], start=15) == []
    assert [s.index for s in find_spikes(burst, start=15)] == [17]


def test_small_counts_are_never_spikes() -> None:
    assert find_spikes([1] * 14 + [3]) == []  # 1 -> 3
    assert find_spikes([0] * 14 + [4]) == []  # under the minimum count of 5
    assert [s.index for s in find_spikes([0] * 14 + [5])] == [14]  # (5 - 0) / 1 = 5


def test_no_judgement_without_enough_history_and_none_before_start() -> None:
    assert find_spikes([2] * (DAILY.min_history - 1) + [50]) == []
    assert find_spikes([2] * 14 + [12, 2, 2, 2], start=15) == []


# -- terms


def test_terms_leave_out_urls_handles_stop_words_short_words_numbers_and_the_brand() -> None:
    own = own_words(["Acme", "acme.io", "#acme"])
    found = terms_of(
        "Acme's outage: we're down again",
        "See https://acme.io/status/outage, ask @outagebot. #Outage #acme 2026 ok is x acmeology",
        own,
    )
    assert found == {"outage", "#outage", "ask", "acmeology"}


def test_a_terminals_colour_codes_in_a_post_are_not_its_words() -> None:
    assert terms_of("Acme \x1b[31mred\x1b[0m alert", "\x9b1mbold\x9b0m \x1b]8;;https://x.test\x07link\x1b]8;;\x07") == {
        "acme", "red", "alert", "bold", "link",
    }  # fmt: skip


def test_compare_ranks_rising_by_how_many_more_and_new_by_count() -> None:
    now = Counter({"price": 6, "bug": 5, "login": 3, "#launch": 2, "once": 1})
    before = Counter({"price": 5, "bug": 1, "login": 3})
    what = compare(now, before)
    assert [t.term for t in what.terms] == ["price", "bug", "login"]
    assert [t.term for t in what.hashtags] == ["#launch"]
    assert [(t.term, t.mentions - t.previous) for t in what.rising] == [("bug", 4), ("price", 1)]
    assert [t.term for t in what.new] == ["#launch"]


# -- formats


def test_json_keeps_the_contract_names_first(report: Report) -> None:
    data = json.loads(rendered(report, "json"))
    assert list(data)[:2] == ["brands", "spikes"]
    acme = data["brands"]["Acme"]
    assert list(acme)[:4] == ["mentions", "share_of_voice", "sentiment", "volume"]
    assert acme["mentions"] == 30 and acme["share_of_voice"] == 0.75
    assert acme["sentiment"] == {"positive": 3, "neutral": 17, "negative": 10}
    assert acme["volume"][4] == {"period": "2026-11-25", "mentions": 12}
    assert data["brands"]["Rival"]["share_of_voice"] == 0.25
    spike = data["spikes"][0]
    assert list(spike)[:4] == ["brand", "period", "mentions", "baseline"]
    assert {k: spike[k] for k in ("brand", "period", "mentions", "baseline")} == {
        "brand": "Acme",
        "period": "2026-11-25",
        "mentions": 12,
        "baseline": 2.0,
    }
    # Every figure is there: a few beyond the contract.
    assert acme["change"] == 0.5 and acme["share_of_impact"] == 0.875
    assert acme["image"]["weighted_sentiment"] == -0.2
    assert acme["who"]["needs_reply"]["total"] == 2
    assert [t["term"] for t in acme["what"]["new"]] == ["outage", "#devtools", "dashboard"]


def check_snapshot(name: str, text: str) -> None:
    path = SNAPSHOTS / name
    if os.environ.get("UPDATE_SNAPSHOTS"):
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8"), f"{name} changed (UPDATE_SNAPSHOTS=1 rewrites it)"


def test_markdown_snapshot(report: Report) -> None:
    check_snapshot("report.md", rendered(report, "markdown"))


def test_table_snapshot_fits_80_columns(report: Report) -> None:
    text = rendered(report, "table", width=80)
    assert max(len(line) for line in text.splitlines()) <= 80
    check_snapshot("report.txt", text)


HOSTILE_TITLE = (
    "Acme \x1b[31mred\x1b[0m [bold]x[/bold] <script>alert(1)</script> [click](javascript:alert(1)) *x* | pipe "
    "@someone #1 \u202egnp.exe"
)


def hostile_report(tmp_path: Path) -> Report:
    store = SqliteStore.open(tmp_path / "hostile.sqlite3")
    try:
        bad = report_store.mention(
            "Acme",
            "bad",
            datetime(2026, 11, 25, tzinfo=UTC),
            title=HOSTILE_TITLE,
            sentiment=-0.9,
            url="javascript:alert(1)",
            author="<b>mallory</b>",
        )
        good = report_store.mention(
            "Acme",
            "good",
            datetime(2026, 11, 26, tzinfo=UTC),
            sentiment=-0.5,
            url='https://example.com/a b"onmouseover="x()',
        )
        store.record([bad, good], SCANNED)
        return collect(store, BRANDS[:1], Window.of(SINCE, UNTIL), now=SCANNED)
    finally:
        store.close()


def test_untrusted_text_reaches_the_terminal_without_escapes_and_with_markup_literal(tmp_path: Path) -> None:
    text = rendered(hostile_report(tmp_path), "table")
    assert "\x1b" not in text and "\u202e" not in text
    assert "[bold]x[/bold]" in text


def test_untrusted_text_is_inert_markdown_and_only_http_links_are_made(tmp_path: Path) -> None:
    text = rendered(hostile_report(tmp_path), "markdown")
    assert "<script>" not in text and "\u202e" not in text
    assert r"\[click\](javascript:alert(1))" in text  # shown, never a link
    assert r"\*x\* \| pipe \@someone \#1" in text
    assert not re.search(r"(?<!\\)\]\(javascript", text), "an unescaped ](javascript: would be a link"
    # The http URL is a link, its space and quote percent-encoded so the destination cannot end early.
    assert "](https://example.com/a%20b%22onmouseover=%22x%28%29)" in text


def test_untrusted_text_is_escaped_html_and_only_http_links_are_made(tmp_path: Path) -> None:
    from mentionwatch.report.html_writer import page

    text = page(hostile_report(tmp_path))
    assert "<script>" not in text and "<b>mallory" not in text and "\u202e" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert 'href="javascript' not in text
    assert 'href="https://example.com/a b&quot;onmouseover=&quot;x()"' in text


# -- the command


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return report_store.build(tmp_path / "store.sqlite3")


WINDOW = ("--since", "2026-11-21", "--until", "2026-12-01")


def test_report_command_json_with_the_competitor_from_the_config(
    tmp_path: Path, db: Path, cli: Callable[..., Run]
) -> None:
    (tmp_path / "mentionwatch.yaml").write_text(report_store.CONFIG, encoding="utf-8")
    run = cli("report", "--db", str(db), *WINDOW, "-f", "json")
    assert run.code == 0, run.stderr
    data = json.loads(run.stdout)
    assert list(data["brands"]) == ["Acme", "Rival"]
    assert data["brands"]["Rival"]["competitor"] is True
    assert data["brands"]["Acme"]["mentions"] == 30


def test_brand_is_case_insensitive_and_its_share_is_of_the_brands_reported(db: Path, cli: Callable[..., Run]) -> None:
    run = cli("report", "--db", str(db), *WINDOW, "--brand", "acme", "-f", "json")
    assert run.code == 0, run.stderr
    data = json.loads(run.stdout)
    assert list(data["brands"]) == ["Acme"]
    assert data["brands"]["Acme"]["share_of_voice"] == 1.0


def test_output_file_format_from_its_extension_written_whole(tmp_path: Path, db: Path, cli: Callable[..., Run]) -> None:
    for name, start in (("r.html", "<!DOCTYPE html>"), ("r.md", "# mentionwatch report"), ("r.json", "{")):
        run = cli("report", "--db", str(db), *WINDOW, "-o", str(tmp_path / "out" / name))
        assert run.code == 0, run.stderr
        assert (tmp_path / "out" / name).read_text(encoding="utf-8").startswith(start)
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".")], "no temp file left"
    run = cli("report", "--db", str(db), *WINDOW, "-o", str(tmp_path / "r.txt"))
    assert "Volume (mentions per day)" in (tmp_path / "r.txt").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--brand", "Nobody"), "--brand Nobody: not in the config or the store (brands: Acme, Rival)"),
        (("--since", "2026-12-02"), "is not before --until"),
        (("--since", "yesterday"), "--since: cannot read 'yesterday'"),
        (("-o", "report.pdf"), "-o report.pdf: name a .html, .md, .json or .txt file"),
        (("-f", "pdf"), "Invalid value for '--format'"),
    ],
)
def test_user_mistakes_exit_2_with_a_plain_message(
    db: Path, cli: Callable[..., Run], args: tuple[str, ...], message: str
) -> None:
    # A fixed window (a later --since replaces this one): the default `--since 30d` would pass 2026-12-01 by
    # the new year, and every case would fail for that instead.
    run = cli("report", "--db", str(db), *WINDOW, *args)
    assert run.code == 2
    assert message in run.stderr
    assert "Traceback" not in run.stderr


def test_no_store_yet_is_a_plain_error(tmp_path: Path, cli: Callable[..., Run]) -> None:
    run = cli("report", "--db", str(tmp_path / "none.sqlite3"))
    assert run.code == 2
    assert "run `mentionwatch scan` first" in run.stderr


def test_the_report_never_writes_to_the_store(db: Path, cli: Callable[..., Run]) -> None:
    before = db.read_bytes()
    assert cli("report", "--db", str(db), *WINDOW, "-f", "json").code == 0
    assert db.read_bytes() == before


# -- end to end: a store filled by a real scan


@pytest.mark.e2e
def test_report_on_a_store_filled_by_scan(tmp_path: Path, server: LoopbackServer, run_cli: Callable[..., Run]) -> None:
    """`scan` of a recorded Hacker News answer (20 hits of 2017-09-27, served as recorded), then `report` over that
    day: the report agrees with `list` on the same store, hour by hour, and links the mentions it cites."""
    server.route("/api/v1/search_by_date", Reply(200, HN, {"content-type": "application/json"}))
    config = tmp_path / "mentionwatch.yaml"
    config.write_text(
        "brands:\n  - name: Node.js\n    terms: [Node, Node.js, NodeJS]\n"
        f"sources:\n  - type: hackernews\n    base_url: {server.url}/api/v1\n    max_pages: 1\n",
        encoding="utf-8",
    )
    db = str(tmp_path / "store.sqlite3")
    scan = run_cli("scan", "-c", str(config), "--db", db, "--since", "2017-09-01", "--seed")
    assert scan.code == 0, scan.stderr
    day = ("--since", "2017-09-27", "--until", "2017-09-28")
    listed = run_cli("list", "--db", db, *day, "-f", "jsonl")
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert rows, listed.stderr

    run = run_cli("report", "-c", str(config), "--db", db, *day, "-f", "json")
    assert run.code == 0, run.stderr
    data = json.loads(run.stdout)["brands"]["Node.js"]
    assert data["mentions"] == len(rows)
    by_hour = Counter(r["published_at"][:13] + ":00:00Z" for r in rows)
    assert {p["period"]: p["mentions"] for p in data["volume"] if p["mentions"]} == by_hour
    assert len(data["volume"]) == 24, "a one-day report is counted per hour"
    labels = Counter(r["sentiment_label"] for r in rows)
    assert data["sentiment"] == {label: labels.get(label, 0) for label in ("positive", "neutral", "negative")}

    page_path = tmp_path / "node.html"
    run = run_cli("report", "-c", str(config), "--db", db, *day, "-o", str(page_path))
    assert run.code == 0, run.stderr
    html = page_path.read_text(encoding="utf-8")
    urls = {r["url"] for r in rows}
    cited = re.findall(r'<a class="cite" href="([^"]+)"', html)
    assert cited and set(cited) <= urls


def test_the_response_section_counts_answers_and_the_time_they_took(db: Path) -> None:
    # Acme's fixed store: three mentions need a reply — a2 (new, published 2026-11-22 10:00), a4 (read,
    # 2026-11-24 10:00) and s9 (done without a reply). Marking a2 replied one day after it was published answers
    # one of three in 24 h; a4 still waits, and is the oldest waiting.
    store = SqliteStore.open(db)
    try:
        [a2] = store.resolve("a2")
        store.set_status([a2], "replied", datetime(2026, 11, 23, 10, 0, tzinfo=UTC))
        stats = collect(store, BRANDS, Window.of(SINCE, UNTIL), now=SCANNED).brand("Acme").response
    finally:
        store.close()
    assert stats is not None
    assert (stats.needs_reply, stats.answered, stats.closed, stats.waiting) == (3, 1, 1, 1)
    assert stats.median_time_to_answer is not None and stats.median_time_to_answer.total_seconds() == 24 * 3600
    assert stats.oldest_waiting is not None and stats.oldest_waiting.id == "a4"
    assert figures.response_line(stats) == (
        "Answered 1 of 3 (33%) · median time to answer 1d 0h · 1 closed without a reply · 1 waiting"
    )
    data = json.loads(rendered(collect_for(db), "json"))["brands"]["Acme"]["response"]
    assert data["median_seconds_to_answer"] == 24 * 3600 and data["oldest_waiting"]["id"] == "a4"


def collect_for(db: Path) -> Report:
    store = SqliteStore.open(db)
    try:
        return collect(store, BRANDS, Window.of(SINCE, UNTIL), now=SCANNED)
    finally:
        store.close()
