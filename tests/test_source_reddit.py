from __future__ import annotations

import asyncio
import base64
import copy
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from mentionwatch.errors import BadPayload, RateLimited, Unauthorized
from mentionwatch.impact import score_impact
from mentionwatch.models import Mention
from mentionwatch.sources.reddit import RedditConfig, RedditSource, parse_listing

from conftest import load_json, mock_context

SEARCH = load_json("reddit", "search_posts_listing_t3.json")
COMMENTS = load_json("reddit", "user_comments_listing_t1.json")
PRAW_SEARCH = load_json("reddit", "praw_cassette_r_all_search.json")
PRAW_SAVED = load_json("reddit", "praw_cassette_listing_with_ratelimit_headers.json")
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def betamax_body(cassette: dict[str, Any], index: int) -> Any:
    """The JSON body of one recorded response in a betamax cassette (PRAW's format)."""
    return json.loads(cassette["interactions"][index]["response"]["body"]["string"])


OAUTH_SEARCH = betamax_body(PRAW_SEARCH, 1)
TOKEN_ANSWER = betamax_body(PRAW_SEARCH, 0)  # {"access_token": "<ACCESS_TOKEN>", "expires_in": 3600, ...}


# --- the parser, on the real payloads --------------------------------------------------------------------------


def test_reddit_parses_every_post_of_the_real_search_listing() -> None:
    mentions, after = parse_listing(SEARCH)
    assert [m.id for m in mentions] == ["t3_hybow9", "t3_hmwhd7"]
    assert after == "t3_hmwhd7"
    first = mentions[0]
    assert first.kind == "post"
    assert first.title == "Pregnancy test"
    assert first.author == "chocolat_ice_cream"
    assert first.score == 103829
    assert first.comments == 3748
    assert first.text == ""


def test_reddit_uses_permalink_not_linked_url() -> None:
    mentions, _ = parse_listing(SEARCH)
    news = mentions[1]
    assert (
        news.url
        == "https://www.reddit.com/r/worldnews/comments/hmwhd7/brazilian_president_jair_bolsonaro_tests_positive/"
    )
    assert news.link == (
        "https://www.theguardian.com/world/2020/jul/07/jair-bolsonaro-coronavirus-positive-test-brazil-president"
    )


def test_reddit_time_is_created_utc_not_the_shifted_created_field() -> None:
    first = parse_listing(SEARCH)[0][0]
    # `created_utc` 1595787264; the legacy `created` (1595816064) is 8 hours off.
    assert first.published_at == datetime(2020, 7, 26, 18, 14, 24, tzinfo=UTC)


def test_reddit_subreddit_subscribers_are_not_the_authors_followers() -> None:
    mentions, _ = parse_listing(SEARCH)
    # The recording's posts are in subreddits of 2,599,948 and 24,651,441 subscribers: the venue's audience, not
    # what the author's words reach. Listings count no followers and no views: reach is unknown.
    assert [c["data"]["subreddit_subscribers"] for c in SEARCH["data"]["children"][:2]] == [2599948, 24651441]
    assert [(m.followers, m.views) for m in mentions] == [(None, None), (None, None)]


def test_a_quiet_reddit_post_in_a_huge_subreddit_is_neither_loud_nor_impactful() -> None:
    [_, post], _ = parse_listing(SEARCH)
    post.score, post.comments = 1, 0  # one upvote (its own), no comment, in r/worldnews (24.6M subscribers)
    post.brand, post.matched_terms = "Acme", ["Acme"]
    post.sentiment, post.sentiment_label = -0.6, "negative"
    score_impact([post], reply_reach={"Acme": 1000})
    assert post.reach is None
    assert post.impact is not None and post.impact < 10
    assert not post.needs_reply, "a subreddit's subscribers are not the author's reach (rule 3)"


def test_reddit_self_post_links_nowhere_and_its_rendered_body_becomes_text() -> None:
    mentions, after = parse_listing(OAUTH_SEARCH)
    assert after is None
    first = mentions[0]
    assert first.id == "t3_3gpbiu"
    assert first.link is None
    assert first.text.startswith("solved\nProblem solved with this: /r/redditdev/comments/3gpbiu/")
    assert "<p>" not in first.text and "<a href" not in first.text and "SC_OFF" not in first.text


def test_reddit_drops_the_search_ref_query_from_permalinks() -> None:
    mentions, _ = parse_listing(OAUTH_SEARCH)
    # The 2016 answer's permalinks end in `?ref=search_posts`; the same post must keep one URL.
    assert (
        mentions[0].url
        == "https://www.reddit.com/r/redditdev/comments/3gpbiu/prawoauth2util_problem_using_get_banned_raise/"
    )
    assert not any("?" in m.url for m in mentions)


def test_reddit_comment_is_a_comment_with_its_escaped_html_cleaned() -> None:
    [comment], after = parse_listing(COMMENTS)
    assert after == "t1_f0zsa37"
    assert comment.id == "t1_f0zsa37"
    assert comment.kind == "comment"
    # This recording has no raw_json=1: body_html is entity-escaped once more (`&lt;div class="md"&gt;`).
    assert comment.text == "Thank you!"
    assert comment.url == (
        "https://www.reddit.com/r/apple/comments/d7ejpn/im_giving_away_an_iphone_11_pro_to_a_commenter_at/f0zsa37/"
    )
    assert comment.published_at == datetime(2019, 9, 21, 21, 38, 16, tzinfo=UTC)
    # Its post is a self post: nothing external. And a comment's num_comments is its post's, not its own.
    assert comment.link is None
    assert comment.comments is None
    assert comment.score == 1


def test_reddit_mixed_listing_maps_t1_to_comment_and_t3_to_post() -> None:
    mentions, _ = parse_listing(betamax_body(PRAW_SAVED, 1))
    assert mentions[0].kind == "comment" and mentions[0].id == "t1_cmah042"
    assert mentions[0].text == "Have some unicode: (Ð, Ý)\n+Edit Text"
    # A 2016 comment has no `permalink` field: it is rebuilt from its post and comment ids.
    assert mentions[0].url == "https://www.reddit.com/r/reddit_api_test/comments/2n5e28/_/cmah042/"
    assert mentions[0].link is not None and mentions[0].link.startswith("http://en.wikipedia.org/wiki/")
    assert {m.kind for m in mentions[1:]} == {"post"}


def test_reddit_deleted_and_removed_bodies_and_authors_become_empty() -> None:
    listing = copy.deepcopy(OAUTH_SEARCH)
    post = listing["data"]["children"][0]["data"]
    # How Reddit shows a post removed by moderators whose author then deleted the account (edited in here).
    post["author"] = "[deleted]"
    post["selftext"] = "[removed]"
    post["selftext_html"] = '<!-- SC_OFF --><div class="md"><p>[removed]</p>\n</div><!-- SC_ON -->'
    comments = copy.deepcopy(COMMENTS)
    comment = comments["data"]["children"][0]["data"]
    comment["author"] = "[deleted]"
    comment["body"] = "[deleted]"
    comment["body_html"] = '&lt;div class="md"&gt;&lt;p&gt;[deleted]&lt;/p&gt;\n&lt;/div&gt;'

    removed = parse_listing(listing)[0][0]
    deleted = parse_listing(comments)[0][0]
    assert (removed.text, removed.author) == ("", "")
    assert removed.title == "[PRAW][OAuth2Util] Problem using get_banned() : raise Forbidden(_raw=response)"
    assert (deleted.text, deleted.author) == ("", "")


def test_reddit_children_of_other_kinds_or_broken_are_skipped() -> None:
    listing = copy.deepcopy(SEARCH)
    children = listing["data"]["children"]
    del children[0]["data"]["created_utc"]
    children.append({"kind": "t5", "data": {"name": "t5_2qh13"}})
    mentions, _ = parse_listing(listing)
    assert [m.id for m in mentions] == ["t3_hmwhd7"]


@pytest.mark.parametrize(
    "payload",
    [[], "Listing", {"kind": "t3", "data": {}}, {"kind": "Listing", "data": {"children": None}}],
)
def test_reddit_a_payload_that_is_not_a_listing_is_bad(payload: Any) -> None:
    with pytest.raises(BadPayload):
        parse_listing(payload)


def test_reddit_error_object_is_bad_payload_with_its_message() -> None:
    with pytest.raises(BadPayload, match="Forbidden"):
        parse_listing({"message": "Forbidden", "error": 403})


def test_reddit_bare_empty_object_means_no_results() -> None:
    assert parse_listing({}) == ([], None)


# --- fetching: paths, params, paging, since ----------------------------------------------------------------------


Handler = Callable[[httpx.Request], httpx.Response]


def _source(handler: Handler, now: Callable[[], datetime] = lambda: NOW, **cfg: Any) -> RedditSource:
    ctx = mock_context(handler, now)
    config = RedditConfig(
        type="reddit", base_url="http://reddit.test", oauth_base_url="http://oauth.reddit.test", **cfg
    )
    return RedditSource(config, ctx)


async def _collect(source: RedditSource, term: str, since: datetime) -> list[Mention]:
    return [m async for m in source.fetch(term, since)]


def _run(source: RedditSource, term: str = "coronavirus", since: datetime = datetime(2020, 1, 1, tzinfo=UTC)) -> Any:
    return asyncio.run(_collect(source, term, since))


def _listing(after: str | None, suffix: str = "") -> dict[str, Any]:
    """The real search listing, with `after` and (for a second page) the ids changed."""
    body: dict[str, Any] = copy.deepcopy(SEARCH)
    body["data"]["after"] = after
    for child in body["data"]["children"]:
        child["data"]["name"] += suffix
    return body


def test_reddit_anonymous_search_reads_public_search_json_newest_first() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=_listing(None))

    mentions = _run(_source(handler), "bolsonaro")
    assert len(mentions) == 2
    [request] = seen
    assert request.url.host == "reddit.test"
    assert request.url.path == "/search.json"
    params = request.url.params
    assert params["q"] == "bolsonaro"
    assert params["sort"] == "new"
    assert params["raw_json"] == "1"
    assert params["limit"] == "100"
    assert params["type"] == "link"
    assert "restrict_sr" not in params
    assert "authorization" not in request.headers


def test_reddit_subreddits_are_searched_together_with_restrict_sr() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=_listing(None))

    _run(_source(handler, subreddits=["r/worldnews", "/r/WatchPeopleDieInside"]))
    assert seen[0].url.path == "/r/worldnews+WatchPeopleDieInside/search.json"
    assert seen[0].url.params["restrict_sr"] == "1"


def test_reddit_short_page_is_not_the_end_after_is() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        # Two posts on a page of up to 100, and yet Reddit names a next page: it is read.
        if "after" not in request.url.params:
            return httpx.Response(200, json=_listing("t3_hmwhd7"))
        return httpx.Response(200, json=_listing(None, suffix="p2"))

    mentions = _run(_source(handler))
    assert [r.url.params.get("after") for r in seen] == [None, "t3_hmwhd7"]
    assert [m.id for m in mentions] == ["t3_hybow9", "t3_hmwhd7", "t3_hybow9p2", "t3_hmwhd7p2"]


def test_reddit_stops_paging_at_posts_older_than_since() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(200, json=_listing("t3_hmwhd7"))

    # The listing holds 2020-07-26 and 2020-07-07: since 2020-07-10 keeps the first and ends the walk.
    mentions = _run(_source(handler), since=datetime(2020, 7, 10, tzinfo=UTC))
    assert [m.id for m in mentions] == ["t3_hybow9"]
    assert calls == 1


def test_reddit_max_pages_bounds_the_walk() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(200, json=_listing(f"t3_page{calls}", suffix=str(calls)))

    _run(_source(handler, max_pages=3))
    assert calls == 3


# --- OAuth ---------------------------------------------------------------------------------------------------------


class OAuthReddit:
    """A stand-in for www.reddit.com's token endpoint and oauth.reddit.com, answering the recorded bodies."""

    def __init__(self, token_answers: list[httpx.Response] | None = None) -> None:
        self.token_requests: list[httpx.Request] = []
        self.searches: list[httpx.Request] = []
        self.token_answers = token_answers or []
        self.search_answers: list[httpx.Response] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.host == "reddit.test" and request.url.path == "/api/v1/access_token":
            self.token_requests.append(request)
            if self.token_answers:
                return self.token_answers.pop(0)
            return httpx.Response(200, json=TOKEN_ANSWER)
        assert request.url.host == "oauth.reddit.test", request.url
        self.searches.append(request)
        if self.search_answers:
            return self.search_answers.pop(0)
        return httpx.Response(200, json=OAUTH_SEARCH)


CREDS: dict[str, Any] = {"client_id": "my-client-id", "client_secret": "my-client-secret"}


def test_reddit_oauth_gets_a_client_credentials_token_then_searches_the_oauth_host() -> None:
    fake = OAuthReddit()
    mentions = _run(_source(fake, **CREDS), "praw oauth search", since=datetime(2010, 1, 1, tzinfo=UTC))
    assert len(mentions) == 6
    [token_request] = fake.token_requests
    assert token_request.method == "POST"
    assert (
        token_request.headers["authorization"] == "Basic " + base64.b64encode(b"my-client-id:my-client-secret").decode()
    )
    assert token_request.content == b"grant_type=client_credentials"
    [search] = fake.searches
    assert search.url.path == "/search"
    assert search.headers["authorization"] == "bearer <ACCESS_TOKEN>"
    assert search.url.params["q"] == "praw oauth search"
    assert search.url.params["sort"] == "new"


def test_reddit_oauth_token_is_shared_by_concurrent_terms() -> None:
    fake = OAuthReddit()
    source = _source(fake, **CREDS)

    async def both() -> None:
        since = datetime(2010, 1, 1, tzinfo=UTC)
        await asyncio.gather(_collect(source, "praw", since), _collect(source, "oauth", since))

    asyncio.run(both())
    assert len(fake.token_requests) == 1
    assert len(fake.searches) == 2


def test_reddit_oauth_token_is_renewed_when_it_expires() -> None:
    fake = OAuthReddit()
    clock = [NOW]
    source = _source(fake, now=lambda: clock[0], **CREDS)
    since = datetime(2010, 1, 1, tzinfo=UTC)
    asyncio.run(_collect(source, "praw", since))
    clock[0] = NOW + timedelta(minutes=30)
    asyncio.run(_collect(source, "praw", since))
    assert len(fake.token_requests) == 1
    clock[0] = NOW + timedelta(seconds=3600)  # the recorded token lives 3600 s
    asyncio.run(_collect(source, "praw", since))
    assert len(fake.token_requests) == 2


def test_reddit_oauth_token_refused_mid_run_is_renewed_once() -> None:
    fake = OAuthReddit()
    fake.search_answers = [httpx.Response(401, json={"message": "Unauthorized", "error": 401})]
    mentions = _run(_source(fake, **CREDS), "praw", since=datetime(2010, 1, 1, tzinfo=UTC))
    assert len(mentions) == 6
    assert len(fake.token_requests) == 2
    assert len(fake.searches) == 2


def test_reddit_oauth_second_refusal_is_unauthorized() -> None:
    fake = OAuthReddit()
    fake.search_answers = [httpx.Response(401, json={"error": 401}), httpx.Response(401, json={"error": 401})]
    with pytest.raises(Unauthorized):
        _run(_source(fake, **CREDS))
    assert len(fake.searches) == 2


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(401, json={"message": "Unauthorized", "error": 401}),
        httpx.Response(200, json={"error": "invalid_grant"}),
    ],
)
def test_reddit_rejected_app_credentials_are_unauthorized(answer: httpx.Response) -> None:
    fake = OAuthReddit(token_answers=[answer])
    with pytest.raises(Unauthorized):
        _run(_source(fake, **CREDS))
    assert fake.searches == []


# --- health --------------------------------------------------------------------------------------------------------

# An error page as Reddit's edge serves it to blocked networks (hand-written here, not a recording).
BLOCK_PAGE = b"<!DOCTYPE html><html><body><h1>whoa there, pardner!</h1><p>You've been blocked by network security.</p>"


def _answer(response: httpx.Response) -> Handler:
    return lambda request: response


def test_reddit_403_block_page_is_reported_as_blocked_not_as_no_results() -> None:
    response = httpx.Response(403, content=BLOCK_PAGE, headers={"content-type": "text/html"})
    with pytest.raises(Unauthorized, match="blocked"):
        _run(_source(_answer(response)))


def test_reddit_block_page_served_with_200_is_blocked_too() -> None:
    response = httpx.Response(200, content=BLOCK_PAGE, headers={"content-type": "text/html; charset=utf-8"})
    with pytest.raises(Unauthorized, match="blocked"):
        _run(_source(_answer(response)))


def test_reddit_429_is_rate_limited() -> None:
    with pytest.raises(RateLimited):
        _run(_source(_answer(httpx.Response(429, json={"message": "Too Many Requests", "error": 429}))))


@pytest.mark.parametrize("body", [b'{"kind": "Listing", "data": {"chil', b"[1, 2, 3]"])
def test_reddit_garbage_or_wrong_shaped_json_is_bad_payload(body: bytes) -> None:
    response = httpx.Response(200, content=body, headers={"content-type": "application/json"})
    with pytest.raises(BadPayload):
        _run(_source(_answer(response)))


# --- config --------------------------------------------------------------------------------------------------------


def test_reddit_config_needs_both_oauth_secrets_or_neither() -> None:
    with pytest.raises(ValidationError, match="client_secret"):
        RedditConfig(type="reddit", client_id="abc")
    with pytest.raises(ValidationError, match="client_id"):
        RedditConfig(type="reddit", client_secret="abc")
    assert not RedditConfig(type="reddit").uses_oauth
    assert RedditConfig(type="reddit", **CREDS).uses_oauth


def test_reddit_config_secrets_are_known_for_redaction() -> None:
    config = RedditConfig(type="reddit", **CREDS)
    assert sorted(config.secret_values()) == ["my-client-id", "my-client-secret"]
    assert "my-client-secret" not in repr(config)


def test_reddit_config_rejects_what_is_not_a_subreddit_name() -> None:
    with pytest.raises(ValidationError, match="not a subreddit"):
        RedditConfig(type="reddit", subreddits=["world news"])
    assert RedditConfig(type="reddit", subreddits=["r/python", "/r/rust"]).subreddits == ["python", "rust"]


def test_an_unreadable_post_is_counted_in_the_source_and_the_page_kept() -> None:
    body = _listing(None)
    body["data"]["children"][0]["data"]["created_utc"] = 1e20  # seconds no date reaches

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=body)

    source = _source(handler)
    mentions = _run(source)
    assert [m.id for m in mentions] == [c["data"]["name"] for c in body["data"]["children"][1:]]
    assert len(source.context.skipped) == 1


@pytest.mark.parametrize("lifetime", ["1e400", "-5", "9007199254740993", '"soon"'])
def test_a_token_lifetime_no_token_has_is_taken_as_an_hour(lifetime: str) -> None:
    tokens = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal tokens
        if request.url.path == "/api/v1/access_token":
            tokens += 1
            answer = f'{{"access_token": "t{tokens}", "token_type": "bearer", "expires_in": {lifetime}}}'
            return httpx.Response(200, content=answer.encode(), headers={"content-type": "application/json"})
        return httpx.Response(200, json=_listing(None))

    clock = [NOW]
    source = _source(handler, now=lambda: clock[0], client_id="id", client_secret="secret")
    _run(source)
    clock[0] = NOW + timedelta(minutes=30)
    _run(source)
    assert tokens == 1
    clock[0] = NOW + timedelta(minutes=61)
    _run(source)
    assert tokens == 2
