"""A plain `scan` sends its feeds' conditional requests while the command loads (`mentionwatch.prefetch`), and takes
an answer only for the very same request: never a request twice, never an answer to another request."""

from __future__ import annotations

import asyncio
import gzip
import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import httpx
import pytest

from mentionwatch import prefetch
from mentionwatch.cache import HttpCache, default_cache_path
from mentionwatch.config import load_config
from mentionwatch.http import Answer, AnsweredAhead, NotAhead, build_client, key_of
from mentionwatch.pipeline import http_settings
from mentionwatch.prefetch import Prefetch, scan_config
from mentionwatch.registry import Registry

from conftest import LoopbackServer, Reply, Request, Run, fixture_path

ALERTS = fixture_path("rss", "google_alerts_atom_feedjira.xml").read_bytes()  # 20 entries, "Slack", July 2019
ATOM = {"content-type": "application/atom+xml"}


# -- which command lines send ahead


@pytest.mark.parametrize(
    "args",
    [
        ["scan", "-c", "m.yaml"],
        ["scan", "--config", "m.yaml", "-q", "-o", "out.csv"],
        ["scan", "--config=m.yaml", "--new", "--since", "last", "-f", "csv", "-o", "new.csv", "--append"],
        ["scan", "-c", "m.yaml", "--seed", "--db", "x.sqlite3", "--sort", "impact", "--limit", "3", "-v"],
        ["scan", "-c", "m.yaml", "--health", "h.json", "--no-store", "--notify", "--brand", "Acme"],
    ],
)
def test_a_plain_scan_sends_ahead_for_its_config(args: list[str]) -> None:
    assert scan_config(args) == Path("m.yaml")


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["list", "-c", "m.yaml"],
        ["scan", "-c", "m.yaml", "--source", "hn"],  # another choice of sources
        ["scan", "-c", "m.yaml", "--no-cache"],  # unconditional requests
        ["scan", "-c", "m.yaml", "--replay", "bundle"],
        ["scan", "-c", "m.yaml", "--record", "bundle"],
        ["scan", "-c", "m.yaml", "--backfill"],
        ["scan", "-c", "m.yaml", "--shard", "1/2"],
        ["scan", "-c", "m.yaml", "--help"],
        ["scan", "-c", "m.yaml", "-qv"],  # short options run together: not told apart here
        ["scan", "-c", "m.yaml", "--frobnicate"],
        ["scan", "-c"],  # a value missing
        ["scan", "-c", "m.yaml", "--source=hn"],
    ],
)
def test_any_other_command_line_sends_nothing_ahead(args: list[str]) -> None:
    assert scan_config(args) is None


def test_without_c_the_config_is_found_where_the_scan_finds_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert scan_config(["scan"]) is None  # none at all: the scan says so, nothing is sent
    (tmp_path / "mentionwatch.yaml").write_text("brands: []\n")
    assert scan_config(["scan", "-q"]) == Path("mentionwatch.yaml")
    monkeypatch.setenv("MENTIONWATCH_CONFIG", str(tmp_path / "elsewhere.yaml"))
    assert scan_config(["scan"]) == tmp_path / "elsewhere.yaml"


# -- what is sent: the scan's own settings, read from the YAML without the config's checks

BRANDS = "brands:\n  - name: Acme\n    terms: [Acme]\n"


def settings_of(tmp_path: Path, http: str) -> tuple[Any, Any]:
    path = tmp_path / "m.yaml"
    path.write_text(f"{BRANDS}sources:\n  - type: rss\n    urls: [http://127.0.0.1:9/f.xml]\n{http}")
    import yaml

    raw = yaml.safe_load(path.read_text())
    return prefetch._settings(raw), http_settings(load_config(path, Registry.from_entry_points()))


@pytest.mark.parametrize(
    "http",
    [
        "",
        "http:\n  concurrency: 40\n  per_host: 3\n  timeout: 7.5\n  connect_timeout: 2\n  max_bytes: 4096\n",
        "http:\n  timeout: 30\n  retries: 1\n",
    ],
)
def test_the_settings_read_ahead_are_those_the_scan_checks_and_uses(tmp_path: Path, http: str) -> None:
    ahead, scan = settings_of(tmp_path, http)
    # Those the requests are sent with; a retry is the scan's own (an answer that fails is handed over as it came).
    sent_with = ("read_timeout", "connect_timeout", "concurrency", "per_host", "max_bytes", "user_agent")
    assert [getattr(ahead, name) for name in sent_with] == [getattr(scan, name) for name in sent_with]


@pytest.mark.parametrize(
    "http",
    [
        "http:\n  cache: false\n",  # no conditional requests: nothing to ask ahead
        "http:\n  prefetch: false\n",
        "http:\n  concurrency: ${N}\n",  # the config's to judge first
        "http:\n  concurrency: 1000\n",
        "http:\n  timeout: .inf\n",
        "http:\n  per_host: true\n",
        "http: [1]\n",
    ],
)
def test_settings_the_config_must_judge_first_send_nothing_ahead(tmp_path: Path, http: str) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(f"{BRANDS}{http}")
    import yaml

    assert prefetch._settings(yaml.safe_load(path.read_text())) is None


def test_the_feed_urls_are_the_rss_sources_web_addresses_as_written() -> None:
    raw = {
        "sources": [
            {"type": "rss", "urls": ["https://a.example/f.xml", "feed.xml", "https://${HOST}/f.xml", 7]},
            {"type": "rss", "urls": "http://b.example/one.xml"},  # a scalar is a one-item list, as the config reads it
            {"type": "hackernews", "urls": ["https://c.example/f.xml"]},
            "junk",
        ]
    }
    assert prefetch._feed_urls(raw) == ["https://a.example/f.xml", "http://b.example/one.xml"]
    assert prefetch._feed_urls({"sources": {"type": "rss", "urls": ["https://d.example/"]}}) == ["https://d.example/"]
    assert prefetch._feed_urls({"sources": None}) == prefetch._feed_urls([]) == []


# -- the answers handed over


class Feed:
    """A feed with an ETag, answering 304 to it; optionally gzip-encoded."""

    def __init__(self, server: LoopbackServer, path: str, *, zipped: bool = False) -> None:
        self.version = "v1"
        # Its own items: the same global ids in two feeds would be the same items.
        self.body = ALERTS.replace(b"googlealerts/feed:", f"googlealerts{path}:".encode())
        self.zipped = zipped
        server.route(path, self._answer)

    def _answer(self, req: Request) -> Reply:
        etag = f'"{self.version}"'
        if req.headers.get("if-none-match") == etag:
            return Reply(304, b"", {"ETag": etag})
        if self.zipped:
            return Reply(200, gzip.compress(self.body), {**ATOM, "ETag": etag, "Content-Encoding": "gzip"})
        return Reply(200, self.body, {**ATOM, "ETag": etag})


def cached(urls: list[str], etag: str = '"v1"') -> None:
    cache = HttpCache(default_cache_path())
    for url in urls:
        cache.put(url, {"etag": etag, "content-type": "application/atom+xml"}, ALERTS)
    cache.close()


def config_for(tmp_path: Path, urls: list[str], http: str = "") -> Path:
    path = tmp_path / "m.yaml"
    listed = "".join(f"      - {u}\n" for u in urls)
    path.write_text(f"since: 2017-01-01\n{BRANDS}sources:\n  - type: rss\n    urls:\n{listed}{http}")
    return path


def soon(condition: Callable[[], bool], within: float = 5.0) -> bool:
    """Whether `condition` holds within `within` seconds (the server records a request on its own thread)."""
    end = time.monotonic() + within
    while not condition():
        if time.monotonic() > end:
            return False
        time.sleep(0.01)
    return True


def started(config: Path) -> Prefetch:
    ahead = Prefetch(config).start()
    assert ahead.out.wait(5)
    return ahead


async def scan_requests(
    urls: list[str], ahead: Prefetch, inner: httpx.AsyncBaseTransport, settings: Any = None
) -> list[httpx.Response]:
    """Send `urls` as the scan does (its client, its conditional headers) through `AnsweredAhead`, one by one."""
    from mentionwatch.http import ask_if_changed, mark_internal

    settings = settings or http_settings_default()
    answered = AnsweredAhead(inner, ahead, settings)
    async with build_client(settings, transport=answered) as client:
        out = []
        cache = HttpCache(default_cache_path())
        for url in urls:
            request = client.build_request("GET", url)
            mark_internal(request)
            validators = cache.validators(str(request.url))
            if validators is not None:
                ask_if_changed(request, validators)
            response = await client.send(request)
            out.append(response)
        cache.close()
        return out


def http_settings_default() -> Any:
    from mentionwatch.http import HttpSettings

    return HttpSettings()


class Counting(httpx.AsyncBaseTransport):
    """The scan's own way to the network, counting what it is asked to send."""

    def __init__(self) -> None:
        from mentionwatch.http import network_transport

        self.inner = network_transport(http_settings_default())
        self.sent: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(str(request.url))
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


def test_each_request_goes_out_once_and_its_answer_is_the_scans(tmp_path: Path, server: LoopbackServer) -> None:
    urls = [f"{server.url}/f{i}.xml" for i in range(3)]
    feeds = [Feed(server, f"/f{i}.xml", zipped=i == 2) for i in range(3)]
    feeds[1].version = "v2"  # changed since it was cached: its answer is a 200 with the whole (new) feed
    cached(urls)
    ahead = started(config_for(tmp_path, urls))
    assert soon(lambda: len(server.requests) == 3), "sent ahead, before the scan asked"
    own = Counting()
    responses = asyncio.run(scan_requests(urls, ahead, own))
    assert own.sent == [], "the scan sent none of them again"
    assert len(server.requests) == 3
    assert [r.status_code for r in responses] == [304, 200, 304]
    assert responses[1].content == feeds[1].body and responses[1].headers["etag"] == '"v2"'
    assert [r.headers.get("if-none-match") for r in server.requests] == ['"v1"'] * 3
    assert (ahead.sent, ahead.taken) == (3, 3)
    ahead.close()


def test_a_gzipped_answer_is_handed_over_decoded(tmp_path: Path, server: LoopbackServer) -> None:
    url = f"{server.url}/z.xml"
    feed = Feed(server, "/z.xml", zipped=True)
    feed.version = "v2"
    cached([url])
    ahead = started(config_for(tmp_path, [url]))
    [response] = asyncio.run(scan_requests([url], ahead, Counting()))
    assert response.content == feed.body
    assert "content-encoding" not in response.headers and response.headers["etag"] == '"v2"'
    ahead.close()


def test_another_request_is_the_scans_own_to_send(tmp_path: Path, server: LoopbackServer) -> None:
    """Another scan changed the cached validator meanwhile: the request the scan makes is another one."""
    url = f"{server.url}/f.xml"
    Feed(server, "/f.xml")
    cached([url], etag='"v0"')
    ahead = started(config_for(tmp_path, [url]))
    cached([url], etag='"v1"')
    own = Counting()
    [response] = asyncio.run(scan_requests([url], ahead, own))
    assert own.sent == [url]
    assert response.status_code == 304
    assert sorted(r.headers.get("if-none-match") or "" for r in server.requests) == ['"v0"', '"v1"']
    assert ahead.taken == 0
    ahead.close()


def test_a_feed_not_in_the_cache_is_not_sent_ahead(tmp_path: Path, server: LoopbackServer) -> None:
    url = f"{server.url}/f.xml"
    Feed(server, "/f.xml")
    ahead = Prefetch(config_for(tmp_path, [url])).start()
    assert ahead.ready.wait(5)
    ahead.close()
    assert ahead._thread is not None
    ahead._thread.join(5)
    assert server.requests == [] and ahead.sent == 0


class InFlight:
    """Counts the requests a server is answering at once (each held `hold` seconds before its reply)."""

    def __init__(self) -> None:
        self.now = 0
        self.most = 0
        self._lock = threading.Lock()

    def route(self, server: LoopbackServer, path: str, reply: Reply, hold: float) -> None:
        def answer(_req: Request) -> Reply:
            with self._lock:
                self.now += 1
                self.most = max(self.most, self.now)
            server.stopping.wait(hold)
            with self._lock:
                self.now -= 1
            return reply

        server.route(path, answer)


def test_the_look_ahead_keeps_the_caps_and_a_request_of_the_scans_own_waits_for_it(
    tmp_path: Path, server: LoopbackServer
) -> None:
    """One request at a time (`concurrency: 1`), the first slow. A feed asked ahead waits for its turn there; a
    request of the scan's own (a feed the cache does not know) stops the look ahead and goes out once what is on its
    way is answered: never two at once."""
    urls = [f"{server.url}/slow.xml", f"{server.url}/f.xml", f"{server.url}/g.xml"]
    counted = InFlight()
    counted.route(server, "/slow.xml", Reply(304, b"", {"ETag": '"v1"'}), 0.5)
    counted.route(server, "/f.xml", Reply(304, b"", {"ETag": '"v1"'}), 0.0)
    counted.route(server, "/g.xml", Reply(304, b"", {"ETag": '"v1"'}), 0.0)
    cached(urls[:2])  # g.xml is not in the cache: not asked ahead
    ahead = started(config_for(tmp_path, urls, "http:\n  concurrency: 1\n"))
    own = Counting()
    from mentionwatch.http import HttpSettings

    responses = asyncio.run(scan_requests(urls[1:], ahead, own, HttpSettings(concurrency=1)))
    assert [r.status_code for r in responses] == [304, 304]
    assert own.sent == urls[2:] and ahead.sent == 2 and ahead.taken == 1
    assert sorted(r.path for r in server.requests) == ["/f.xml", "/g.xml", "/slow.xml"]
    assert counted.most == 1
    ahead.close()


def test_a_look_ahead_not_ready_in_time_leaves_every_request_to_the_scan() -> None:
    ahead = Prefetch(Path("m.yaml"))  # never started: never ready
    started_at = time.monotonic()
    assert ahead.take(("GET", "http://127.0.0.1:9/", (), True)) is None
    assert ahead.take(("GET", "http://127.0.0.1:9/", (), True)) is None
    assert time.monotonic() - started_at < 2 * prefetch.FIRST_ROUND_WITHIN, "waited for once, then given up"
    ahead.close()
    ahead.close()  # closing twice is closing


def answer(at: float | None = None) -> Answer:
    return Answer(304, [(b"etag", b'"v1"')], b"", {}, time.monotonic() if at is None else at)


class Table(Prefetch):
    """A `Prefetch` whose answers a test sets."""

    def __init__(self, answers: dict[Any, Future[Answer]]) -> None:
        super().__init__(Path("m.yaml"))
        self._answers = answers
        self.ready.set()


class Inner(httpx.AsyncBaseTransport):
    def __init__(self) -> None:
        self.sent = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.sent += 1
        return httpx.Response(200, content=b"own", request=request)


def through(future: Future[Answer] | None) -> tuple[httpx.Response | Exception, int]:
    """Send one request through `AnsweredAhead`, `future` being the answer sent ahead for it."""
    request = httpx.Request("GET", "http://127.0.0.1:9/f.xml", headers={"If-None-Match": '"v1"'})
    table = Table({key_of(request): future} if future is not None else {})
    inner = Inner()

    async def send() -> httpx.Response:
        response = await AnsweredAhead(inner, table, http_settings_default()).handle_async_request(request)
        await response.aread()
        return response

    try:
        return asyncio.run(send()), inner.sent
    except Exception as exc:
        return exc, inner.sent


def done(value: Answer | BaseException) -> Future[Answer]:
    future: Future[Answer] = Future()
    if isinstance(value, BaseException):
        future.set_exception(value)
    else:
        future.set_result(value)
    return future


def test_an_answer_sent_ahead_is_taken_once() -> None:
    response, own = through(done(answer()))
    assert isinstance(response, httpx.Response) and (response.status_code, own) == (304, 0)


def test_an_answer_too_old_to_take_leaves_the_request_to_the_scan() -> None:
    response, own = through(done(answer(at=time.monotonic() - prefetch.FRESH_FOR - 1)))
    assert isinstance(response, httpx.Response) and (response.status_code, own) == (200, 1)


def test_a_failure_sent_ahead_is_the_requests_and_the_scan_retries_it_as_its_own() -> None:
    error, own = through(done(httpx.ConnectError("refused")))
    assert isinstance(error, httpx.ConnectError) and own == 0


@pytest.mark.parametrize("outcome", ["too large", "cancelled"])
def test_an_answer_not_got_ahead_is_the_scans_to_get(outcome: str) -> None:
    future: Future[Answer]
    if outcome == "cancelled":
        future = Future()
        future.cancel()
    else:
        future = done(NotAhead("larger than 20 bytes before decoding"))
    response, own = through(future)
    assert isinstance(response, httpx.Response) and (response.content, own) == (b"own", 1)


def test_no_answer_sent_ahead_goes_to_the_network() -> None:
    response, own = through(None)
    assert isinstance(response, httpx.Response) and own == 1


# -- the command


def lines(run: Run) -> list[dict[str, Any]]:
    """The mentions printed, but for when the scan first saw them (each run's own time, with --no-store)."""
    return [{k: v for k, v in json.loads(line).items() if k != "first_seen"} for line in run.stdout.splitlines()]


@pytest.mark.e2e
def test_the_command_sends_each_feed_once_and_prints_what_it_would_without(
    tmp_path: Path, server: LoopbackServer, run_cli: Callable[..., Run]
) -> None:
    urls = [f"{server.url}/f{i}.xml" for i in range(4)]
    feeds = [Feed(server, f"/f{i}.xml", zipped=i == 3) for i in range(4)]
    config = config_for(tmp_path, urls)
    (tmp_path / "plain").mkdir()
    plain = config_for(tmp_path / "plain", urls, "http:\n  prefetch: false\n")
    first = run_cli("scan", "-c", str(config), "-f", "jsonl", "--no-store")
    assert first.code == 0, first.stderr
    feeds[1].version = "v2"
    feeds[1].body = feeds[1].body.replace(b"Slack", b"Acme")  # now it mentions the brand
    server.requests.clear()
    second = run_cli("scan", "-c", str(config), "-f", "jsonl", "--no-store", "-v")
    assert second.code == 0, second.stderr
    assert "4 requests were sent ahead, 4 of them the scan's own" in second.stderr
    assert sorted(r.path for r in server.requests) == [f"/f{i}.xml" for i in range(4)], "each feed asked once"
    assert all(r.headers.get("if-none-match") == '"v1"' for r in server.requests)
    server.requests.clear()
    without = run_cli("scan", "-c", str(plain), "-f", "jsonl", "--no-store", "-v")
    assert without.code == 0, without.stderr
    assert "sent ahead" not in without.stderr
    assert lines(second) == lines(without)
    assert len(lines(second)) > 10  # the changed feed's (one near-duplicate folded)
    assert all(m["brand"] == "Acme" for m in lines(second))


@pytest.mark.e2e
def test_a_scan_of_chosen_sources_sends_nothing_ahead(
    tmp_path: Path, server: LoopbackServer, run_cli: Callable[..., Run]
) -> None:
    url = f"{server.url}/f.xml"
    Feed(server, "/f.xml")
    config = config_for(tmp_path, [url])
    assert run_cli("scan", "-c", str(config), "--no-store", "-q").code == 0
    server.requests.clear()
    run = run_cli("scan", "-c", str(config), "--no-store", "--source", "rss", "-v")
    assert run.code == 0, run.stderr
    assert "sent ahead" not in run.stderr
    assert len(server.requests) == 1


# -- what review found (each failed before its fix)


def test_a_feed_listed_twice_is_asked_ahead_once_and_then_by_the_scan(tmp_path: Path, server: LoopbackServer) -> None:
    """As without the look ahead: two requests, and no wait (the two shared one answer to be, and the scan hung)."""
    url = f"{server.url}/f.xml"
    Feed(server, "/f.xml")
    cached([url])
    ahead = started(config_for(tmp_path, [url, url]))
    own = Counting()
    started_at = time.monotonic()
    responses = asyncio.run(scan_requests([url, url], ahead, own))
    assert time.monotonic() - started_at < 5
    assert [r.status_code for r in responses] == [304, 304]
    assert (ahead.sent, ahead.taken, own.sent) == (1, 1, [url])
    assert len(server.requests) == 2
    ahead.close()


def test_a_host_that_asks_for_a_pause_is_left_to_the_scan(tmp_path: Path, server: LoopbackServer) -> None:
    """A 429 with Retry-After: nothing more is sent ahead to its host (the scan keeps the pause, `Limits.hold`)."""
    urls = [f"{server.url}/f{i}.xml" for i in range(3)]
    server.route("/f0.xml", Reply(429, b"slow down", {"Retry-After": "3"}))
    for i in (1, 2):
        Feed(server, f"/f{i}.xml")
    cached(urls)
    ahead = started(config_for(tmp_path, urls, "http:\n  concurrency: 1\n"))
    assert soon(lambda: len(server.requests) >= 1)
    time.sleep(0.3)  # time enough for the next two to go out, were they sent ahead
    assert [r.path for r in server.requests] == ["/f0.xml"] and ahead.sent == 1
    ahead.close()


@pytest.mark.parametrize("zipped", [False, True])
def test_a_body_over_the_cap_is_handed_over_cut_and_read_as_the_scan_reads_one(
    tmp_path: Path, server: LoopbackServer, zipped: bool
) -> None:
    """Not asked for again: the scan's own reading finds it over `max_bytes`, as of any answer; gzipped too (its
    size is the decoded one, as the scan's own reading counts it)."""
    url = f"{server.url}/big.xml"
    feed = Feed(server, "/big.xml", zipped=zipped)
    feed.version = "v2"
    feed.body = ALERTS * 3  # 3 x 24 KB
    cached([url])
    ahead = started(config_for(tmp_path, [url], "http:\n  max_bytes: 4096\n"))
    from mentionwatch.errors import BadPayload
    from mentionwatch.http import HttpSettings, SourceHttp

    async def read() -> str:
        transport = AnsweredAhead(Counting(), ahead, HttpSettings(max_bytes=4096))
        async with build_client(HttpSettings(max_bytes=4096), transport=transport) as client:
            cache = HttpCache(default_cache_path())
            try:
                await SourceHttp(client, HttpSettings(max_bytes=4096), cache=cache).get(url)
            except BadPayload as exc:
                return str(exc)
            finally:
                cache.close()
        return "read whole"

    assert asyncio.run(read()).endswith("response larger than 4096 bytes, cut off")
    assert len(server.requests) == 1
    ahead.close()


def test_forgotten_answers_are_not_taken(tmp_path: Path, server: LoopbackServer) -> None:
    url = f"{server.url}/f.xml"
    Feed(server, "/f.xml")
    cached([url])
    ahead = started(config_for(tmp_path, [url]))
    assert soon(lambda: len(server.requests) == 1)
    ahead.forget()
    own = Counting()
    [response] = asyncio.run(scan_requests([url], ahead, own))
    assert response.status_code == 304 and own.sent == [url] and ahead.taken == 0
    ahead.close()


def feeds_setting_cookies(server: LoopbackServer, count: int) -> list[str]:
    for i in range(count):
        feed = Feed(server, f"/c{i}.xml")
        answer = feed._answer

        def with_cookie(req: Request, answer: Callable[[Request], Reply] = answer, i: int = i) -> Reply:
            reply = answer(req)
            return Reply(reply.status, reply.body, {**reply.headers, "Set-Cookie": f"lb=node{i}; Path=/"})

        server.route(f"/c{i}.xml", with_cookie)
    return [f"{server.url}/c{i}.xml" for i in range(count)]


@pytest.mark.e2e
def test_feeds_whose_host_sets_a_cookie_are_each_asked_once(
    tmp_path: Path, server: LoopbackServer, run_cli: Callable[..., Run]
) -> None:
    """The scan's client sends a host's cookie once an answer set one: a request sent ahead before any answer is
    still the same request (`key_of` leaves `Cookie` out)."""
    urls = feeds_setting_cookies(server, 4)
    config = config_for(tmp_path, urls, "http:\n  per_host: 1\n")
    assert run_cli("scan", "-c", str(config), "--no-store", "-q").code == 0
    server.requests.clear()
    run = run_cli("scan", "-c", str(config), "--no-store", "-v")
    assert run.code == 0, run.stderr
    assert "4 requests were sent ahead, 4 of them the scan's own" in run.stderr
    assert sorted(r.path for r in server.requests) == [f"/c{i}.xml" for i in range(4)]


@pytest.mark.e2e
def test_a_scan_that_waited_for_another_takes_nothing_asked_before(
    tmp_path: Path, server: LoopbackServer, run_cli: Callable[..., Run]
) -> None:
    """Another scan held the store while this one started: what it asked ahead may have changed since, so it asks
    again (and prints what the feed says after the other scan, not before)."""
    import fcntl

    url = f"{server.url}/f.xml"
    feed = Feed(server, "/f.xml")
    config = config_for(tmp_path, [url])
    db = tmp_path / "m.sqlite3"
    assert run_cli("scan", "-c", str(config), "--db", str(db), "-q").code == 0
    server.requests.clear()
    held = threading.Event()

    def other_scan() -> None:
        with open(f"{db}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            held.set()
            assert soon(lambda: len(server.requests) == 1)  # this scan asked ahead, and waits for the store
            feed.version = "v2"
            feed.body = feed.body.replace(b"Slack", b"Acme")  # the feed changes meanwhile
            time.sleep(2.0)  # held until the scan has loaded and waits at the lock, however busy the machine

    holder = threading.Thread(target=other_scan)
    holder.start()
    assert held.wait(5)
    run = run_cli("scan", "-c", str(config), "--db", str(db), "-f", "jsonl", "-v")
    holder.join(10)
    assert run.code == 0, run.stderr
    assert "1 requests were sent ahead, 0 of them the scan's own" in run.stderr
    assert [r.headers.get("if-none-match") for r in server.requests] == ['"v1"', '"v1"']
    assert lines(run) and all(m["brand"] == "Acme" for m in lines(run))


@pytest.mark.e2e
def test_many_feeds_are_each_asked_once_and_give_what_they_give_without(
    tmp_path: Path, server: LoopbackServer, run_cli: Callable[..., Run]
) -> None:
    urls = [f"{server.url}/m{i}.xml" for i in range(120)]
    for i in range(120):
        Feed(server, f"/m{i}.xml")
    config = config_for(tmp_path, urls, "http:\n  concurrency: 50\n  per_host: 50\n")
    (tmp_path / "plain").mkdir()
    plain = config_for(tmp_path / "plain", urls, "http:\n  concurrency: 50\n  per_host: 50\n  prefetch: false\n")
    assert run_cli("scan", "-c", str(config), "--no-store", "-q").code == 0
    for _ in range(2):
        server.requests.clear()
        run = run_cli("scan", "-c", str(config), "--no-store", "-f", "jsonl", "-v")
        assert run.code == 0, run.stderr
        assert "of them the scan's own" in run.stderr
        assert sorted(r.path for r in server.requests) == sorted(f"/m{i}.xml" for i in range(120))
    without = run_cli("scan", "-c", str(plain), "--no-store", "-f", "jsonl")
    assert lines(run) == lines(without)


def test_a_stalled_request_sent_ahead_holds_up_no_request_of_the_scans_own_with_room_under_the_caps(
    tmp_path: Path, server: LoopbackServer
) -> None:
    """A feed sent ahead stalls (not yet taken: the scan's own request to another host, or with room on this one,
    goes out at once)."""
    slow = f"{server.url}/slow.xml"
    counted = InFlight()
    counted.route(server, "/slow.xml", Reply(304, b"", {"ETag": '"v1"'}), 2.0)
    Feed(server, "/f.xml")
    other = f"http://localhost:{server.url.rsplit(':', 1)[1]}/f.xml"  # the same server by another host name
    same = f"{server.url}/f.xml"
    cached([slow])
    ahead = started(config_for(tmp_path, [slow]))
    assert soon(lambda: counted.now == 1)
    own = Counting()
    started_at = time.monotonic()
    responses = asyncio.run(scan_requests([other, same], ahead, own))
    assert time.monotonic() - started_at < 1.5, "not held up by the stalled one"
    assert [r.status_code for r in responses] == [200, 200] and own.sent == [other, same]
    ahead.close()


def test_sending_ahead_stops_while_the_scan_has_not_taken_what_came(
    tmp_path: Path, server: LoopbackServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Changed feeds' bodies are held until the scan takes them: past HOLD_AT nothing more is sent ahead, and the
    scan reads the rest itself as it goes."""
    monkeypatch.setattr(prefetch, "HOLD_AT", 1000)
    urls = [f"{server.url}/h{i}.xml" for i in range(3)]
    for i in range(3):
        Feed(server, f"/h{i}.xml").version = "v2"  # changed: a 200 with the whole feed (24 KB)
    cached(urls)
    ahead = started(config_for(tmp_path, urls, "http:\n  concurrency: 1\n"))
    assert soon(lambda: len(server.requests) >= 1)
    time.sleep(0.3)  # time enough for the next two to go out, were they sent ahead
    assert ahead.sent == 1 and len(server.requests) == 1
    own = Counting()
    responses = asyncio.run(scan_requests(urls, ahead, own))
    assert [r.status_code for r in responses] == [200, 200, 200] and own.sent == urls[1:]
    ahead.close()


def test_a_busy_host_holds_up_no_request_sent_ahead_to_another(tmp_path: Path, server: LoopbackServer) -> None:
    """`per_host: 1, concurrency: 2`, two feeds on a stalled host and one on another: the third goes out at once
    (the second, queued for its host, does not hold the other slot)."""
    counted = InFlight()
    counted.route(server, "/slow.xml", Reply(304, b"", {"ETag": '"v1"'}), 2.0)
    Feed(server, "/f.xml")
    Feed(server, "/g.xml")
    other = f"http://localhost:{server.url.rsplit(':', 1)[1]}/g.xml"  # the same server by another host name
    urls = [f"{server.url}/slow.xml", f"{server.url}/f.xml", other]
    cached(urls)
    ahead = started(config_for(tmp_path, urls, "http:\n  concurrency: 2\n  per_host: 1\n"))
    assert soon(lambda: "/g.xml" in [r.path for r in server.requests], within=1.0)
    assert "/f.xml" not in [r.path for r in server.requests]  # its host's one slot is the stalled one's
    ahead.close()
