from __future__ import annotations

import asyncio
import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from mentionwatch.errors import BadPayload, FetchError, RateLimited, Unauthorized
from mentionwatch.models import Mention
from mentionwatch.sources.lemmy import LemmyConfig, LemmySource, parse_page

from conftest import load_json, mock_context

# Not recordings from lemmy.world: SearchResponse / GetPostsResponse bodies in the documented Lemmy 0.19 (API v3)
# shape, from a seeded test instance, as committed in LemmyKit's test fixtures (see fixtures/lemmy/README.md).
SEARCH = load_json("lemmy", "searchResponseV3.json")
POSTS = load_json("lemmy", "getPostsResponse.json")


def test_parses_the_post_of_the_search_response() -> None:
    [post] = parse_page(SEARCH, "Posts")
    assert post.kind == "post"
    assert post.id == "https://test1.lemmy.ddenis.info/post/180"
    assert post.url == "https://test1.lemmy.ddenis.info/post/180"
    assert post.link == "https://example.com/live"
    assert post.title == "Live recording (thread 8)"
    assert post.text == ""
    assert post.author == "seed_mod1"
    assert post.published_at == datetime(2026, 6, 12, 23, 37, 46, 566375, tzinfo=UTC)
    assert (post.score, post.comments) == (1, 7)


def test_parses_the_comment_of_the_search_response() -> None:
    [comment] = parse_page(SEARCH, "Comments")
    assert comment.kind == "comment"
    assert comment.id == comment.url == "https://test1.lemmy.ddenis.info/comment/501"
    assert comment.text == "Great track, thanks for sharing!"
    assert comment.title == ""
    assert comment.link == "https://example.com/live"  # the link of the post it answers
    assert comment.author == "seed_mod1"
    assert comment.published_at == datetime(2026, 6, 12, 23, 39, tzinfo=UTC)
    assert (comment.score, comment.comments) == (3, 0)


def test_a_federated_post_is_identified_by_its_ap_id_not_the_local_row_id() -> None:
    mentions = parse_page(POSTS, "Posts")
    federated = mentions[2]
    assert POSTS["posts"][2]["post"]["id"] == 198  # this instance's row number
    assert federated.id == federated.url == "https://test2.lemmy.ddenis.info/post/102"
    assert federated.author == "seed_canvas"


def test_a_text_post_has_its_markdown_body_and_no_link() -> None:
    post = parse_page(POSTS, "Posts")[1]
    assert post.title == "Album on repeat this week (thread 7)"
    assert post.text == "Lo-fi meets jazz."
    assert post.link is None


def test_naive_timestamps_from_older_instances_are_utc() -> None:
    # Lemmy up to 0.18 sent `published` without a zone: the same fixture with the `Z` taken off.
    view = copy.deepcopy(SEARCH["posts"][0])
    view["post"]["published"] = "2026-06-12T23:37:46.566375"
    [post] = parse_page({"posts": [view]}, "Posts")
    assert post.published_at == datetime(2026, 6, 12, 23, 37, 46, 566375, tzinfo=UTC)


def test_entity_escaped_titles_and_markdown_bodies_become_plain_text() -> None:
    # As Lemmy 0.18.3/0.18.4 stored them (LemmyNet/lemmy#3754): `&` escaped as `&amp;`.
    view = copy.deepcopy(SEARCH["posts"][0])
    view["post"]["name"] = "Tom &amp; Jerry on **Acme**"
    view["post"]["body"] = "Loved it &amp; more: see [the site](https://acme.example) and `acme --help`."
    [post] = parse_page({"posts": [view]}, "Posts")
    assert post.title == "Tom & Jerry on **Acme**"  # titles are plain text, not Markdown
    assert post.text == "Loved it & more: see the site and acme --help."


def test_deleted_and_removed_posts_are_skipped() -> None:
    deleted, removed, kept = (copy.deepcopy(v) for v in POSTS["posts"])
    deleted["post"]["deleted"] = True
    removed["post"]["removed"] = True
    mentions = parse_page({"posts": [deleted, removed, kept]}, "Posts")
    assert [m.id for m in mentions] == ["https://test2.lemmy.ddenis.info/post/102"]


@pytest.mark.parametrize("payload", [{"error": "couldnt_find_object"}, {"posts": None}, [], "garbage"])
def test_a_wrong_shaped_answer_is_a_bad_payload(payload: Any) -> None:
    with pytest.raises(BadPayload):
        parse_page(payload, "Posts")


def test_a_post_view_without_a_post_is_skipped_and_the_rest_of_the_page_kept() -> None:
    broken = {k: v for k, v in SEARCH["posts"][0].items() if k != "post"}
    skipped: list[str] = []
    mentions = parse_page({"posts": [broken, *POSTS["posts"]]}, "Posts", skipped)
    assert [m.id for m in mentions] == [m.id for m in parse_page(POSTS, "Posts")]
    assert len(skipped) == 1 and "post" in skipped[0]


# --- fetch and paging ------------------------------------------------------------------------------------------------

NEWEST = datetime(2026, 6, 12, 23, 0, tzinfo=UTC)


def _page(page: int, size: int = 3, type_: str = "Posts") -> dict[str, Any]:
    """The three real PostViews (or the real CommentView, three times), ap_ids and dates made unique per page."""
    key, item = ("comments", "comment") if type_ == "Comments" else ("posts", "post")
    source = SEARCH["comments"] * 3 if type_ == "Comments" else POSTS["posts"]
    views = []
    for n, view in enumerate(copy.deepcopy(source)[:size]):
        view[item]["ap_id"] = f"{view[item]['ap_id']}-p{page}n{n}"
        view[item]["published"] = (NEWEST - timedelta(hours=page * 10 + n)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        views.append(view)
    return {"type_": type_, "posts": [], "comments": [], "communities": [], "users": [], key: views}


def _source(handler: Any, **cfg: Any) -> LemmySource:
    ctx = mock_context(handler, lambda: NEWEST)
    return LemmySource(LemmyConfig(type="lemmy", base_url="http://lemmy.test", **cfg), ctx)


async def _collect(source: LemmySource, term: str, since: datetime) -> list[Mention]:
    return [m async for m in source.fetch(term, since)]


SINCE = datetime(2026, 1, 1, tzinfo=UTC)


def test_asks_the_instance_search_for_newest_posts() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=_page(1) if request.url.params["page"] == "1" else _page(2, size=0))

    mentions = asyncio.run(_collect(_source(handler), "acme", SINCE))
    assert len(mentions) == 3
    assert seen[0].url.path == "/api/v3/search"
    assert dict(seen[0].url.params) == {"q": "acme", "type_": "Posts", "sort": "New", "limit": "50", "page": "1"}


def test_pages_until_an_empty_page_even_after_short_ones() -> None:
    pages: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        page = int(request.url.params["page"])
        pages.append(page)
        return httpx.Response(200, json=_page(page, size=3 if page < 3 else 0))

    mentions = asyncio.run(_collect(_source(handler), "acme", SINCE))
    assert pages == [1, 2, 3]
    assert len({m.id for m in mentions}) == 6


def test_max_pages_bounds_the_walk() -> None:
    pages: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        pages.append(int(request.url.params["page"]))
        return httpx.Response(200, json=_page(int(request.url.params["page"])))

    asyncio.run(_collect(_source(handler, max_pages=2), "acme", SINCE))
    assert pages == [1, 2]


def test_stops_at_posts_older_than_since() -> None:
    pages: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        page = int(request.url.params["page"])
        pages.append(page)
        return httpx.Response(200, json=_page(page))

    # Page 1 holds 13:00, 12:00, 11:00; page 2 holds 03:00, 02:00, 01:00 (on 2026-06-12).
    since = datetime(2026, 6, 12, 2, 30, tzinfo=UTC)
    mentions = asyncio.run(_collect(_source(handler), "acme", since))
    assert pages == [1, 2]
    assert [m.published_at.hour for m in mentions] == [13, 12, 11, 3]


def test_comments_are_searched_only_when_asked() -> None:
    types: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        type_ = request.url.params["type_"]
        types.append(type_)
        page = int(request.url.params["page"])
        return httpx.Response(200, json=_page(page, size=1 if page == 1 else 0, type_=type_))

    without = asyncio.run(_collect(_source(handler), "acme", SINCE))
    assert types == ["Posts", "Posts"]
    assert {m.kind for m in without} == {"post"}
    types.clear()
    both = asyncio.run(_collect(_source(handler, include_comments=True), "acme", SINCE))
    assert types == ["Posts", "Posts", "Comments", "Comments"]
    assert [m.kind for m in both] == ["post", "comment"]


# --- health ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (httpx.Response(401, json={"error": "not_logged_in"}), Unauthorized),
        (httpx.Response(403, json={"error": "site_ban"}), Unauthorized),
        (httpx.Response(429, json={"error": "rate_limit_error"}), RateLimited),
        (
            httpx.Response(
                200,
                headers={"content-type": "text/html"},
                text="<!doctype html><html><body>Checking your browser: please complete the captcha</body></html>",
            ),
            Unauthorized,
        ),
        (httpx.Response(200, headers={"content-type": "application/json"}, text='{"posts": [{'), BadPayload),
        (httpx.Response(200, json={"error": "couldnt_find_object"}), BadPayload),
        (httpx.Response(400, json={"error": "couldnt_find_community"}), FetchError),
    ],
)
def test_http_trouble_becomes_the_right_health_state(response: httpx.Response, expected: type[FetchError]) -> None:
    source = _source(lambda request: response)
    with pytest.raises(expected) as info:
        asyncio.run(_collect(source, "acme", SINCE))
    assert type(info.value) is expected


def test_an_unreadable_post_is_counted_in_the_source_and_the_page_kept() -> None:
    page = _page(1)
    page["posts"][1]["post"]["published"] = "0001-01-01T00:00+05:00"  # no UTC equivalent

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=page if request.url.params["page"] == "1" else _page(2, size=0))

    source = _source(handler)
    mentions = asyncio.run(_collect(source, "acme", SINCE))
    assert [m.id for m in mentions] == [page["posts"][0]["post"]["ap_id"], page["posts"][2]["post"]["ap_id"]]
    assert len(source.context.skipped) == 1
