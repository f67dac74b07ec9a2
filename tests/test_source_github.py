from __future__ import annotations

import asyncio
import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from mentionwatch import USER_AGENT
from mentionwatch.errors import BadPayload, FetchError, RateLimited, Unauthorized
from mentionwatch.http import HttpSettings, SourceHttp, build_client
from mentionwatch.models import Mention
from mentionwatch.source import SourceContext
from mentionwatch.sources.github import (
    GitHubConfig,
    GitHubSource,
    build_query,
    markdown_to_text,
    next_page,
    parse_page,
)

from conftest import load_json

# octokit/fixtures records a whole scenario (create a repo, two issues, search, delete): an array of
# request/response records. The search is the `GET /search/issues?...` record.
RECORDS = load_json("github", "octokit_search_issues_raw_fixture.json")
SEARCH = next(r for r in RECORDS if r["method"] == "get" and r["path"].startswith("/search/issues"))
BODY: dict[str, Any] = SEARCH["response"]
# The recorded response headers, minus those that describe the recorded bytes rather than a re-sent body.
HEADERS = [
    (k, v)
    for k, v in zip(SEARCH["rawHeaders"][::2], SEARCH["rawHeaders"][1::2], strict=True)
    if k.lower() not in ("content-length", "connection")
]


def test_the_record_is_the_search_issues_response() -> None:
    assert SEARCH["status"] == 200
    assert dict(HEADERS)["X-RateLimit-Resource"] == "search"
    assert BODY["total_count"] == 2


def test_parses_both_hits_of_the_recorded_search() -> None:
    mentions, total = parse_page(BODY)
    assert total == 2
    assert [m.title for m in mentions] == ["Sesame seeds split without a pop!", "The doors don’t open"]
    assert all(m.published_at.tzinfo is UTC for m in mentions)


def test_issue_uses_html_url_and_maps_author_comments_and_reactions() -> None:
    mentions, _ = parse_page(BODY)
    issue = mentions[0]
    assert issue.id == "1308970076"
    assert issue.url == (
        "https://github.com/octokit-fixture-org/tmp-scenario-search-issues-20220719044045959-jlcli/issues/2"
    )
    assert issue.link is None
    assert issue.kind == "issue"
    assert issue.author == "octokit-fixture-user-b"
    assert issue.text == "I’ve waited all year long, but there was no pop 😭"
    assert issue.published_at == datetime(2022, 7, 19, 4, 40, 52, tzinfo=UTC)
    assert (issue.comments, issue.likes) == (0, 0)


def test_the_search_relevance_score_is_not_taken_for_votes() -> None:
    assert BODY["items"][0]["score"] == 1  # relevance, as GitHub documents
    mentions, _ = parse_page(BODY)
    assert all(m.score is None for m in mentions)


def test_a_hit_with_a_pull_request_key_is_a_pull_request() -> None:
    # The recording has no pull request: the same hit with the `pull_request` object search adds to PRs.
    item = copy.deepcopy(BODY["items"][1])
    item["pull_request"] = {
        "url": item["url"].replace("/issues/", "/pulls/"),
        "html_url": item["html_url"].replace("/issues/", "/pull/"),
        "diff_url": item["html_url"].replace("/issues/", "/pull/") + ".diff",
        "patch_url": item["html_url"].replace("/issues/", "/pull/") + ".patch",
        "merged_at": None,
    }
    item["reactions"]["total_count"] = 4
    mentions, _ = parse_page(dict(BODY, items=[item]))
    assert mentions[0].kind == "pull_request"
    assert mentions[0].likes == 4
    assert mentions[0].text == 'I tried "open sesame" as seen on Wikipedia but no luck!'


def test_a_hit_without_a_body_has_empty_text() -> None:
    item = dict(BODY["items"][0], body=None)
    mentions, _ = parse_page(dict(BODY, items=[item]))
    assert mentions[0].text == ""


@pytest.mark.parametrize("payload", [{"message": "Not Found"}, {"items": None}, [], "garbage"])
def test_a_wrong_shaped_answer_is_a_bad_payload(payload: Any) -> None:
    with pytest.raises(BadPayload):
        parse_page(payload)


def test_markdown_becomes_plain_text_and_code_is_kept_verbatim() -> None:
    # Written here as test input: the Markdown an issue template and its author typically produce.
    markdown = (
        "<!-- Please describe the bug -->\r\n"
        "## Bug in **Acme** SDK\r\n\r\n"
        "I called `acme.init(x_y_z)` and it *failed* with __error__, ~~again~~.\r\n"
        'See [the docs](https://acme.dev/docs "title") and ![logo](https://acme.dev/l.png) or <https://acme.dev>.\r\n'
        "\r\n```python\r\ndef f(a_b):\r\n    return a * b  # **not bold**\r\n```\r\n"
        "> quoted &amp; escaped\r\n"
        "- [x] done item\r\n"
        "* item with snake_case_name\r\n"
        "1. numbered\r\n\r\n"
        "| col | val |\r\n|-----|-----|\r\n| a | 1 |\r\n\r\n"
        "---\r\n"
        "Literal \\*stars\\* and 2 * 3 * 4.\r\n"
        "[ref]: https://example.com/ref\r\n"
    )
    assert markdown_to_text(markdown) == (
        "Bug in Acme SDK\n"
        "I called acme.init(x_y_z) and it failed with error, again.\n"
        "See the docs and logo or https://acme.dev.\n"
        "def f(a_b):\n"
        "return a * b # **not bold**\n"
        "quoted & escaped\n"
        "done item\n"
        "item with snake_case_name\n"
        "numbered\n"
        "col val\n"
        "a 1\n"
        "Literal *stars* and 2 * 3 * 4."
    )


def test_markdown_to_text_of_nothing_is_empty() -> None:
    assert markdown_to_text(None) == ""
    assert markdown_to_text("") == ""


def test_next_page_comes_from_the_link_header() -> None:
    # The Link header format from GitHub's "Using pagination in the REST API".
    link = (
        '<https://api.github.com/search/issues?q=acme&page=2>; rel="next", '
        '<https://api.github.com/search/issues?q=acme&page=10>; rel="last"'
    )
    assert next_page(link) == 2
    assert next_page('<https://api.github.com/search/issues?q=acme&page=1>; rel="prev"') is None
    assert next_page(None) is None


def test_the_query_quotes_the_term_and_filters_kind_place_and_date() -> None:
    since = datetime(2026, 11, 1, 12, 30, tzinfo=UTC)
    assert (
        build_query("acme corp", "issue", since) == '"acme corp" in:title,body is:issue created:>=2026-11-01T12:30:00Z'
    )
    assert build_query('say "OR" repo:x', "pull_request", since, "-org:acme ") == (
        '"say OR repo:x" in:title,body is:pr created:>=2026-11-01T12:30:00Z -org:acme'
    )


def test_discussions_are_not_a_kind_the_rest_search_can_do() -> None:
    with pytest.raises(ValidationError):
        GitHubConfig.model_validate({"type": "github", "kinds": ["discussion"]})


def test_the_token_is_a_secret() -> None:
    config = GitHubConfig.model_validate({"type": "github", "token": "ghp_from_env"})
    assert config.secret_values() == ["ghp_from_env"]
    assert "ghp_from_env" not in repr(config)


# --- fetch and paging ------------------------------------------------------------------------------------------------

SINCE = datetime(2022, 7, 1, tzinfo=UTC)
BASE = "http://gh.test/api/v3"


def _source(handler: Any, **cfg: Any) -> GitHubSource:
    # The shared client (with its User-Agent), on a mock transport.
    client = build_client(HttpSettings(), transport=httpx.MockTransport(handler))
    # No retries: a 429 or 5xx is reported at once instead of being retried with real waits.
    http = SourceHttp(client, HttpSettings(retries=0))
    ctx = SourceContext(http=http, now=lambda: datetime(2026, 11, 25, tzinfo=UTC))
    return GitHubSource(GitHubConfig(type="github", base_url=BASE, **cfg), ctx)


async def _collect(source: GitHubSource, term: str, since: datetime = SINCE) -> list[Mention]:
    return [m async for m in source.fetch(term, since)]


def _hits(page: int, kind: str = "issue", *, start: datetime = datetime(2022, 7, 19, tzinfo=UTC)) -> dict[str, Any]:
    """The recorded body with its two hits made unique per page and kind, dates going back in time."""
    items = []
    for n, item in enumerate(copy.deepcopy(BODY["items"])):
        item["id"] = item["id"] * 1000 + page * 10 + n + (500 if kind == "pull_request" else 0)
        created = start - timedelta(hours=page * 10 + n)
        item["created_at"] = created.strftime("%Y-%m-%dT%H:%M:%SZ")
        items.append(item)
    return dict(BODY, total_count=40, items=items)


def _kind(request: httpx.Request) -> str:
    return "pull_request" if " is:pr " in request.url.params["q"] else "issue"


def test_asks_search_issues_with_the_documented_parameters_and_headers() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, headers=HEADERS, json=BODY)

    mentions = asyncio.run(_collect(_source(handler), "sesame"))
    assert len(seen) == 2  # issues, then pull requests
    first = seen[0]
    assert first.url.path == "/api/v3/search/issues"
    assert dict(first.url.params) == {
        "q": '"sesame" in:title,body is:issue created:>=2022-07-01T00:00:00Z',
        "sort": "created",
        "order": "desc",
        "per_page": "100",
        "page": "1",
    }
    assert seen[1].url.params["q"] == '"sesame" in:title,body is:pr created:>=2022-07-01T00:00:00Z'
    assert first.headers["accept"] == "application/vnd.github+json"
    assert first.headers["x-github-api-version"] == "2022-11-28"
    assert first.headers["user-agent"] == USER_AGENT
    assert "authorization" not in first.headers
    assert len(mentions) == 4


def test_a_token_is_sent_as_a_bearer_token() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=BODY)

    asyncio.run(_collect(_source(handler, token="ghp_secret", kinds=["issue"]), "sesame"))
    assert [r.headers["authorization"] for r in seen] == ["Bearer ghp_secret"]


def test_kinds_limits_the_queries() -> None:
    queries: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        queries.append(request.url.params["q"])
        return httpx.Response(200, json=BODY)

    asyncio.run(_collect(_source(handler, kinds=["pull_request"], qualifiers="-org:acme"), "sesame"))
    assert queries == ['"sesame" in:title,body is:pr created:>=2022-07-01T00:00:00Z -org:acme']


def test_follows_the_link_header_until_there_is_no_next() -> None:
    pages: list[tuple[str, str]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        page = int(request.url.params["page"])
        pages.append((_kind(request), str(page)))
        headers = dict(HEADERS)
        if page < 3:
            headers["Link"] = (
                f'<{BASE}/search/issues?q=x&page={page + 1}>; rel="next", <{BASE}/search/issues?page=3>; rel="last"'
            )
        return httpx.Response(200, headers=headers, json=_hits(page, _kind(request)))

    mentions = asyncio.run(_collect(_source(handler), "sesame"))
    assert pages == [
        ("issue", "1"),
        ("issue", "2"),
        ("issue", "3"),
        ("pull_request", "1"),
        ("pull_request", "2"),
        ("pull_request", "3"),
    ]
    assert len(mentions) == 12
    assert len({m.id for m in mentions}) == 12


def test_a_short_page_with_a_next_link_is_not_the_end() -> None:
    pages: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        page = int(request.url.params["page"])
        pages.append(page)
        body = _hits(page)
        body["items"] = body["items"][:1]
        headers = {"Link": f'<{BASE}/search/issues?page={page + 1}>; rel="next"'} if page == 1 else {}
        return httpx.Response(200, headers=headers, json=body)

    asyncio.run(_collect(_source(handler, kinds=["issue"]), "sesame"))
    assert pages == [1, 2]


def test_the_token_never_follows_a_link_to_another_host() -> None:
    hosts: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        hosts.append(request.url.host)
        page = int(request.url.params["page"])
        headers = {"Link": '<https://evil.example/search/issues?page=2>; rel="next"'} if page == 1 else {}
        return httpx.Response(200, headers=headers, json=_hits(page))

    asyncio.run(_collect(_source(handler, token="ghp_secret", kinds=["issue"]), "sesame"))
    assert hosts == ["gh.test", "gh.test"]


def test_max_pages_bounds_the_walk() -> None:
    pages: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        page = int(request.url.params["page"])
        pages.append(page)
        return httpx.Response(
            200, headers={"Link": f'<{BASE}/search/issues?page={page + 1}>; rel="next"'}, json=_hits(page)
        )

    asyncio.run(_collect(_source(handler, kinds=["issue"], max_pages=2), "sesame"))
    assert pages == [1, 2]


def test_max_pages_cannot_go_past_the_1000_result_cap() -> None:
    with pytest.raises(ValidationError):
        GitHubConfig(type="github", max_pages=11)


def test_stops_at_hits_older_than_since() -> None:
    pages: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        page = int(request.url.params["page"])
        pages.append(page)
        return httpx.Response(
            200, headers={"Link": f'<{BASE}/search/issues?page={page + 1}>; rel="next"'}, json=_hits(page)
        )

    # Page 1 holds 2022-07-18 14:00 and 13:00; page 2 holds 04:00 and 03:00.
    since = datetime(2022, 7, 18, 3, 30, tzinfo=UTC)
    mentions = asyncio.run(_collect(_source(handler, kinds=["issue"]), "sesame", since))
    assert pages == [1, 2]
    assert [m.published_at.hour for m in mentions] == [14, 13, 4]


# --- health ----------------------------------------------------------------------------------------------------------


def _forbidden_then_rate_limit(search_remaining: int, seen: list[str]) -> Any:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        headers = {"X-RateLimit-Limit": "10", "X-RateLimit-Remaining": str(search_remaining)}
        return httpx.Response(403, headers=headers, json={"message": "API rate limit exceeded"})

    return handler


def test_403_with_the_search_budget_used_up_is_rate_limited_not_unauthorized() -> None:
    seen: list[str] = []
    source = _source(_forbidden_then_rate_limit(0, seen), kinds=["issue"])
    with pytest.raises(RateLimited, match="rate limit"):
        asyncio.run(_collect(source, "sesame"))
    assert seen == ["/api/v3/search/issues"]


def test_403_for_a_secondary_rate_limit_is_rate_limited() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        message = "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
        return httpx.Response(403, json={"message": message})

    with pytest.raises(RateLimited, match="secondary rate limit"):
        asyncio.run(_collect(_source(handler, kinds=["issue"]), "sesame"))


def test_403_with_budget_left_is_unauthorized() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        headers = {"X-RateLimit-Limit": "10", "X-RateLimit-Remaining": "7"}
        return httpx.Response(403, headers=headers, json={"message": "Resource not accessible by integration"})

    with pytest.raises(Unauthorized) as info:
        asyncio.run(_collect(_source(handler, kinds=["issue"]), "sesame"))
    assert type(info.value) is Unauthorized


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (httpx.Response(401, json={"message": "Bad credentials"}), Unauthorized),
        (httpx.Response(429, json={"message": "slow down"}), RateLimited),
        (httpx.Response(422, json={"message": "Validation Failed"}), FetchError),
        (httpx.Response(200, html="<html><body>Sign in to GitHub</body></html>"), Unauthorized),
        (
            httpx.Response(200, content=b'{"total_count": 1, "items": [', headers={"content-type": "application/json"}),
            BadPayload,
        ),
        (httpx.Response(200, json={"message": "no items key"}), BadPayload),
    ],
)
def test_http_trouble_becomes_the_right_health_state(response: httpx.Response, expected: type[FetchError]) -> None:
    source = _source(lambda request: response, kinds=["issue"])
    with pytest.raises(expected) as info:
        asyncio.run(_collect(source, "sesame"))
    assert type(info.value) is expected


def test_an_unreadable_hit_is_counted_in_the_source_and_the_page_kept() -> None:
    page = _hits(1)
    page["items"][0]["created_at"] = "9999-12-31T23:59:59-05:00"  # no UTC equivalent

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers=HEADERS, json=page)

    source = _source(handler, kinds=("issue",))
    mentions = asyncio.run(_collect(source, "sesame"))
    assert [m.id for m in mentions] == [str(page["items"][1]["id"])]
    assert len(source.context.skipped) == 1
