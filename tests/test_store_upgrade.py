"""A store made by an earlier mentionwatch, scanned by this one; and what `stats` and `prune` make of the duplicates
found in the same scan as their head (no rows of their own, only entries in the head's `also_seen`).

An rss item's guid that is not unique by construction is scoped by its feed now (`bb77f2cb/4519`, sources/rss.py
`_entry_id`), where an earlier version stored `4519`: the store takes the item under its old id for itself, seen
again. Every test runs once per engine, through the store's own API, writing rows as the earlier version did."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from mentionwatch.dedupe import seen_entry
from mentionwatch.models import Mention
from mentionwatch.store import Query, key_of
from test_store import NOW, mention

BLOG = "https://blog.example.org/?p="
ARTICLE = "https://news.example.com/2026/12/acme-opens-berlin-office"
LATER = NOW + timedelta(hours=1)


def post(item_id: str, number: str, **kw: Any) -> Mention:
    """An item of the blog's feed (`number` its guid, its link by it), as an rss source gives it."""
    return mention(item_id, source="blog", source_type="rss", url=f"{BLOG}{number}", kind="article", **kw)


def listed(store: Any) -> list[tuple[str, list[str]]]:
    """Each mention `list` shows, and the ids folded into it."""
    return sorted((m.id, [a["id"] for a in m.also_seen]) for m in store.query(Query()))


# -- ids scoped since


def test_an_rss_item_stored_under_its_unscoped_guid_is_seen_again_under_its_scoped_id_not_as_a_duplicate(
    store: Any,
) -> None:
    # What the earlier version stored: a post of its own, a post found with an article in one scan (no row of its
    # own), and a link-less episode.
    article = mention("tag:news.example.com,2026:1", source="alerts", source_type="rss", url=ARTICLE, kind="article")
    article.also_seen = [seen_entry(post("4521", "4521"), "url")]
    episode = mention("ep-87", source="podcast", source_type="rss", kind="article", title="Acme ep 87")
    episode.url = ""
    store.record([post("4519", "4519"), article, episode], NOW)

    article.also_seen = [seen_entry(post("bb77f2cb/4521", "4521"), "url")]
    scoped_episode = mention("1d3d887e/ep-87", source="podcast", source_type="rss", kind="article", title="Acme ep 87")
    scoped_episode.url = ""
    scan = [post("bb77f2cb/4519", "4519"), article, scoped_episode]
    assert store.record(scan, LATER).new == set()
    assert listed(store) == [
        ("1d3d887e/ep-87", []),
        ("bb77f2cb/4519", []),
        ("tag:news.example.com,2026:1", ["bb77f2cb/4521"]),
    ]
    assert [m.first_seen for m in scan] == [NOW, NOW, NOW], "seen again, first seen by the earlier version"
    assert store.stats()["duplicates"] == 1
    # Known by its new id from then on: the same scan again is no news, and changes nothing.
    assert store.record(scan, LATER + timedelta(hours=1)).new == set()
    assert store.resolve("4519") == []
    assert len(listed(store)) == 3


def test_another_feeds_item_with_the_same_guid_is_a_mention_of_its_own(store: Any) -> None:
    store.record([post("4519", "4519")], NOW)
    other = mention("0c5e1a9f/4519", source="shop", source_type="rss", url="https://shop.example/?p=4519")
    assert store.record([other], LATER).new == {key_of(other)}
    assert listed(store) == [("0c5e1a9f/4519", []), ("4519", [])]


# -- a stored duplicate that needs a reply


def test_a_stored_duplicate_that_needs_a_reply_seen_again_is_shown_on_its_own_waiting(store: Any) -> None:
    # The earlier version folded a Hacker News story that needs a reply into an article that does not wait for one.
    article = mention("a1", source="blog", source_type="rss", url=ARTICLE, kind="article")
    asking = mention("h1", link=ARTICLE, kind="story", title="Does Acme keep my data after the free plan ends?")
    asking.needs_reply = True
    quiet = mention("h2", link=ARTICLE, kind="story")
    article.also_seen = [seen_entry(asking, "link"), seen_entry(quiet, "link")]
    store.record([article], NOW)
    assert store.query(Query(needs_reply=True)) == []

    assert store.record([asking, quiet], LATER).new == {key_of(asking)}
    assert listed(store) == [("a1", ["h2"]), ("h1", [])]
    assert [m.id for m in store.query(Query(needs_reply=True))] == ["h1"]
    assert store.stats()["duplicates"] == 1
    assert store.record([asking], LATER + timedelta(hours=1)).new == set()


# -- stats


def test_stats_counts_the_duplicates_list_shows_whether_one_scan_or_several_found_them(store: Any) -> None:
    def shares(brand: str) -> list[Mention]:
        return [
            mention(f"s{i}", link=ARTICLE, kind="story", brand=brand, published_at=NOW + timedelta(hours=i))
            for i in range(4)
        ]

    def article(brand: str, duplicates: list[Mention]) -> Mention:
        found = mention("a1", source="blog", source_type="rss", url=ARTICLE, kind="article", brand=brand)
        found.also_seen = [seen_entry(d, "link") for d in duplicates]
        return found

    # Acme's story found whole by one scan; Beta's by five, a share each after the first.
    store.record([article("Acme", shares("Acme"))], NOW + timedelta(hours=5))
    store.record([article("Beta", [])], NOW)
    for share in shares("Beta"):
        assert store.record([share], share.published_at).new == set()
    shown = sorted((m.brand, m.id, m.duplicates) for m in store.query(Query()))
    assert shown == [("Acme", "a1", 4), ("Beta", "a1", 4)]
    counted = store.stats()
    assert (counted["mentions"], counted["duplicates"]) == (2, 8)
    assert counted["by_brand_and_source"] == [
        {"brand": brand, "source": source, "mentions": mentions, "duplicates": duplicates}
        for brand in ("Acme", "Beta")
        for source, mentions, duplicates in (("blog", 1, 0), ("hn", 0, 4))
    ]


# -- prune


CUT = datetime(2026, 12, 3, 10, 40, tzinfo=UTC)


def test_a_prune_keeps_a_story_whose_duplicates_found_with_it_may_be_newer_than_the_cut_off(store: Any) -> None:
    def at(hour: int) -> datetime:
        return CUT.replace(hour=hour, minute=0)

    article = mention("a1", source="blog", source_type="rss", url=ARTICLE, kind="article", published_at=at(10))
    copy = mention("a1c", source="blog", source_type="rss", url=f"{ARTICLE}?copy", published_at=at(12))
    share = mention("b3", link=ARTICLE, kind="story", published_at=at(15))
    article.also_seen = [seen_entry(copy, "text"), seen_entry(share, "link")]
    assert store.record([article], at(16)).new == {key_of(article)}
    assert store.prune(CUT, keep_tagged=True) == 0
    assert listed(store) == [("a1", ["a1c", "b3"])]
    assert store.stats()["duplicates"] == 2
    # The next scan, the article before its `since`: its copy is the story told already.
    assert store.record([copy], at(17)).new == set()
    # Once the story was last seen before the cut-off, all of it is older: forgotten.
    assert store.prune(at(18), keep_tagged=True) == 2, "the article, and its copy's row since"
    assert listed(store) == []


# -- a story re-read without its shares


def test_a_story_seen_again_without_the_shares_an_earlier_scan_found_keeps_the_impact_they_make(store: Any) -> None:
    # A feed is read over `since` on every run, the search APIs from their watermarks: a cron run sees the article
    # again without its HN story, and scores it alone (6.2). The stored story's impact must not sink with it.
    story = mention("hn-1", source="hackernews", url="https://news.ycombinator.com/item?id=1", kind="story", score=900)
    story.link, story.title = ARTICLE, "Acme opens a Berlin office"
    article = mention("tag:news.example.com,2026:1", source="alerts", source_type="rss", url=ARTICLE, kind="article")
    article.also_seen, article.impact = [seen_entry(story, "link")], 71.5
    store.record([article], NOW)
    alone = mention("tag:news.example.com,2026:1", source="alerts", source_type="rss", url=ARTICLE, kind="article")
    alone.impact = 6.2
    store.record([alone], LATER)
    [kept] = store.query(Query())
    assert [a["id"] for a in kept.also_seen] == ["hn-1"]
    assert kept.impact is not None and kept.impact >= 70, kept.impact  # 25 * log10(1 + 900) = 73.9


# -- one mention, one place


def test_a_copy_shown_as_its_own_mention_is_not_also_listed_under_another_story(store: Any) -> None:
    # Scans that saw these in another order than one scan would: a copy of an article and the HN story of the
    # article first, then the article (which joins its story's cluster), then the article with its copy folded in
    # by the scan's dedupe. The copy is shown where the store has it, once.
    copy = mention("tag:copies.example,2026:9", source="copies", source_type="rss", url=f"{ARTICLE}-copy")
    copy.kind, copy.text = "article", "Acme opens a Berlin office with 200 engineers, its first outside the US."
    story = mention("hn-1", url="https://news.ycombinator.com/item?id=1", link=ARTICLE, kind="story")
    article = mention("tag:news.example.com,2026:1", source="alerts", source_type="rss", url=ARTICLE)
    article.kind, article.text = "article", copy.text
    store.record([copy, story], NOW)
    store.record([article], LATER)
    article.also_seen = [seen_entry(copy, "text")]
    store.record([article], LATER + timedelta(hours=1))
    shown = [m.id for m in store.query(Query())]
    folded = [a["id"] for m in store.query(Query()) for a in m.also_seen]
    assert sorted(shown + folded) == sorted({*shown, *folded}), "no mention both shown and folded, nor folded twice"
    assert copy.id in shown + folded and article.id in shown + folded
