"""GitHub issues and pull requests, through the REST search API (`GET /search/issues`), newest first; replies
are issue comments."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

from pydantic import Field, SecretStr

from mentionwatch.plugin import (
    BadPayload,
    FetchError,
    Mention,
    PostedReply,
    RateLimited,
    Replier,
    ReplyOptions,
    ReplyRequest,
    Response,
    Source,
    SourceConfig,
    Unauthorized,
    check_length,
    markdown_to_text,
    parse_time,
    read_items,
    send_request,
    since_split,
)
from mentionwatch.plugin import json_dict as _dict
from mentionwatch.plugin import json_int as _int

log = logging.getLogger(__name__)

# https://docs.github.com/rest/about-the-rest-api/api-versions
API_VERSION = "2022-11-28"
PER_PAGE = 100
# "the GitHub REST API provides up to 1,000 results for each search" (docs.github.com/rest/search/search):
# with 100 per page, page 10 is the last one GitHub will serve.
RESULT_CAP = 1000
_QUALIFIER = {"issue": "is:issue", "pull_request": "is:pr"}
_LINK = re.compile(r'<([^>]*)>\s*;\s*rel="([^"]*)"')
# An issue's or pull request's page: github.com/OWNER/REPO/issues/N or /pull/N (a pull request is an issue too).
_ISSUE_PAGE = re.compile(r"^/([^/]+)/([^/]+)/(?:issues|pull)/(\d+)(?:/|$)")
# GitHub refuses a comment body over 65,536 characters ("Body is too long (maximum is 65536 characters)").
COMMENT_LIMIT = 65536


class GitHubConfig(SourceConfig):
    base_url: str = "https://api.github.com"
    token: SecretStr | None = Field(
        None,
        description="a personal access token (no scopes needed for public data): search limit 10 -> 30/min; "
        "replies need one that may write issues and pull requests",
    )
    kinds: tuple[Literal["issue", "pull_request"], ...] = Field(
        ("issue", "pull_request"), min_length=1, description="what to search: issue, pull_request or both"
    )
    qualifiers: str = Field("", description="extra GitHub search qualifiers for every query, e.g. '-org:acme'")
    max_pages: int = Field(
        10, ge=1, le=RESULT_CAP // PER_PAGE, description="pages of 100 per term and kind (GitHub serves 1,000 at most)"
    )


# --- The API -------------------------------------------------------------------------------------------------------


def build_query(term: str, kind: str, since: datetime, qualifiers: str = "") -> str:
    """The `q` parameter: the term as a phrase, in titles and bodies, of one kind, created at or after `since`."""
    # Quoted, so a term is never read as search syntax (`OR`, `-x`, `repo:`); quotes inside it cannot be escaped.
    phrase = '"' + " ".join(term.replace('"', " ").split()) + '"'
    parts = [
        phrase,
        # Without `in:`, comments are searched too, but a search hit carries only the title and body: an issue
        # found through a comment could never be matched to the brand afterwards.
        "in:title,body",
        # GitHub's search now answers 422 to issue searches without `is:issue` or `is:pull-request`
        # (reported in pfnet-research/alertmanager-to-github#64 and GLEAM-Lab/KGCompass#4), so each kind is
        # queried on its own.
        _QUALIFIER[kind],
        f"created:>={since.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%SZ')}",
    ]
    if qualifiers.strip():
        parts.append(qualifiers.strip())
    return " ".join(parts)


def to_mention(item: dict[str, Any]) -> Mention:
    """One search hit (an issue or a pull request) as a Mention. Raises KeyError/TypeError/ValueError on a
    broken one."""
    if item["id"] is None:
        raise KeyError("id")
    # Pull requests are issues to this endpoint; only the presence of the `pull_request` key tells them apart.
    kind = "pull_request" if "pull_request" in item else "issue"
    user = _dict(item.get("user"))
    reactions = _dict(item.get("reactions"))
    return Mention(
        source="",
        id=str(item["id"]),
        url=str(item["html_url"]),
        title=str(item.get("title") or ""),
        text=markdown_to_text(item.get("body")),
        author=str(user.get("login") or ""),
        published_at=parse_time(str(item["created_at"])),
        kind=kind,
        # The hit's own `score` is search relevance (1.0), not votes: it is deliberately not mapped.
        comments=_int(item.get("comments")),
        likes=_int(reactions.get("total_count")),
    )


def parse_page(payload: Any, skipped: list[str] | None = None) -> tuple[list[Mention], int]:
    """The mentions on one search page and the `total_count` GitHub reports for the query; a hit that cannot
    be read is skipped (and why, appended to `skipped`)."""
    if not isinstance(payload, dict) or not isinstance(payload.get("items"), list):
        raise BadPayload("GitHub search answer has no `items` list")
    return read_items(payload["items"], to_mention, skipped), _int(payload.get("total_count")) or 0


def next_page(link_header: str | None) -> int | None:
    """The page number of the `rel="next"` link in a `Link` header, if there is one."""
    for url, rels in _LINK.findall(link_header or ""):
        if "next" in rels.split():
            pages = parse_qs(urlsplit(url).query).get("page")
            if pages and pages[0].isdigit():
                return int(pages[0])
    return None


def _message(response: Response | None) -> str:
    try:
        payload = response.json() if response is not None else None
    except FetchError:
        return ""
    message = payload.get("message") if isinstance(payload, dict) else None
    return message if isinstance(message, str) else ""


def issue_of(url: str) -> tuple[str, str, int]:
    """(owner, repo, number) of an issue's or pull request's web page."""
    found = _ISSUE_PAGE.match(urlsplit(url).path)
    if not found:
        raise BadPayload(f"{url} is not a GitHub issue or pull request page")
    return found.group(1), found.group(2), int(found.group(3))


def _comment(payload: Any) -> PostedReply:
    """An issue comment (what `POST .../comments` answers, and each item of the comments list)."""
    if not isinstance(payload, dict) or payload.get("id") is None:
        raise BadPayload("GitHub answered the comment with no comment")
    return PostedReply(str(payload["id"]), str(payload.get("html_url") or ""), parse_time(str(payload["created_at"])))


class GitHubSource(Source[GitHubConfig], Replier):
    """GitHub issues and pull requests mentioning a term (REST search). Token optional.

    Discussions are not searched: the REST API has no discussion search (only GraphQL's `search(type: DISCUSSION)`,
    which needs a token), so there is no option that would pretend otherwise.
    """

    type = "github"
    credentials = "optional"
    # docs.github.com/rest/search/search#rate-limit: 10 search requests/min unauthenticated, 30/min with a token.
    requests_per_minute = 10

    def rate_per_minute(self) -> float | None:
        return 30 if self.config.token and self.config.token.get_secret_value() else self.requests_per_minute

    async def fetch(self, term: str | None, since: datetime) -> AsyncIterator[Mention]:
        if not term:
            return
        for kind in self.config.kinds:
            async for mention in self._search(term, kind, since):
                yield mention

    async def _search(self, term: str, kind: str, since: datetime) -> AsyncIterator[Mention]:
        cfg = self.config
        url = f"{cfg.base_url.rstrip('/')}/search/issues"
        query = build_query(term, kind, since, cfg.qualifiers)
        page = 1
        for _ in range(cfg.max_pages):
            params = {"q": query, "sort": "created", "order": "desc", "per_page": PER_PAGE, "page": page}
            resp = await self._get(url, params)
            payload = resp.json()
            mentions, total = parse_page(payload, self.context.skipped)
            if payload.get("incomplete_results") is True:
                # The search timed out on GitHub's side and returned what it had (docs: "Timeouts and incomplete
                # results"); the items are still good.
                log.info("GitHub search for %r returned incomplete results", term)
            fresh, older = since_split(mentions, since)
            for mention in fresh:
                yield mention
            following = next_page(resp.headers.get("link"))
            if older or following is None or following <= page:
                if following is None and total > RESULT_CAP and page * PER_PAGE >= RESULT_CAP:
                    log.warning(
                        "GitHub search for %r matched %d items but serves only the first %d; use a shorter `since`",
                        term,
                        total,
                        RESULT_CAP,
                    )
                return
            # Paged by the `Link` header, as GitHub documents, but only its page number is taken: the request
            # (and the token with it) always goes to the configured base_url, never to a host a header names.
            page = following

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": API_VERSION}
        token = self.config.token.get_secret_value() if self.config.token else ""
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return headers

    async def _get(self, url: str, params: dict[str, Any]) -> Response:
        try:
            return await self.context.http.get(url, params=params, headers=self._headers())
        except Unauthorized as exc:
            # A spent primary limit is 403 + `x-ratelimit-remaining: 0`, which the shared client already reports
            # as rate-limited. A *secondary* limit is a 403 that says so only in its body's message
            # (docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api#exceeding-the-rate-limit).
            if "rate limit" in _message(exc.response).lower():
                raise RateLimited(f"{exc}; GitHub: {_message(exc.response)}", exc.response) from None
            raise

    # --- replies: an issue or pull-request comment -------------------------------------------------------------

    def reply_problem(self) -> str | None:
        if self.config.token and self.config.token.get_secret_value():
            return None
        return (
            "replying needs `token`: a token that may comment (fine-grained: Issues and Pull requests, read and "
            "write, on the repositories; classic: public_repo, or repo for private ones)"
        )

    async def prepare_reply(self, mention: Mention, text: str, options: ReplyOptions) -> ReplyRequest:
        """`POST /repos/{owner}/{repo}/issues/{issue_number}/comments` with `{"body": ...}`
        (docs.github.com/rest/issues/comments#create-an-issue-comment); a pull request takes its conversation
        comments through the same endpoint ("Every pull request is an issue")."""
        owner, repo, number = issue_of(mention.url)
        check_length(len(text), COMMENT_LIMIT, unit="characters", platform="GitHub")
        root = self.config.base_url.rstrip("/")
        comments = f"{root}/repos/{owner}/{repo}/issues/{number}/comments"
        return ReplyRequest(
            method="POST",
            url=comments,
            json_body={"body": text},
            headers=self._headers(),
            anchor={"comments": comments},
        )

    async def send_reply(self, request: ReplyRequest) -> PostedReply:
        return _comment((await send_request(self.context.http, request)).json())

    async def find_reply(self, request: ReplyRequest, since: datetime) -> PostedReply | None:
        """The user's comment with this body among the issue's comments since the attempt began
        (`GET .../comments?since=`, docs.github.com/rest/issues/comments#list-issue-comments), the user being who
        the token belongs to (`GET /user`)."""
        comments, body = request.anchor.get("comments"), (request.json_body or {}).get("body")
        if not comments or body is None:
            return None
        me = _dict(
            await self.context.http.get_json(f"{self.config.base_url.rstrip('/')}/user", headers=self._headers())
        )
        after = (since - timedelta(minutes=5)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        listed = await self.context.http.get_json(
            comments, params={"since": after, "per_page": 100}, headers=self._headers()
        )
        for item in listed if isinstance(listed, list) else []:
            if _dict(_dict(item).get("user")).get("login") == me.get("login") and _dict(item).get("body") == body:
                return _comment(item)
        return None
