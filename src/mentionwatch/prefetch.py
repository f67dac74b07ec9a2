"""A scan's feeds asked about while the command starts up.

Before its first request a scan spends about a quarter of a second loading its modules and checking its config,
and a feed takes about as long to answer. So when the command line is a plain `scan` (`scan_config`: no option
that changes what is asked for), the command reads the feed URLs straight from the config's YAML and, for each one
the HTTP cache holds validators for, sends the conditional request the scan will send, at once, on a thread of its
own, while the scan loads. The scan then takes an answer as that of its own request only when that request is the
very same one (method, URL, every header but `Cookie`: a validator changed by another scan meanwhile is another
request) and was answered in the last `FRESH_FOR` seconds; otherwise it sends its own (`http.AnsweredAhead`). What
comes back is handed over as the network gave it (status, headers; the body decoded, and cut one byte over
`max_bytes`): the scan checks, retries, follows redirects and counts it as any other answer.

The scan's caps hold for both together: a request is sent ahead under `concurrency` and `per_host` (its host's
slot first); the scan's first request of its own stops the look ahead, and waits while what was sent ahead and not
taken fills a cap with its own; a host that answers an error or a pause is left to the scan.

Only conditional requests are sent ahead: an unchanged feed answers them with a 304 of no body. The cost: a scan
that stops before it fetches (a config error) has asked its feeds once whether they changed. `http: {prefetch:
false}` in the config turns it off.

Imports only the standard library until the thread runs: the command's own loading is what it runs beside.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future, InvalidStateError
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import httpx

    from mentionwatch.http import Answer, HttpSettings, Key

# An answer older than this is not taken: the scan waited that long (for another scan's lock), and asks again.
FRESH_FOR = 30.0
# Answers in that the scan has not taken, in bytes, past which nothing more is sent ahead (those on their way still
# come): the scan, still loading, would otherwise hold every changed feed's body at once (without the look ahead it
# reads them one by one as they come).
HOLD_AT = 16 * 1024 * 1024
# How long the command waits for the first round of requests to be out before it goes on loading: the requests'
# thread then has the interpreter to itself (one thread at a time runs Python code).
FIRST_ROUND_WITHIN = 0.3

# `scan`'s options that do not change which requests it sends, or how: with any other (`--source`, `--no-cache`,
# `--replay`, `--record`, `--backfill`, `--shard`, `--help`, a typo, short options run together), nothing is sent
# ahead. Those that take a value:
_VALUED = frozenset(
    (
        "-c",
        "--config",
        "-o",
        "--output",
        "-f",
        "--format",
        "--since",
        "--sort",
        "--limit",
        "--health",
        "--db",
        "--brand",
    )
)
_FLAGS = frozenset(("-q", "--quiet", "-v", "--verbose", "--append", "--new", "--seed", "--notify", "--no-store"))


def scan_config(args: Sequence[str]) -> Path | None:
    """The config a command line `args` scans with, when it is a plain `scan`; else None."""
    if not args or args[0] != "scan":
        return None
    explicit: str | None = None
    rest = iter(args[1:])
    for arg in rest:
        name, eq, value = arg.partition("=") if arg.startswith("--") else (arg, "", "")
        if name in _FLAGS and not eq:
            continue
        if name not in _VALUED:
            return None
        if not eq:
            given = next(rest, None)
            if given is None:
                return None
            value = given
        if name in ("-c", "--config"):
            explicit = value
    from mentionwatch.locate import config_location

    return config_location(Path(explicit) if explicit is not None else None)


class Prefetch:
    """The requests sent ahead of one scan, and their answers as they come."""

    def __init__(self, config: Path) -> None:
        self.config = config
        self._lock = threading.Lock()
        self._answers: dict[Key, Future[Answer]] = {}  # not taken yet
        self._every: list[Future[Answer]] = []  # taken or not
        # The requests under way or to go that the scan has not taken, and their hosts: `under_way`.
        self._untaken: dict[Future[Answer], str] = {}
        # The bodies of the answers in that the scan has not taken, in bytes: sending ahead stops past HOLD_AT.
        self._held = 0
        # Set once every request to be sent ahead is in `_answers` (or none will be), and once the first round of
        # them is out: what the command waits for (at most FIRST_ROUND_WITHIN), and the scan before its first look.
        self.ready = threading.Event()
        self.out = threading.Event()
        self._stop = threading.Event()
        # Set by `close`: the thread then closes its connections. Not before: that would take the interpreter from the
        # scan at its busiest, as the last answers come in.
        self._closing: Future[None] = Future()
        self.sent = 0
        self.taken = 0  # answers the scan took (`http.AnsweredAhead`)
        self._thread: threading.Thread | None = None

    def start(self) -> Prefetch:
        # A daemon: a command that ends (or fails) before the scan takes the answers is not kept waiting for them.
        self._thread = threading.Thread(target=self._run, name="mentionwatch-prefetch", daemon=True)
        self._thread.start()
        return self

    def take(self, key: Key) -> Future[Answer] | None:
        """The answer to the request `key` sent ahead, once: None when none was (or it is too old to take)."""
        if not self.ready.wait(FIRST_ROUND_WITHIN):
            # Still loading (a slow disk): the scan sends its own from now on, and nothing more is sent ahead.
            self.stop()
            return None
        with self._lock:
            future = self._answers.pop(key, None)
            if future is not None:
                self._untaken.pop(future, None)
                if future.done() and not future.cancelled() and future.exception() is None:
                    self._held -= len(future.result().body)
        if future is None or future.cancelled():  # never sent (the look ahead ended first)
            return None
        if future.done() and future.exception() is None and time.monotonic() - future.result().at > FRESH_FOR:
            return None
        return future

    def under_way(self, host: str | None = None) -> list[Future[Answer]]:
        """The requests on their way (to `host`, or any) that the scan has not taken: they count against the scan's
        caps (`http.per_host`, `concurrency`) as its own do (`http.AnsweredAhead`)."""
        with self._lock:
            return [f for f, to in self._untaken.items() if f.running() and host in (None, to)]

    def stop(self) -> None:
        """Nothing more is sent ahead: the scan sends its own from now on, or does not fetch at all. A request not
        yet sent is cancelled, taken or not: the scan sends it itself at once, rather than wait for its turn here.
        Called on each request of the scan's own: once stopped, nothing more to do (no request is planned after)."""
        if self._stop.is_set():
            return
        self._stop.set()
        with self._lock:
            for future in self._every:
                future.cancel()  # only those not under way: an answer on its way is still taken
        self.ready.set()
        self.out.set()

    def forget(self) -> None:
        """Nothing sent ahead is taken: what was asked may have changed since (the scan waited for another one).
        Those under way still count against the host's caps until answered (`under_way`)."""
        self.stop()
        with self._lock:
            self._answers.clear()

    def close(self) -> None:
        """The command is done with the answers: the thread may close its connections and end."""
        self.stop()
        if not self._closing.done() and self._closing.set_running_or_notify_cancel():
            self._closing.set_result(None)

    def matches(self, config: Path) -> bool:
        """Whether the scan reads the config the requests were sent ahead for."""
        try:
            return config.resolve() == self.config.resolve()
        except OSError:
            return False

    # On the thread.

    def _run(self) -> None:
        try:
            plan = self._plan()
            if plan is not None:
                import asyncio

                asyncio.run(self._send_all(*plan))
        except Exception:  # a look ahead that fails costs the scan nothing: it sends its own
            pass
        finally:
            self.stop()
            self._settle()

    def _settle(self) -> None:
        """Whatever is left unanswered (the thread ended in the middle of a request) is the scan's to send."""
        from mentionwatch.http import NotAhead

        with self._lock:
            left = [f for f in self._every if f.running()]  # those not sent were cancelled by `stop`
        for future in left:
            with contextlib.suppress(InvalidStateError):  # answered meanwhile
                future.set_exception(NotAhead("the look ahead ended"))

    def _plan(self) -> tuple[HttpSettings, httpx.AsyncClient, list[tuple[httpx.Request, Future[Answer]]]] | None:
        """The requests to send ahead, each with its answer to be, and how: None when there are none."""
        import yaml

        try:
            loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml, when PyYAML was built with it
            raw = yaml.load(self.config.read_text(encoding="utf-8"), Loader=loader)
        except (OSError, ValueError, yaml.YAMLError):
            return None
        urls = _feed_urls(raw)
        settings = _settings(raw) if urls else None
        if settings is None:
            return None
        from mentionwatch.cache import default_cache_path, read_validators
        from mentionwatch.http import ask_if_changed, build_client, key_of, mark_internal

        client = build_client(settings)  # its requests are made as the scan's own client makes them
        requests = []
        for url in urls:
            try:
                requests.append(client.build_request("GET", url))
            except Exception:  # a URL httpx refuses is the scan's to report
                continue
        cached = read_validators(default_cache_path(), [str(r.url) for r in requests])
        planned: list[tuple[httpx.Request, Future[Answer]]] = []
        with self._lock:
            if self._stop.is_set():
                return None
            for request in requests:
                validators = cached.get(str(request.url))
                if validators is None:
                    continue
                mark_internal(request)
                ask_if_changed(request, validators)
                key = key_of(request)
                if key in self._answers:
                    continue  # a feed listed twice: asked ahead once, the second time by the scan (as without)
                future: Future[Answer] = Future()
                self._answers[key] = future
                self._every.append(future)
                self._untaken[future] = request.url.host
                planned.append((request, future))
        self.ready.set()
        return (settings, client, planned) if planned else None

    async def _send_all(
        self, settings: HttpSettings, client: httpx.AsyncClient, planned: list[tuple[httpx.Request, Future[Answer]]]
    ) -> None:
        import asyncio

        from mentionwatch.http import NotAhead, until_idle

        everyone = asyncio.Semaphore(settings.concurrency)
        hosts: dict[str, asyncio.Semaphore] = {}
        held: set[str] = set()  # hosts that answered with an error or a pause: the scan's own to ask from then on

        async def send(request: httpx.Request, future: Future[Answer]) -> None:
            host = request.url.host
            # Host first, as `http.Limits`: a request queued for a busy host must not hold one of the slots of all.
            async with hosts.setdefault(host, asyncio.Semaphore(settings.per_host)), everyone:
                if self._held > HOLD_AT:
                    self.stop()  # the scan is slow to take what came: it reads the rest itself, as it goes
                if host in held or self._stop.is_set():
                    future.cancel()
                if not future.set_running_or_notify_cancel():  # cancelled: by `stop`, or above
                    return
                self.sent += 1
                try:
                    answer = await _exchange(client, request, settings.max_bytes)
                except Exception as exc:  # handed to the scan, which makes of it what it would have
                    future.set_exception(exc)
                    held.add(host)
                except BaseException:
                    future.set_exception(NotAhead("the look ahead ended"))
                    raise
                else:
                    if answer.status >= 400 or _pauses(answer):
                        held.add(host)  # the pause (Retry-After, a spent rate limit) is the scan's to keep
                    with self._lock:
                        if future in self._untaken:
                            self._held += len(answer.body)
                    future.set_result(answer)
                finally:
                    with self._lock:
                        self._untaken.pop(future, None)

        async with client:
            tasks = [asyncio.ensure_future(send(request, future)) for request, future in planned]
            # Out once the loop has nothing more to do than wait: every request that could be written is.
            await until_idle(FIRST_ROUND_WITHIN)
            self.out.set()
            await asyncio.gather(*tasks, return_exceptions=True)
            await asyncio.wrap_future(self._closing)


def _pauses(answer: Answer) -> bool:
    """Whether an answer asks its host to be left alone a while: Retry-After, or a rate-limit budget spent."""
    import httpx

    from mentionwatch.http import rate_limit_pause

    headers = httpx.Headers(answer.headers)
    return "retry-after" in headers or rate_limit_pause(headers, time.time()) is not None


async def _exchange(client: httpx.AsyncClient, request: httpx.Request, max_bytes: int) -> Answer:
    """The answer to `request`, its body decoded (gzip, deflate, br, as the scan's client decodes) and read to one
    byte over `max_bytes` at most: the scan's own reading of it then says what it says of any answer that long."""
    from mentionwatch.http import Answer

    response = await client.send(request, stream=True, follow_redirects=False)
    try:
        chunks = []
        size = 0
        async for chunk in response.aiter_bytes():
            chunks.append(chunk)
            size += len(chunk)
            if size > max_bytes:
                break
    finally:
        await response.aclose()
    body = b"".join(chunks)[: max_bytes + 1]
    # Handed over decoded: without the headers that describe the bytes as they were sent.
    headers = [(k, v) for k, v in response.headers.raw if k.lower() not in _AS_SENT]
    extensions = {k: v for k, v in response.extensions.items() if k in ("http_version", "reason_phrase")}
    return Answer(response.status_code, headers, body, extensions, time.monotonic())


_AS_SENT = (b"content-encoding", b"content-length", b"transfer-encoding")


def _settings(raw: Any) -> HttpSettings | None:
    """The scan's HTTP settings read from the config as written (`http:`), without its checks (pydantic and the
    config's models load on the command's own thread): None when they turn the cache or looking ahead off, or
    hold anything the config's check has to judge first (a `${VAR}`, a value out of its range)."""
    from mentionwatch.http import HttpSettings

    http = raw.get("http", {}) if isinstance(raw, dict) else None
    if http is None:
        http = {}
    if not isinstance(http, dict) or http.get("cache", True) is not True or http.get("prefetch", True) is not True:
        return None
    values: dict[str, Any] = {}
    for key, (name, whole, top) in _NUMBERS.items():
        if key in http:
            value = http[key]
            number = isinstance(value, int) or (isinstance(value, float) and not whole)
            if isinstance(value, bool) or not number or not 0 < value <= top:
                return None
            values[name] = value
    return HttpSettings(**values)


# The `http:` keys the requests depend on: the setting each is, whether it is a whole number, and its largest value
# (`config.HttpConfig`; not `.inf`, which the config refuses).
_NUMBERS: dict[str, tuple[str, bool, float]] = {
    "timeout": ("read_timeout", False, 1e9),
    "connect_timeout": ("connect_timeout", False, 1e9),
    "concurrency": ("concurrency", True, 500),
    "per_host": ("per_host", True, 100),
    "max_bytes": ("max_bytes", True, 1e18),
}


def _feed_urls(raw: Any) -> list[str]:
    """The web addresses of the config's `rss` sources, as written (no `${VAR}`)."""
    sources = raw.get("sources") if isinstance(raw, dict) else None
    if isinstance(sources, dict):
        sources = [sources]
    urls: list[str] = []
    for source in sources if isinstance(sources, list) else []:
        if not isinstance(source, dict) or source.get("type") != "rss":
            continue
        listed = source.get("urls")
        for url in [listed] if isinstance(listed, str) else listed if isinstance(listed, list) else []:
            if isinstance(url, str) and url.startswith(("http://", "https://")) and "${" not in url:
                urls.append(url)
    return urls
