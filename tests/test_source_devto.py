from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from mentionwatch.errors import BadPayload, FetchError, RateLimited, Unauthorized
from mentionwatch.models import Mention
from mentionwatch.sources.devto import ACCEPT, DevtoConfig, DevtoSource, parse_page, to_mention, top_days

from conftest import load_json, mock_context

# A real answer of dev.to's article list (2019, before `public_reactions_count` existed).
RECORDED = load_json("devto", "devto_api_go_list_response_2019.json")
# The documented example of GET /api/articles (Forem API v1 reference): the current field set.
DOCUMENTED = load_json("devto", "forem_api_v1_get_articles_example.json")

Handler = Callable[[httpx.Request], httpx.Response]


def test_parses_every_article_of_the_real_recording() -> None:
    mentions = parse_page(RECORDED)
    assert [m.id for m in mentions] == ["164198", "164195", "84712"]
    first = mentions[0]
    assert first.url == "https://dev.to/victoravelar/a-dev-to-api-client-is-born-29pj"
    assert first.title == "A DEV.to API client is born"
    assert first.author == "victoravelar"
    assert first.kind == "article"
    # Millis in the old `published_at` survive, in UTC.
    assert first.published_at == datetime(2019, 9, 3, 11, 7, 53, 827000, tzinfo=UTC)
    assert first.comments == 0


def test_older_answers_fall_back_to_positive_reactions_count_for_likes() -> None:
    mentions = parse_page(RECORDED)
    assert [m.likes for m in mentions] == [6, 4, 4]


def test_public_reactions_count_is_the_likes_when_present() -> None:
    # Hand-made variation: the recording with the counts today's API sends side by side.
    article = dict(RECORDED[0], public_reactions_count=24, positive_reactions_count=20)
    assert to_mention(article).likes == 24


def test_description_is_the_text_since_the_list_has_no_body() -> None:
    mentions = parse_page(RECORDED)
    assert mentions[0].text == ""
    assert mentions[2].text.startswith("Probably the most important part of any recruiting process, a case study")
    assert mentions[2].title == "A year conducting case study reviews. Facts and some tips."


def test_documented_example_maps_the_current_field_set() -> None:
    (mention,) = parse_page(DOCUMENTED)
    assert mention.id == "1"
    assert mention.url == "http://localhost:3000/username1/mr-standfast1-o1j"
    assert mention.title == "Mr Standfast1"
    assert mention.text == (
        "Fixie crucifix vegan vinyl cleanse stumptown. Ennui chicharrones actually heirloom taxidermy selfies..."
    )
    assert mention.author == "username1"
    assert mention.published_at == datetime(2022, 9, 2, 19, 24, 23, tzinfo=UTC)
    assert (mention.likes, mention.comments) == (0, 0)


def test_an_article_on_dev_itself_points_nowhere_else() -> None:
    # In both files `canonical_url` is the article's own URL.
    assert all(m.link is None for m in parse_page(RECORDED) + parse_page(DOCUMENTED))


def test_a_cross_posted_article_links_to_its_canonical_original() -> None:
    # Hand-made variation: the recorded article as if cross-posted from the author's blog.
    article = dict(RECORDED[0], canonical_url="https://victoravelar.com/posts/a-dev-to-api-client-is-born")
    mention = to_mention(article)
    assert mention.url == "https://dev.to/victoravelar/a-dev-to-api-client-is-born-29pj"
    assert mention.link == "https://victoravelar.com/posts/a-dev-to-api-client-is-born"


def test_titles_are_plain_text_and_keep_angle_brackets() -> None:
    # Hand-made variation: DEV titles are not HTML, so "<div>" is part of the title, not a tag.
    article = dict(RECORDED[0], title="Why  <div> soup hurts ", description="Use <main> & friends")
    mention = to_mention(article)
    assert mention.title == "Why <div> soup hurts"
    assert mention.text == "Use <main> & friends"


def test_an_error_object_instead_of_a_list_is_a_bad_payload() -> None:
    # Forem's error body (swagger/v1/api_v1.json: `{"error": "not found", "status": 404}`).
    with pytest.raises(BadPayload):
        parse_page({"error": "not found", "status": 404})


def test_an_article_without_its_url_is_a_bad_payload() -> None:
    article = {k: v for k, v in RECORDED[0].items() if k != "url"}
    with pytest.raises(BadPayload, match="url"):
        to_mention(article)


def test_tags_are_normalised_and_an_empty_one_is_refused() -> None:
    cfg = DevtoConfig(type="devto", tags=["#Python", "python", " Rust "])
    assert cfg.tags == ["python", "rust"]
    with pytest.raises(ValidationError):
        DevtoConfig(type="devto", tags=["#"])


def test_top_days_covers_since_in_whole_days() -> None:
    now = datetime(2019, 9, 5, tzinfo=UTC)
    assert top_days(datetime(2019, 8, 30, 12, tzinfo=UTC), now) == 6
    assert top_days(datetime(2019, 9, 4, 23, tzinfo=UTC), now) == 1
    assert top_days(now, now) == 1


NOW = datetime(2019, 9, 5, tzinfo=UTC)


def _source(handler: Handler, **cfg: Any) -> DevtoSource:
    ctx = mock_context(handler, lambda: NOW)
    return DevtoSource(DevtoConfig(type="devto", base_url="http://dev.test", **cfg), ctx)


def _collect(source: DevtoSource, since: datetime) -> list[Mention]:
    async def run() -> list[Mention]:
        try:
            return [m async for m in source.fetch(None, since)]
        finally:
            await source.context.http.client.aclose()

    return asyncio.run(run())


def test_latest_reads_newest_first_and_stops_at_since() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=RECORDED)

    # The recording runs 2019-09-03, 2019-08-31, 2019-02-23: the third is older than since.
    mentions = _collect(_source(handler), datetime(2019, 8, 1, tzinfo=UTC))
    assert [m.id for m in mentions] == ["164198", "164195"]
    assert len(seen) == 1
    request = seen[0]
    assert request.url.path == "/api/articles/latest"
    assert dict(request.url.params) == {"page": "1", "per_page": "1000"}
    assert request.headers["accept"] == ACCEPT


def test_latest_follows_page_numbers_until_an_empty_page_not_a_short_one() -> None:
    pages = {"1": RECORDED[:1], "2": RECORDED[1:], "3": []}
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        page = request.url.params["page"]
        seen.append(page)
        return httpx.Response(200, json=pages[page])

    mentions = _collect(_source(handler), datetime(2019, 1, 1, tzinfo=UTC))
    assert [m.id for m in mentions] == ["164198", "164195", "84712"]
    assert seen == ["1", "2", "3"]


def test_max_pages_bounds_the_latest_walk() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        page = request.url.params["page"]
        seen.append(page)
        # Hand-made variation: the recording with ids made distinct per page.
        return httpx.Response(200, json=[dict(a, id=f"{a['id']}{page}") for a in RECORDED])

    mentions = _collect(_source(handler, max_pages=2, per_page=3), datetime(2019, 1, 1, tzinfo=UTC))
    assert seen == ["1", "2"]
    assert len(mentions) == 6


def test_tags_read_each_tag_with_a_top_window_filter_locally_and_report_an_article_once() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        # A tag is ordered by popularity, not date: every page is read until an empty one.
        return httpx.Response(200, json=RECORDED if request.url.params["page"] == "1" else [])

    since = datetime(2019, 8, 30, 12, tzinfo=UTC)
    mentions = _collect(_source(handler, tags=["go", "#Tutorial"]), since)
    # The 2019-02-23 article is outside the window; the two others carry both tags but are reported once.
    assert [m.id for m in mentions] == ["164198", "164195"]
    assert [(r.url.path, r.url.params["tag"], r.url.params["page"]) for r in seen] == [
        ("/api/articles", "go", "1"),
        ("/api/articles", "go", "2"),
        ("/api/articles", "tutorial", "1"),
        ("/api/articles", "tutorial", "2"),
    ]
    assert {r.url.params["top"] for r in seen} == {"6"}


def _reply(status: int, body: bytes, ctype: str = "application/json") -> Handler:
    return lambda request: httpx.Response(status, content=body, headers={"content-type": ctype})


@pytest.mark.parametrize(
    ("handler", "error"),
    [
        # dev.to's Varnish answers 403 with an empty body to clients it blocks.
        (_reply(403, b""), Unauthorized),
        (_reply(401, b'{"error":"unauthorized","status":401}'), Unauthorized),
        (_reply(429, b'{"error":"Retry later"}'), RateLimited),
        (_reply(200, b"<!DOCTYPE html><html><body>Log in to continue</body></html>", "text/html"), Unauthorized),
        (_reply(200, b'[{"type_of": "article", "id": 1,'), BadPayload),
        (_reply(200, json.dumps({"articles": RECORDED}).encode()), BadPayload),
        (_reply(503, b"upstream down", "text/plain"), FetchError),
    ],
    ids=["blocked-403", "401", "429", "login-wall", "truncated-json", "wrong-shape", "503"],
)
def test_failures_raise_the_health_error(handler: Handler, error: type[FetchError]) -> None:
    with pytest.raises(FetchError) as caught:
        _collect(_source(handler), datetime(2019, 1, 1, tzinfo=UTC))
    assert type(caught.value) is error


# --- one bad article -------------------------------------------------------------------------------------------------


def test_an_unreadable_article_is_counted_and_a_page_of_only_those_is_not_the_end() -> None:
    broken = dict(RECORDED[0], published_at="9999-12-31T23:59:59-05:00")  # no UTC equivalent
    pages = {1: [broken, {"title": "no id, no url"}], 2: RECORDED, 3: []}

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=pages[int(request.url.params["page"])])

    source = _source(handler)
    mentions = _collect(source, datetime(2019, 1, 1, tzinfo=UTC))
    assert [m.id for m in mentions] == [str(a["id"]) for a in RECORDED]
    assert len(source.context.skipped) == 2
