"""Issue #4: one `mentionwatch scan`, as a subprocess, over one source of every built-in type at once.

Every source's `base_url` points at a loopback server (`e2e_server.E2EServer`, GET and POST) that serves the real
recorded payloads of `tests/fixtures/<type>/` on each API's real path (mounted below a folder named after the real
host, e.g. `/api.github.com/search/issues`). Credentials come from `${ENV}` variables set only in the subprocess's
environment; none of them may be printed.

The brands are few on purpose. Every brand word is searched on every searchable source, and the adapters space
their requests to each service's documented budget (Lemmy 6 a minute: 10 s apart; GitHub and anonymous Reddit 10;
X 30), which the config cannot lift for a test server: each search term costs 10 s on Lemmy. The recordings share
no meaningful word, and three of them have almost none (Mastodon's one status is "#hoot (hashtag toot)", Lemmy's one
post "Live recording (thread 8)", X's posts "<timestamp> tweepy"); no two of those three share even a two-letter
prefix (the shortest wildcard a query allows). So four search terms are the fewest that reach every recording:
`tweepy` (X), `hoot` (Mastodon), `coronavirus` (the Reddit search listing) and the prefix `th*` (searched as `th`)
for the rest, whose only common words are "the", "this", "that", "thread". That the right recorded items reach the
output is checked source by source below.
"""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from e2e_server import E2EServer, Received
from mentionwatch.sources.rss import parse_feed

from conftest import Reply, Run, fixture_path, load_json

pytestmark = pytest.mark.e2e

SINCE = "2010-01-01"
SINCE_EPOCH = 1262304000  # 2010-01-01T00:00:00Z
SINCE_RFC3339 = "2010-01-01T00:00:00Z"

# Recognisable fake secrets: each must reach its server, and none may be printed.
SECRETS = {
    "REDDIT_CLIENT_ID": "e2e-reddit-client-id-5Qm1",
    "REDDIT_CLIENT_SECRET": "e2e-reddit-client-secret-Zx8v",
    "MASTODON_TOKEN": "e2e-mastodon-token-Hq3k",
    "BLUESKY_APP_PASSWORD": "e2e-bsky-app-password-Wn7p",
    "STACKEXCHANGE_KEY": "e2e-stackexchange-key-Lr2d",
    "GITHUB_TOKEN": "e2e-github-token-Tb9c",
    "YOUTUBE_KEY": "e2e-youtube-key-Jf4s",
    "X_BEARER_TOKEN": "e2e-x-bearer-token-Pv6u",
    "FACEBOOK_PAGE_TOKEN": "e2e-facebook-page-token-Gm5w",
    "INSTAGRAM_TOKEN": "e2e-instagram-token-Rc8y",
}
REDDIT_BASIC = base64.b64encode(f"{SECRETS['REDDIT_CLIENT_ID']}:{SECRETS['REDDIT_CLIENT_SECRET']}".encode()).decode()

JSON = "application/json; charset=utf-8"
SOURCES = (
    "hn",
    "rss",
    "jsonl",
    "reddit",
    "reddit-oauth",
    "mastodon",
    "bluesky",
    "stackexchange",
    "github",
    "lemmy",
    "devto",
    "youtube",
    "x",
    "facebook_page",
    "instagram_account",
)


# --- The recorded payloads, taken out of their recordings the way the adapters' unit tests take them ------------


def _text(*parts: str) -> str:
    return fixture_path(*parts).read_text(encoding="utf-8")


def _betamax(name: str, index: int) -> tuple[bytes, str]:
    """Body and content type of one response of a PRAW betamax cassette."""
    response = load_json("reddit", name)["interactions"][index]["response"]
    return response["body"]["string"].encode(), response["headers"]["Content-Type"][0]


def _vcrpy(folder: str, name: str, method: str, path: str, query_has: str = "") -> tuple[bytes, str]:
    """Body and content type of the first response to `method path` in a vcrpy cassette (Mastodon.py, tweepy)."""
    for interaction in yaml.safe_load(_text(folder, name))["interactions"]:
        request, response = interaction["request"], interaction["response"]
        url = httpx.URL(request["uri"])
        if request["method"] == method and url.path == path and query_has in str(url.query, "ascii"):
            raw = response["body"]["string"]
            # tweepy's body is a YAML `!!binary`: the gzip bytes as they came over the wire.
            body = gzip.decompress(raw) if isinstance(raw, bytes) else raw.encode()
            return body, response["headers"]["content-type"][0]
    raise LookupError(f"{method} {path} not in {folder}/{name}")


def _r_vcr(name: str) -> tuple[bytes, str]:
    """Body and content type of the one response of an R-vcr cassette (bskyr)."""
    response = yaml.safe_load(_text("bluesky", name))["http_interactions"][0]["response"]
    return response["body"]["string"].encode(), response["headers"]["Content-Type"]


HN = fixture_path("hackernews", "search_by_date_query_nodejs_2017.json").read_bytes()
ALERTS = fixture_path("rss", "google_alerts_atom_feedjira.xml").read_bytes()
EXPORT = fixture_path("jsonl", "hackernews-nodejs.jsonl").read_bytes()
REDDIT_SEARCH = fixture_path("reddit", "search_posts_listing_t3.json").read_bytes()
# PRAW's recording of an app-only OAuth login: the token answer (its token replaced by "<ACCESS_TOKEN>" in the
# recording itself), then the search made with it.
REDDIT_TOKEN, REDDIT_TOKEN_TYPE = _betamax("praw_cassette_r_all_search.json", 0)
REDDIT_OAUTH_SEARCH, REDDIT_OAUTH_TYPE = _betamax("praw_cassette_r_all_search.json", 1)
REDDIT_ACCESS_TOKEN = json.loads(REDDIT_TOKEN)["access_token"]
MASTODON_TAG, MASTODON_TAG_TYPE = _vcrpy(
    "mastodon", "mastodonpy_cassette_test_hashtag_tl.yaml", "GET", "/api/v1/timelines/tag/hoot"
)
MASTODON_SEARCH, MASTODON_SEARCH_TYPE = _vcrpy(
    "mastodon", "mastodonpy_cassette_test_search.yaml", "GET", "/api/v2/search", "type=statuses"
)
BSKY_SEARCH, BSKY_SEARCH_TYPE = _r_vcr("bskyr_vcr_searchPosts_2025.yml")
BSKY_PROFILES, BSKY_PROFILES_TYPE = _r_vcr("bskyr_vcr_getProfiles_2025.yml")
# The json-server db holds two real API answers side by side; `questions` is a `/questions` page (same item shape
# as `/search/advanced`), re-serialised as the unit tests use it.
SE_QUESTIONS = json.dumps(
    load_json("stackexchange", "questions_with_body_comments_answers_jsonserver_db.json")["questions"]
)
# octokit/fixtures records a whole scenario; the `GET /search/issues` record is the one served.
GITHUB_SEARCH = json.dumps(
    next(
        r
        for r in load_json("github", "octokit_search_issues_raw_fixture.json")
        if r["method"] == "get" and r["path"].startswith("/search/issues")
    )["response"]
)
LEMMY_SEARCH = fixture_path("lemmy", "searchResponseV3.json").read_bytes()
DEVTO_LATEST = fixture_path("devto", "devto_api_go_list_response_2019.json").read_bytes()
YOUTUBE_SEARCH = fixture_path("youtube", "pyyoutube_search_by_dev.json").read_bytes()
YOUTUBE_VIDEOS = fixture_path("youtube", "pyyoutube_videos_list_snippet_statistics.json").read_bytes()
X_SEARCH, X_SEARCH_TYPE = _vcrpy("x", "tweepy_cassette_search_recent_tweets.yaml", "GET", "/2/tweets/search/recent")
# The Graph API recordings (python-facebook's testdata). The Page's posts are a recorded feed; comments are read under
# its first post only (`max_posts: 1`), in two cursor pages; the Instagram account's media, comments, replies, tags,
# hashtag search and hashtag media likewise. An edge with nothing on it answers the documented empty page
# (developers.facebook.com/docs/graph-api/reference/user/feed: `{"data": [], "paging": {}}`).
FB_PAGE, IG_USER = "19292868552", "17841406338772941"
FB_POSTS = load_json("facebook_page", "posts_feed_fields_p1.json")
FB_POST = FB_POSTS["data"][0]["id"]
FB_COMMENTS = [fixture_path("facebook_page", f"comments_comments_p{i}.json").read_bytes() for i in (1, 2)]
FB_TAGGED = fixture_path("facebook_page", "posts_tagged_posts.json").read_bytes()
FB_NO_PERMISSION = fixture_path("facebook_page", "error_permission.json").read_bytes()
IG_MEDIA = load_json("instagram_account", "users_medias_p1.json")
IG_COMMENTED = IG_MEDIA["data"][1]["id"]
IG_COMMENTS = [load_json("instagram_account", f"medias_comments_p{i}.json") for i in (1, 2)]
IG_REPLIES = fixture_path("instagram_account", "comments_replies.json").read_bytes()
IG_TAGGED = fixture_path("instagram_account", "users_tagged_medias.json").read_bytes()
IG_SEARCH = load_json("instagram_account", "users_hashtag_search.json")
IG_HASHTAG = [fixture_path("instagram_account", f"hashtags_hashtag_recent_medias_p{i}.json").read_bytes() for i in (1, 2)]
GRAPH_NOTHING = b'{"data": [], "paging": {}}'

# No recording holds a Bluesky login answer. This is the documented minimal shape: the four properties the
# `com.atproto.server.createSession` lexicon requires in its output (bluesky-social/atproto,
# lexicons/com/atproto/server/createSession.json: "required": ["accessJwt", "refreshJwt", "handle", "did"];
# docs.bsky.app/docs/api/com-atproto-server-create-session). The tokens are opaque test values, not JWTs.
BSKY_HANDLE = "mentionwatch-e2e.bsky.social"
BSKY_ACCESS = "e2e-bsky-access-token-Kd5r"
BSKY_SESSION = json.dumps(
    {
        "accessJwt": BSKY_ACCESS,
        "refreshJwt": "e2e-bsky-refresh-token-Ym2e",
        "handle": BSKY_HANDLE,
        "did": "did:plc:5c2r73erhng4bszmxlfdtscf",  # the viewer of the recorded search answers
    }
).encode()


def serve(server: E2EServer) -> None:
    """Every API path the adapters call, each answering its recording."""

    def ok(body: bytes | str, content_type: str = JSON) -> Reply:
        return Reply(200, body.encode() if isinstance(body, str) else body, {"Content-Type": content_type})

    server.route("GET", "/hn.algolia.com/api/v1/search_by_date", ok(HN))
    server.route("GET", "/www.google.com/alerts/feeds/slack", ok(ALERTS, "application/atom+xml"))
    server.route("GET", "/exports/hackernews-nodejs.jsonl", ok(EXPORT, "application/x-ndjson"))
    server.route("GET", "/www.reddit.com/search.json", ok(REDDIT_SEARCH))
    server.route("POST", "/www.reddit.com/api/v1/access_token", ok(REDDIT_TOKEN, REDDIT_TOKEN_TYPE))
    server.route("GET", "/oauth.reddit.com/search", ok(REDDIT_OAUTH_SEARCH, REDDIT_OAUTH_TYPE))
    server.route("GET", "/mastodon.social/api/v1/timelines/tag/hoot", ok(MASTODON_TAG, MASTODON_TAG_TYPE))
    server.route("GET", "/mastodon.social/api/v2/search", ok(MASTODON_SEARCH, MASTODON_SEARCH_TYPE))
    server.route("POST", "/bsky.social/xrpc/com.atproto.server.createSession", ok(BSKY_SESSION))
    server.route("GET", "/bsky.social/xrpc/app.bsky.feed.searchPosts", ok(BSKY_SEARCH, BSKY_SEARCH_TYPE))
    server.route("GET", "/bsky.social/xrpc/app.bsky.actor.getProfiles", ok(BSKY_PROFILES, BSKY_PROFILES_TYPE))
    server.route("GET", "/api.stackexchange.com/2.3/search/advanced", ok(SE_QUESTIONS))
    server.route("GET", "/api.github.com/search/issues", ok(GITHUB_SEARCH))
    server.route("GET", "/lemmy.world/api/v3/search", ok(LEMMY_SEARCH))
    server.route("GET", "/dev.to/api/articles/latest", ok(DEVTO_LATEST))
    server.route("GET", "/www.googleapis.com/youtube/v3/search", ok(YOUTUBE_SEARCH))
    server.route("GET", "/www.googleapis.com/youtube/v3/videos", ok(YOUTUBE_VIDEOS))
    server.route("GET", "/api.x.com/2/tweets/search/recent", ok(X_SEARCH, X_SEARCH_TYPE))

    def cursor_pages(first: bytes, second: bytes) -> Callable[[Received], Reply]:
        # The recorded `paging.next` carries `after=after` (the placeholder the recording kept): page 2 then.
        return lambda r: ok(second if r.query.get("after") == ["after"] else first)

    graph = "/graph.facebook.com/v27.0"
    server.route("GET", f"{graph}/{FB_PAGE}/published_posts", ok(json.dumps(FB_POSTS)))
    server.route("GET", f"{graph}/{FB_POST}/comments", cursor_pages(*FB_COMMENTS))
    server.route("GET", f"{graph}/{FB_PAGE}/visitor_posts", ok(GRAPH_NOTHING))
    server.route("GET", f"{graph}/{FB_PAGE}/tagged", ok(FB_TAGGED))
    server.route("GET", f"{graph}/{FB_PAGE}/ratings", Reply(400, FB_NO_PERMISSION, {"Content-Type": JSON}))
    server.route("GET", f"{graph}/{IG_USER}/media", ok(json.dumps(IG_MEDIA)))
    server.route("GET", f"{graph}/{IG_COMMENTED}/comments", cursor_pages(*(json.dumps(c).encode() for c in IG_COMMENTS)))
    for i, comment in enumerate(c for page in IG_COMMENTS for c in page["data"]):
        server.route("GET", f"{graph}/{comment['id']}/replies", ok(IG_REPLIES if i == 0 else GRAPH_NOTHING))
    server.route("GET", f"{graph}/{IG_USER}/tags", ok(IG_TAGGED))
    server.route("GET", f"{graph}/ig_hashtag_search", ok(json.dumps(IG_SEARCH)))
    server.route("GET", f"{graph}/{IG_SEARCH['data'][0]['id']}/recent_media", cursor_pages(*IG_HASHTAG))


def write_config(tmp_path: Path, server: E2EServer) -> Path:
    url = server.url
    # Reddit-with-OAuth talks to `localhost`, the rest to `127.0.0.1` (the same server): requests are paced per
    # service and host, and sharing a host with the anonymous source would pace its token request and search at
    # the anonymous budget (10 a minute, 6 s apart). In production they are different hosts as well.
    oauth_root = f"http://localhost:{server.port}"
    path = tmp_path / "all-sources.yaml"
    path.write_text(
        f"""\
since: 7d  # --since {SINCE} overrides it
brands:
  - name: Tweepy
    terms: [tweepy]
  - name: Hoot
    terms: [hoot]
  - name: Coronavirus
    terms: [coronavirus]
  - name: Th-words
    query: "th*"
sources:
  - type: hackernews
    # Not "hackernews": the jsonl export below keeps the source name it was exported under, "hackernews".
    name: hn
    base_url: {url}/hn.algolia.com/api/v1
    max_pages: 1
  - type: rss
    urls: [{url}/www.google.com/alerts/feeds/slack]
  - type: jsonl
    base_url: {url}/exports
    path: hackernews-nodejs.jsonl
  - type: reddit
    base_url: {url}/www.reddit.com
    max_pages: 1
  - type: reddit
    name: reddit-oauth
    base_url: {oauth_root}/www.reddit.com
    oauth_base_url: {oauth_root}/oauth.reddit.com
    client_id: "${{REDDIT_CLIENT_ID}}"
    client_secret: "${{REDDIT_CLIENT_SECRET}}"
    max_pages: 1
  - type: mastodon
    base_url: {url}/mastodon.social
    tags: [hoot]
    token: "${{MASTODON_TOKEN}}"
    max_pages: 1
  - type: bluesky
    base_url: {url}/bsky.social
    handle: {BSKY_HANDLE}
    app_password: "${{BLUESKY_APP_PASSWORD}}"
    max_pages: 1
  - type: stackexchange
    base_url: {url}/api.stackexchange.com
    key: "${{STACKEXCHANGE_KEY}}"
    max_pages: 1
  - type: github
    base_url: {url}/api.github.com
    token: "${{GITHUB_TOKEN}}"
    kinds: [issue]  # one search per term (each kind is its own search, 6 s apart unauthenticated)
    max_pages: 1
  - type: lemmy
    base_url: {url}/lemmy.world
    max_pages: 1
  - type: devto
    base_url: {url}/dev.to
    max_pages: 1
  - type: youtube
    base_url: {url}/www.googleapis.com/youtube/v3
    key: "${{YOUTUBE_KEY}}"
  - type: x
    base_url: {url}/api.x.com/2
    bearer_token: "${{X_BEARER_TOKEN}}"
    max_pages: 1
  - type: facebook_page
    base_url: {url}/graph.facebook.com
    page_id: "{FB_PAGE}"
    token: "${{FACEBOOK_PAGE_TOKEN}}"
    brand: Hoot  # the Page's comments are Hoot's whatever they say
    max_posts: 1
  - type: instagram_account
    base_url: {url}/graph.facebook.com
    ig_user_id: "{IG_USER}"
    token: "${{INSTAGRAM_TOKEN}}"
    brand: Coronavirus
    hashtags: [developers]
http:
  retries: 0
  timeout: 10
  deadline: 90  # Lemmy needs 30 s for its four searches
""",
        encoding="utf-8",
    )
    return path


@pytest.fixture
def api() -> Iterator[E2EServer]:
    with E2EServer(lifetime=180) as server:  # outlives the subprocess timeout below
        serve(server)
        yield server


TERMS = ["coronavirus", "hoot", "th", "tweepy"]  # what every searchable source is asked for, sorted


def calls(server: E2EServer, method: str, path: str, count: int) -> list[Received]:
    found = server.received(method, path)
    assert len(found) == count, f"{method} {path}: {len(found)} requests, expected {count}"
    return found


def searched(requests: list[Received], param: str) -> list[str]:
    """The values of `param` over a source's requests, sorted: one per search term."""
    return sorted(r.param(param) for r in requests)


def origins(row: dict[str, Any]) -> set[str]:
    return {row["source"], *(seen["source"] for seen in row["also_seen"])}


def test_one_scan_over_every_source_type(tmp_path: Path, api: E2EServer, run_cli: Callable[..., Run]) -> None:
    health_file = tmp_path / "health.json"
    started = datetime.now(UTC)
    run = run_cli(
        "scan",
        "-c",
        str(write_config(tmp_path, api)),
        "--since",
        SINCE,
        "-f",
        "json",
        "--health",
        str(health_file),
        "-v",  # debug logging too: the widest surface a secret could leak through
        env=SECRETS,
        timeout=150,
    )
    assert run.code == 0, run.stderr

    # --- no secret is printed anywhere, nor kept in the health file
    health_text = health_file.read_text(encoding="utf-8")
    for secret in [*SECRETS.values(), REDDIT_BASIC, BSKY_ACCESS]:
        assert secret not in run.stdout + run.stderr + health_text

    # --- every source answered, and every one is credited with at least one kept mention
    report = json.loads(health_text)
    assert report["exit_code"] == 0
    health = {h["name"]: h for h in report["sources"]}
    assert sorted(health) == sorted(SOURCES)
    assert {name: h["state"] for name, h in health.items()} == dict.fromkeys(SOURCES, "ok")
    assert all(h["mentions"] >= 1 for h in health.values()), health

    rows: list[dict[str, Any]] = json.loads(run.stdout)
    by_source: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        for name in origins(row):
            by_source.setdefault(name, []).append(row)
    # The jsonl source keeps the source name its lines were exported under ("hackernews"): it shows under that name.
    assert sorted(by_source) == sorted((set(SOURCES) - {"jsonl"}) | {"hackernews"})
    assert {r["brand"] for r in rows} == {"Tweepy", "Hoot", "Coronavirus", "Th-words"}

    # --- the recorded items came through (titles and texts as the recordings have them)
    def found(name: str, brand: str) -> set[str]:
        return {f"{r['title']} | {r['text']}" for r in by_source[name] if r["brand"] == brand}

    assert {r["source"] for r in rows if r["brand"] == "Tweepy"} == {"x"}
    assert found("x", "Tweepy") and all(t.endswith(" tweepy") for t in found("x", "Tweepy"))
    assert found("mastodon", "Hoot") == {" | #hoot (hashtag toot)"}
    assert "Brazilian president Jair Bolsonaro tests positive for coronavirus | " in found("reddit", "Coronavirus")
    assert "Live recording (thread 8) | " in found("lemmy", "Th-words")
    assert any("Slack" in t for t in found("rss", "Th-words"))
    assert any(t.startswith("[PRAW]") for t in found("reddit-oauth", "Th-words"))
    assert any("redistricting" in t.lower() for t in found("bluesky", "Th-words"))
    assert any(t.startswith("Why is Array.prototype.fill() so slow") for t in found("stackexchange", "Th-words"))
    assert 'The doors don’t open | I tried "open sesame" as seen on Wikipedia but no luck!' in found(
        "github", "Th-words"
    )
    assert any(t.startswith("A year conducting case study reviews.") for t in found("devto", "Th-words"))
    assert any(t.startswith("It's Showtime Online") for t in found("youtube", "Th-words"))
    # HN's hits are also in the export: the export's copy is kept (same permalink), HN's listed in its also_seen.
    hn_urls = {r["url"] for r in by_source["hn"]}
    assert hn_urls and all(u.startswith("https://news.ycombinator.com/item?id=") for u in hn_urls)
    assert hn_urls <= {r["url"] for r in rows if r["source"] == "hackernews"}

    # --- every request carried our User-Agent and was one the server knows
    assert all(r.headers["user-agent"].startswith("mentionwatch/") for r in api.requests)
    assert [(r.method, r.path) for r in api.requests if (r.method, r.path) not in api.routes] == []

    # --- each API was called on its real path with its real parameter names, once per search term
    hn = calls(api, "GET", "/hn.algolia.com/api/v1/search_by_date", 4)
    assert searched(hn, "query") == TERMS
    assert {(r.param("numericFilters"), r.param("tags"), r.param("page")) for r in hn} == {
        (f"created_at_i>={SINCE_EPOCH}", "(story,comment)", "0")
    }
    assert all("hitsPerPage" in r.query for r in hn)

    calls(api, "GET", "/www.google.com/alerts/feeds/slack", 1)
    calls(api, "GET", "/exports/hackernews-nodejs.jsonl", 1)

    reddit = calls(api, "GET", "/www.reddit.com/search.json", 4)
    assert searched(reddit, "q") == TERMS
    assert {(r.param("sort"), r.param("type"), r.param("raw_json")) for r in reddit} == {("new", "link", "1")}
    assert not any("authorization" in r.headers for r in reddit)

    # One app-only token (client credentials grant, HTTP Basic) serves every term's search.
    [token] = calls(api, "POST", "/www.reddit.com/api/v1/access_token", 1)
    assert token.headers["authorization"] == f"Basic {REDDIT_BASIC}"
    assert token.body == b"grant_type=client_credentials"
    oauth = calls(api, "GET", "/oauth.reddit.com/search", 4)
    assert searched(oauth, "q") == TERMS
    assert {(r.param("sort"), r.param("limit"), r.headers["authorization"]) for r in oauth} == {
        ("new", "100", f"bearer {REDDIT_ACCESS_TOKEN}")
    }

    [tag] = calls(api, "GET", "/mastodon.social/api/v1/timelines/tag/hoot", 1)  # read once, whatever the terms
    assert tag.param("limit") == "40"
    mastodon = calls(api, "GET", "/mastodon.social/api/v2/search", 4)
    assert searched(mastodon, "q") == TERMS
    assert {(r.param("type"), r.headers["authorization"]) for r in mastodon} == {
        ("statuses", f"Bearer {SECRETS['MASTODON_TOKEN']}")
    }

    # One login, then every call with its access token.
    [login] = calls(api, "POST", "/bsky.social/xrpc/com.atproto.server.createSession", 1)
    assert json.loads(login.body) == {"identifier": BSKY_HANDLE, "password": SECRETS["BLUESKY_APP_PASSWORD"]}
    bsky = calls(api, "GET", "/bsky.social/xrpc/app.bsky.feed.searchPosts", 4)
    assert searched(bsky, "q") == TERMS
    assert {(r.param("sort"), r.param("since"), r.param("limit")) for r in bsky} == {("latest", SINCE_RFC3339, "100")}
    profiles = api.received("GET", "/bsky.social/xrpc/app.bsky.actor.getProfiles")
    assert profiles and all(0 < len(r.query["actors"]) <= 25 for r in profiles)
    assert all(a.startswith("did:plc:") for r in profiles for a in r.query["actors"])
    assert {r.headers["authorization"] for r in [*bsky, *profiles]} == {f"Bearer {BSKY_ACCESS}"}

    se = calls(api, "GET", "/api.stackexchange.com/2.3/search/advanced", 4)
    assert searched(se, "q") == TERMS
    assert {(r.param("fromdate"), r.param("sort"), r.param("order"), r.param("site")) for r in se} == {
        (str(SINCE_EPOCH), "creation", "desc", "stackoverflow")
    }
    assert {(r.param("filter"), r.param("key")) for r in se} == {("withbody", SECRETS["STACKEXCHANGE_KEY"])}

    github = calls(api, "GET", "/api.github.com/search/issues", 4)
    assert searched(github, "q") == sorted(f'"{t}" in:title,body is:issue created:>={SINCE_RFC3339}' for t in TERMS)
    assert {(r.param("sort"), r.param("order"), r.param("per_page")) for r in github} == {("created", "desc", "100")}
    assert {(r.headers["authorization"], r.headers["x-github-api-version"]) for r in github} == {
        (f"Bearer {SECRETS['GITHUB_TOKEN']}", "2022-11-28")
    }

    lemmy = calls(api, "GET", "/lemmy.world/api/v3/search", 4)
    assert searched(lemmy, "q") == TERMS
    assert {(r.param("type_"), r.param("sort"), r.param("page")) for r in lemmy} == {("Posts", "New", "1")}

    [devto] = calls(api, "GET", "/dev.to/api/articles/latest", 1)  # not searchable: read once
    assert devto.param("page") == "1" and "per_page" in devto.query
    assert devto.headers["accept"] == "application/vnd.forem.api-v1+json"

    youtube = calls(api, "GET", "/www.googleapis.com/youtube/v3/search", 4)
    assert searched(youtube, "q") == TERMS
    assert {(r.param("part"), r.param("type"), r.param("order"), r.param("publishedAfter")) for r in youtube} == {
        ("snippet", "video", "date", SINCE_RFC3339)
    }
    assert {r.param("key") for r in youtube} == {SECRETS["YOUTUBE_KEY"]}
    # Statistics in one batched videos.list call per search page, for all of that page's videos.
    videos = calls(api, "GET", "/www.googleapis.com/youtube/v3/videos", 4)
    page_ids = ",".join(item["id"]["videoId"] for item in json.loads(YOUTUBE_SEARCH)["items"])
    assert {(r.param("id"), r.param("part"), r.param("key")) for r in videos} == {
        (page_ids, "statistics", SECRETS["YOUTUBE_KEY"])
    }

    x = calls(api, "GET", "/api.x.com/2/tweets/search/recent", 4)
    assert searched(x, "query") == TERMS
    assert {r.headers["authorization"] for r in x} == {f"Bearer {SECRETS['X_BEARER_TOKEN']}"}
    assert {(r.param("tweet.fields"), r.param("expansions"), r.param("user.fields")) for r in x} == {
        (
            "created_at,public_metrics,author_id,entities,lang,referenced_tweets,note_tweet",
            "author_id",
            "username,public_metrics",
        )
    }
    # `start_time` is clamped to the 7 days recent search serves; --since still keeps the 2022 recording's posts.
    for r in x:
        start_time = datetime.fromisoformat(r.param("start_time").replace("Z", "+00:00"))
        assert started - timedelta(days=7) <= start_time <= datetime.now(UTC)

    # The Page: comments under its latest post in two cursor pages, tagged posts, and no ratings (the token lacks
    # the permission: said in the health line, the other edges read). Everything there is Hoot's, whatever it says.
    assert health["facebook_page"]["warnings"] == [
        "ratings not read: the token lacks the pages_read_engagement permission"
    ]
    assert "ratings not read" in run.stderr
    page_rows = [r for r in by_source["facebook_page"] if r["brand"] == "Hoot"]
    assert {r["kind"] for r in page_rows} == {"comment", "reply", "tagged"}
    assert any(r["text"].startswith("Boa noite peço ajuda") for r in page_rows)
    first, second = calls(api, "GET", f"/graph.facebook.com/v27.0/{FB_POST}/comments", 2)
    assert (first.param("filter"), first.param("order")) == ("stream", "reverse_chronological")
    assert second.param("after") == "after"
    fb_calls = [r for r in api.requests if f"/{FB_PAGE}/" in r.path or f"/{FB_POST}/" in r.path]
    assert {r.param("access_token") for r in fb_calls} == {SECRETS["FACEBOOK_PAGE_TOKEN"]}
    [tagged] = calls(api, "GET", f"/graph.facebook.com/v27.0/{FB_PAGE}/tagged", 1)
    assert tagged.param("since") == str(SINCE_EPOCH)

    # The Instagram account: comments (two cursor pages) and a reply on its commented media, the media it is tagged
    # in, and the watched hashtag, searched once for its id; the recorded hashtag media have no permalink, so each
    # is skipped on its own and counted.
    ig_rows = [r for r in by_source["instagram_account"] if r["brand"] == "Coronavirus"]
    assert sorted(r["kind"] for r in ig_rows).count("tagged") == 5
    assert {"comment", "reply"} <= {r["kind"] for r in ig_rows}
    assert health["instagram_account"]["skipped"] == 10
    calls(api, "GET", f"/graph.facebook.com/v27.0/{IG_COMMENTED}/comments", 2)
    [search] = calls(api, "GET", "/graph.facebook.com/v27.0/ig_hashtag_search", 1)
    assert (search.param("q"), search.param("user_id")) == ("developers", IG_USER)
    assert search.param("access_token") == SECRETS["INSTAGRAM_TOKEN"]


# --- What a source must say rather than hide (each a scan of its own, on the recordings altered as named) ---------


def _config(tmp_path: Path, brands: str, sources: str) -> Path:
    path = tmp_path / "c.yaml"
    path.write_text(f"since: 7d\nbrands:\n{brands}sources:\n{sources}http:\n  retries: 0\n  timeout: 10\n", "utf-8")
    return path


def _scan(run_cli: Callable[..., Run], cfg: Path, health_file: Path) -> tuple[Run, dict[str, dict[str, Any]]]:
    run = run_cli("scan", "-c", str(cfg), "--since", SINCE, "-f", "json", "--health", str(health_file), env=SECRETS)
    return run, {h["name"]: h for h in json.loads(health_file.read_text(encoding="utf-8"))["sources"]}


def test_a_feed_cut_short_keeps_what_it_read_and_says_so_on_every_scan(
    tmp_path: Path, run_cli: Callable[..., Run]
) -> None:
    """The first half of the Google Alerts recording, with a Content-Length to match (a download cut short at the
    server): its whole entries are kept and the health line says the rest is missing, again when the feed comes
    back unchanged (HTTP 304)."""
    half = ALERTS[: len(ALERTS) // 2]
    read = half.count(b"</entry>")
    path = "/www.google.com/alerts/feeds/slack"

    def feed(request: Received) -> Reply:
        if request.headers.get("if-none-match") == '"v1"':
            return Reply(304, b"", {"ETag": '"v1"'})
        return Reply(200, half, {"Content-Type": "application/atom+xml", "ETag": '"v1"'})

    with E2EServer(lifetime=60) as server:
        server.route("GET", path, feed)
        url = f"{server.url}{path}"
        cfg = _config(tmp_path, "  - name: Slack\n    terms: [Slack]\n", f"  - type: rss\n    urls: [{url}]\n")
        warning = f"{url} ends before its feed element is closed (cut short?): {read} entries read"
        first, health = _scan(run_cli, cfg, tmp_path / "first.json")
        assert first.code == 0, first.stderr
        assert (health["rss"]["state"], health["rss"]["items"], health["rss"]["warnings"]) == ("ok", read, [warning])
        assert warning in first.stderr
        # Only entries read whole: the one the cut fell in is left to the next complete read.
        whole = [m.id for m in parse_feed(ALERTS, url, datetime.now(UTC))]
        rows = json.loads(first.stdout)
        assert rows and {r["id"] for r in rows} <= set(whole[:read])

        again, health = _scan(run_cli, cfg, tmp_path / "again.json")
        assert again.code == 0, again.stderr
        assert [r.headers.get("if-none-match") for r in server.received("GET", path)] == [None, '"v1"']
        assert (health["rss"]["state"], health["rss"]["warnings"]) == ("not modified", [warning])
        assert warning in again.stderr and again.stdout == first.stdout


def test_graph_ids_of_the_wrong_type_are_skipped_and_counted_never_requested(
    tmp_path: Path, run_cli: Callable[..., Run]
) -> None:
    """The Page's posts with every value wrapped in a list, the account's media with every value wrapped in an
    object: each was the path of the next request (`/['4_10113477241177441']/comments`), a 404 that failed the
    source. Each is an unreadable item now, and the other edges are read."""
    with E2EServer(lifetime=60) as server:
        serve(server)
        graph = "/graph.facebook.com/v27.0"
        posts = {**FB_POSTS, "data": [{k: [v] for k, v in post.items()} for post in FB_POSTS["data"]]}
        server.route("GET", f"{graph}/{FB_PAGE}/published_posts", Reply(200, json.dumps(posts).encode(), {}))
        media = {**IG_MEDIA, "data": [{k: {"v": v} for k, v in item.items()} for item in IG_MEDIA["data"]]}
        server.route("GET", f"{graph}/{IG_USER}/media", Reply(200, json.dumps(media).encode(), {}))
        root = f"{server.url}/graph.facebook.com"
        sources = (
            f'  - type: facebook_page\n    base_url: {root}\n    page_id: "{FB_PAGE}"\n'
            '    token: "${FACEBOOK_PAGE_TOKEN}"\n    max_posts: 1\n'
            f'  - type: instagram_account\n    base_url: {root}\n    ig_user_id: "{IG_USER}"\n'
            '    token: "${INSTAGRAM_TOKEN}"\n'
        )
        run, health = _scan(run_cli, _config(tmp_path, "  - name: Hoot\n    terms: [hoot]\n", sources), tmp_path / "h.json")
        assert run.code == 0, run.stderr
        assert {name: (h["state"], h["skipped"]) for name, h in health.items()} == {
            "facebook_page": ("ok", 1),  # `max_posts: 1`
            "instagram_account": ("ok", 2),
        }
        rows = json.loads(run.stdout)
        assert sorted(r["kind"] for r in rows if r["source"] == "facebook_page") == ["tagged"] * 3
        assert sorted(r["kind"] for r in rows if r["source"] == "instagram_account") == ["tagged"] * 5
        assert [r.path for r in server.requests if ("GET", r.path) not in server.routes] == []


def test_a_login_wall_is_unauthorized_for_a_jsonl_export_as_for_a_json_api(
    tmp_path: Path, run_cli: Callable[..., Run]
) -> None:
    wall = Reply(200, b"<!DOCTYPE html><html><body><form>Please log in</form></body></html>", {"Content-Type": "text/html"})
    with E2EServer(lifetime=60) as server:
        server.route("GET", "/exports/hackernews-nodejs.jsonl", wall)
        server.route("GET", "/hn.algolia.com/api/v1/search_by_date", wall)
        sources = (
            f"  - type: jsonl\n    base_url: {server.url}/exports\n    path: hackernews-nodejs.jsonl\n"
            f"  - type: hackernews\n    base_url: {server.url}/hn.algolia.com/api/v1\n    max_pages: 1\n"
        )
        run, health = _scan(run_cli, _config(tmp_path, "  - name: Node\n    terms: [node]\n", sources), tmp_path / "h.json")
    assert run.code == 4, run.stderr
    assert {name: (h["state"], h["skipped"]) for name, h in health.items()} == {
        "jsonl": ("unauthorized", 0),
        "hackernews": ("unauthorized", 0),
    }
    assert "served an HTML login or block page instead of JSON Lines" in health["jsonl"]["error"]
    assert "JSONDecodeError" not in run.stderr and "no valid JSON Lines" not in run.stderr
