"""Issue #11, "No secret written anywhere": the redactor, the recorder and the replayer, and one end-to-end proof.

The proof runs the real command three times (recording, plain with the HTTP cache, replaying the recording) against
a loopback server whose endpoints answer 400/401 with the request echoed back (headers, query, body, and the whole
request base64-encoded, as debugging echoes do), then searches every file those runs wrote (output, health,
recording, HTTP cache, state) and everything they printed for every configured secret in every form: raw,
URL-encoded, JSON-escaped, base64 (at any offset inside a longer encoded string, which covers Reddit's
`Basic base64(id:secret)` and a URL's user-info sent as Basic), and finds none.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import html
import json
import os
import re
import sqlite3
import stat
import threading
import zlib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus, unquote, unquote_plus, urlencode

import httpx
import pytest

from e2e_server import E2EServer, Received
from mentionwatch.errors import BadPayload, FetchError
from mentionwatch.http import Response
from mentionwatch.redaction import MASK, Redactor
from mentionwatch.replay import Recorder, Replayer

from conftest import Reply, Run, fixture_path

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)

# Secrets with characters that make their encoded forms differ from the raw one. Those sent in a header are ASCII.
SECRETS = {
    "GITHUB_TOKEN": "ghp_e2eGitHub/Tok+en=Tb9c",
    "X_BEARER_TOKEN": "AAAAe2eXBearer%2FToken%3DPv6u",
    "MASTODON_TOKEN": "e2e-mastodon-token-Hq3k",
    "YOUTUBE_KEY": "AIza e2e/youtube+key&é-Jf4s",
    "STACKEXCHANGE_KEY": "e2e-se-key((Lr2d))*~",
    "BLUESKY_APP_PASSWORD": 'e2e "bsky\\app"/pass-é-Wn7p',
    "REDDIT_CLIENT_ID": "e2e-reddit-client-id-5Qm1",
    "REDDIT_CLIENT_SECRET": "e2e-reddit:secret+/Zx8v",
    "FEED_TOKEN": "e2e-feed-token/Ab3~c",
    "FEED_PASSWORD": "e2e-feed-pass-Yt5w",
    "EXPORT_KEY": "e2e-export<\"key'>-Gh7j",
}
REDDIT_BASIC = base64.b64encode(f"{SECRETS['REDDIT_CLIENT_ID']}:{SECRETS['REDDIT_CLIENT_SECRET']}".encode()).decode()
FEED_BASIC = base64.b64encode(f"feeduser:{SECRETS['FEED_PASSWORD']}".encode()).decode()


# --- Finding a secret in any form, independently of how the redactor does it ----------------------------------


def forms_of(secret: str) -> dict[str, str]:
    """The ways a secret is written when it travels in a URL, a form, a JSON body or a header, or comes back in an
    HTML page."""
    url = quote(secret, safe="")
    escaped = json.dumps(secret)[1:-1]
    b64 = base64.b64encode(secret.encode()).decode()
    return {
        "raw": secret,
        "URL-encoded": url,
        "URL-encoded, lower-case hex": re.sub("%[0-9A-F]{2}", lambda m: m[0].lower(), url),
        "form-encoded": quote_plus(secret, safe=""),
        "path-encoded": quote(secret),
        "in a URL written out whole": str(httpx.URL(f"http://h/?{secret}").query, "ascii"),
        "JSON-escaped": escaped,
        "JSON-escaped, UTF-8": json.dumps(secret, ensure_ascii=False)[1:-1],
        "JSON-escaped, slashes too": escaped.replace("/", "\\/"),
        "JSON-escaped, as Go does": escaped.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"),
        "HTML-escaped": html.escape(secret),
        "base64": b64,
        "base64, unpadded": b64.rstrip("="),
        "base64url": base64.urlsafe_b64encode(secret.encode()).decode(),
    }


_BASE64_RUN = re.compile(r"[A-Za-z0-9+/_-]{12,}")
_JSON_ESCAPE = re.compile(r"\\(u[0-9a-fA-F]{4}|[\"\\/bfnrt])")
_CONTROL = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


def json_unescaped(text: str) -> str:
    def one(match: re.Match[str]) -> str:
        escape = match.group(1)
        return chr(int(escape[1:], 16)) if escape[0] == "u" else _CONTROL.get(escape, escape)

    return _JSON_ESCAPE.sub(one, text)


UNDO: tuple[Callable[[str], str], ...] = (html.unescape, unquote, unquote_plus, json_unescaped)


def base64_decodings(text: str) -> Iterator[bytes]:
    """Every run of base64 characters in `text`, decoded from each of the four places an encoding may start."""
    for run in _BASE64_RUN.findall(text):
        standard = run.replace("-", "+").replace("_", "/")
        for start in range(4):
            chunk = standard[start:]
            chunk = chunk[: len(chunk) - 1] if len(chunk) % 4 == 1 else chunk
            try:
                yield base64.b64decode(chunk + "=" * (-len(chunk) % 4))
            except binascii.Error:
                continue


def readings(text: str, layers: int = 4) -> tuple[set[str], set[bytes]]:
    """What `text` reads as with up to `layers` encodings undone, in any order: HTML, URL and JSON escapes,
    base64 (decoded bytes are read on when they are text)."""
    seen: set[str] = set()
    decoded: set[bytes] = set()
    layer = {text}
    for _ in range(layers):
        seen |= layer
        following: set[str] = set()
        for item in layer:
            following.update(undo(item) for undo in UNDO)
            for data in base64_decodings(item):
                decoded.add(data)
                with contextlib.suppress(UnicodeDecodeError):
                    following.add(data.decode("utf-8"))
        layer = following - seen
    return seen | layer, decoded


def leaks(text: str, secrets: list[str]) -> list[str]:
    """Which secrets `text` holds, and in which form."""
    found = []
    texts, decoded = readings(text)
    for secret in secrets:
        found += [f"{secret!r} {name}" for name, form in forms_of(secret).items() if form in text]
        if secret in text:
            continue
        if any(secret in t for t in texts) or any(secret.encode() in data for data in decoded):
            found.append(f"{secret!r} once its encodings are undone")
    return found


def test_the_leak_finder_finds_what_it_is_meant_to() -> None:
    # The finder itself, on unredacted text: a test that finds nothing proves nothing if the finder is blind.
    secret, key, password = SECRETS["REDDIT_CLIENT_SECRET"], SECRETS["EXPORT_KEY"], SECRETS["BLUESKY_APP_PASSWORD"]
    request_line = f"GET /x?api_key={quote_plus(key)} HTTP/1.1"
    assert leaks(f"Authorization: Basic {REDDIT_BASIC}", [secret]) == [f"{secret!r} once its encodings are undone"]
    assert leaks(base64.b64encode(f"Basic {REDDIT_BASIC}".encode()).decode(), [secret])
    assert leaks(html.escape(json.dumps({"params": [key]})), [key])
    assert leaks(base64.b64encode(request_line.encode()).decode(), [key])
    assert leaks(json.dumps({"password": password}), [password])
    assert leaks("nothing here", list(SECRETS.values())) == []


# --- The redactor ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("secret", [SECRETS[k] for k in ("YOUTUBE_KEY", "BLUESKY_APP_PASSWORD", "EXPORT_KEY")])
def test_every_form_of_a_secret_is_masked(secret: str) -> None:
    redact = Redactor([secret])
    for name, form in forms_of(secret).items():
        text = f'{{"echo": "before {form} after"}}'
        assert leaks(redact(text), [secret]) == [], name
        assert MASK in redact(text), name


@pytest.mark.parametrize("before", ["", "u", "us", "user:", "Authorization: x"])
def test_a_secret_is_found_inside_base64_wherever_it_sits(before: str) -> None:
    secret = SECRETS["REDDIT_CLIENT_SECRET"]
    encoded = base64.b64encode(f"{before}{secret} and after".encode()).decode()
    for text in (encoded, base64.urlsafe_b64encode(f"{before}{secret}".encode()).decode()):
        assert leaks(Redactor([secret])(text), [secret]) == []


def test_reddit_basic_credentials_are_masked_whole() -> None:
    redact = Redactor([SECRETS["REDDIT_CLIENT_ID"], SECRETS["REDDIT_CLIENT_SECRET"]])
    assert redact(f"authorization: Basic {REDDIT_BASIC}") == f"authorization: Basic {MASK}"


def test_credentials_are_recognised_by_their_shape_when_nobody_configured_them() -> None:
    redact = Redactor()
    text = (
        "GET http://feeduser:hunter2@feeds.example/x.xml?token=abc123&q=acme&api_key=k9 "
        f"Authorization: Basic {FEED_BASIC} Authorization: Bearer 9f8e7d6c5b4a39281706"
    )
    assert redact(text) == (
        f"GET http://{MASK}@feeds.example/x.xml?token={MASK}&q=acme&api_key={MASK} "
        f"Authorization: Basic {MASK} Authorization: Bearer {MASK}"
    )
    prose = "Basic authentication and Bearer authentication; see https://example.com/docs?page=2"
    assert redact(prose) == prose


def test_structures_are_redacted_keys_and_all() -> None:
    secret = SECRETS["GITHUB_TOKEN"]
    data = {"exit_code": 4, "sources": [{"error": f"echo: {secret}", secret: [1, None, f"x{secret}"]}]}
    assert Redactor([secret]).redact_data(data) == {
        "exit_code": 4,
        "sources": [{"error": f"echo: {MASK}", MASK: [1, None, f"x{MASK}"]}],
    }


def test_bytes_in_any_encoding_are_redacted() -> None:
    secret = SECRETS["BLUESKY_APP_PASSWORD"]
    body = b"\xff\xfe not UTF-8 " + secret.encode() + b" " + quote_plus(secret).encode()
    redacted = Redactor([secret]).redact_bytes(body)
    assert redacted.startswith(b"\xff\xfe not UTF-8 ") and leaks(redacted.decode("latin-1"), [secret]) == []


# --- The recorder ------------------------------------------------------------------------------------------------


def echo_of(secrets: dict[str, str]) -> bytes:
    """A request echoed back: a header, a query string, a JSON body, and the whole request base64-encoded."""
    request = (
        f"POST /login?key={quote_plus(secrets['YOUTUBE_KEY'])} HTTP/1.1\r\n"
        f"Authorization: Basic {REDDIT_BASIC}\r\n\r\n" + json.dumps({"password": secrets["BLUESKY_APP_PASSWORD"]})
    )
    return json.dumps(
        {"error": "invalid_request", "request": request, "raw": base64.b64encode(request.encode()).decode()}
    ).encode()


def record_one(tmp_path: Path, content_type: str, body: bytes) -> Path:
    bundle = tmp_path / "bundle"
    recorder = Recorder(bundle, Redactor(SECRETS.values()), NOW)
    request = httpx.Request("POST", "https://api.test/login", params={"key": SECRETS["YOUTUBE_KEY"]})
    headers = httpx.Headers({"content-type": content_type, "www-authenticate": f"Basic {REDDIT_BASIC}"})
    recorder.record("src", request, Response(401, str(request.url), headers, body))
    recorder.close()
    return bundle


@pytest.mark.parametrize("content_type", ["application/json", "text/plain", "application/octet-stream"])
def test_a_recorded_echo_keeps_no_secret(tmp_path: Path, content_type: str) -> None:
    body = echo_of(SECRETS) if content_type != "application/octet-stream" else b"\x00\xff" + echo_of(SECRETS)
    bundle = record_one(tmp_path, content_type, body)
    for path in bundle.rglob("*"):
        if path.is_file():
            assert leaks(path.read_bytes().decode("latin-1"), list(SECRETS.values())) == [], path.name
    assert MASK.encode() in (bundle / "bodies" / "00001.bin").read_bytes()


def test_a_bundle_and_its_files_are_private(tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    (bundle / "bodies").mkdir(parents=True)
    (bundle / "bodies").chmod(0o755)
    (bundle / "exchanges.jsonl").write_text("")
    (bundle / "exchanges.jsonl").chmod(0o644)  # left by an earlier recording: made private too
    new = tmp_path / "new-bundle"
    for directory in (bundle, new):
        recorder = Recorder(directory, Redactor(), NOW)
        request = httpx.Request("GET", "https://api.test/x")
        recorder.record("src", request, Response(200, str(request.url), httpx.Headers(), b"{}"))
        recorder.close()
    assert stat.S_IMODE(new.stat().st_mode) == 0o700
    for directory in (bundle, new):
        assert stat.S_IMODE((directory / "bodies").stat().st_mode) == 0o700
        files = [p for p in directory.rglob("*") if p.is_file()]
        assert len(files) == 3 and all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in files), files


# --- The replayer ------------------------------------------------------------------------------------------------


def bundle_with_body(tmp_path: Path, body: str) -> tuple[Replayer, httpx.Request]:
    """A bundle of one recorded exchange whose body file is `body` (as a bundle's author could write it)."""
    bundle = record_one(tmp_path, "application/json", b"{}")
    index = bundle / "exchanges.jsonl"
    entry = json.loads(index.read_text())
    entry["body"] = body
    index.write_text(json.dumps(entry) + "\n")
    request = httpx.Request("POST", "https://api.test/login", params={"key": SECRETS["YOUTUBE_KEY"]})
    return Replayer(bundle, Redactor(SECRETS.values())), request


@pytest.mark.parametrize("body", ["../../outside", "/dev/zero", "bodies/../../outside", "C:\\Windows\\win.ini"])
def test_a_bundle_whose_body_points_outside_it_is_refused(tmp_path: Path, body: str) -> None:
    with pytest.raises(ValueError, match=r"exchanges\.jsonl:1: `body` .* points outside the bundle"):
        bundle_with_body(tmp_path, body)


def test_a_bundle_edited_by_hand_is_refused_saying_which_file_and_line(tmp_path: Path) -> None:
    bundle = record_one(tmp_path, "application/json", b"{}")
    index = bundle / "exchanges.jsonl"
    index.write_text(index.read_text() + "{not json\n")
    with pytest.raises(ValueError, match=r"exchanges\.jsonl:2: not a JSON object"):
        Replayer(bundle, Redactor(SECRETS.values()))
    index.write_text(index.read_text().splitlines()[0] + "\n")
    replayer = Replayer(bundle, Redactor(SECRETS.values()))
    (bundle / "scan.json").write_text("{}")
    with pytest.raises(ValueError, match=r"scan\.json: cannot read the recording's time: no recorded_at"):
        _ = replayer.recorded_at
    (bundle / "scan.json").unlink()
    with pytest.raises(ValueError, match=r"scan\.json: cannot read it"):
        _ = replayer.recorded_at


def test_a_body_linked_to_a_file_outside_the_bundle_is_not_read(tmp_path: Path) -> None:
    (tmp_path / "private.txt").write_text("the user's private file")
    replayer, request = bundle_with_body(tmp_path, "bodies/link.bin")
    (tmp_path / "bundle" / "bodies" / "link.bin").symlink_to(tmp_path / "private.txt")
    with pytest.raises(FetchError, match="outside the bundle"):
        replayer.reply("src", request)


def test_a_body_that_is_not_a_regular_file_is_not_read(tmp_path: Path) -> None:
    replayer, request = bundle_with_body(tmp_path, "bodies/fifo.bin")
    os.mkfifo(tmp_path / "bundle" / "bodies" / "fifo.bin")  # opening it to read would wait for a writer forever
    outcome: list[BaseException] = []

    def replay() -> None:
        try:
            replayer.reply("src", request)
        except BaseException as exc:  # handed to the test thread
            outcome.append(exc)

    worker = threading.Thread(target=replay, daemon=True)
    worker.start()
    worker.join(10)
    assert not worker.is_alive(), "the replay hung on a FIFO"
    assert len(outcome) == 1 and isinstance(outcome[0], FetchError) and "not a regular file" in str(outcome[0])


def test_a_recorded_body_is_read_no_further_than_a_live_one(tmp_path: Path) -> None:
    for cap in (4096, 5000):
        replayer, request = bundle_with_body(tmp_path, "bodies/00001.bin")
        (tmp_path / "bundle" / "bodies" / "00001.bin").write_bytes(b"x" * 5000)
        if cap < 5000:
            with pytest.raises(BadPayload, match="larger than 4096 bytes"):
                replayer.reply("src", request, max_bytes=cap)
        else:
            assert replayer.reply("src", request, max_bytes=cap).content == b"x" * 5000


# --- End to end: the real command against an API that echoes every request ------------------------------------

JSON = {"Content-Type": "application/json; charset=utf-8"}
ALERTS = fixture_path("rss", "google_alerts_atom_feedjira.xml").read_bytes()


def echo(received: Received) -> dict[str, Any]:
    """The request as an echoing API sends it back: headers, query (as sent and decoded), body, and all of it
    base64-encoded."""
    query = urlencode(received.query, doseq=True)
    head = f"{received.method} {received.path}?{query} HTTP/1.1\r\n" + "".join(
        f"{k}: {v}\r\n" for k, v in received.headers.items()
    )
    raw = head.encode() + b"\r\n" + received.body
    return {
        "method": received.method,
        "query": query,
        "params": received.query,
        "headers": received.headers,
        "body": received.body.decode("utf-8", "replace"),
        "raw": base64.b64encode(raw).decode(),
    }


def answer(status: int, shape: Callable[[dict[str, Any]], Any], content_type: str = JSON["Content-Type"]) -> Any:
    def handler(received: Received) -> Reply:
        body = shape(echo(received))
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        return Reply(status, data, {"Content-Type": content_type})

    return handler


def github(e: dict[str, Any]) -> Any:
    return {"message": "Bad credentials", **e}


def x_api(e: dict[str, Any]) -> Any:
    return {"title": "Unauthorized", "type": "about:blank", "status": 401, "detail": json.dumps(e)}


def mastodon(e: dict[str, Any]) -> Any:
    return {"error": "The access token is invalid", "request": e}


def youtube(e: dict[str, Any]) -> Any:
    return {
        "error": {"code": 400, "message": json.dumps(e), "errors": [{"reason": "badRequest", "message": e["query"]}]}
    }


def stackexchange(e: dict[str, Any]) -> Any:
    return {"error_id": 400, "error_name": "bad_parameter", "error_message": f"key: {e['query']} {e['raw']}"}


def bluesky(e: dict[str, Any]) -> Any:
    return {"error": "AuthenticationRequired", "message": f"Invalid identifier or password: {e['body']}", "echo": e}


def as_text(e: dict[str, Any]) -> bytes:
    return json.dumps(e, indent=1).encode()


def query_and_headers(e: dict[str, Any]) -> bytes:
    return f"{e['query']}\n{e['headers']}".encode()


def html_page(e: dict[str, Any]) -> bytes:
    echoed = html.escape(json.dumps(e, ensure_ascii=False))
    return f"<!DOCTYPE html><html><body><h1>400 Bad Request</h1><pre>{echoed}</pre></body></html>".encode()


def raw_request(e: dict[str, Any]) -> bytes:
    return b"\xff\xfe" + base64.b64decode(e["raw"])  # not UTF-8


def serve_echoes(server: E2EServer) -> None:
    """Each API's own error shape, with the request echoed inside it."""
    text, binary = "text/plain; charset=utf-8", "application/octet-stream"
    server.route("GET", "/api.github.com/search/issues", answer(401, github))
    server.route("GET", "/api.x.com/2/tweets/search/recent", answer(401, x_api))
    server.route("GET", "/mastodon.social/api/v2/search", answer(401, mastodon))
    server.route("GET", "/www.googleapis.com/youtube/v3/search", answer(400, youtube))
    server.route("GET", "/api.stackexchange.com/2.3/search/advanced", answer(400, stackexchange))
    server.route("POST", "/bsky.social/xrpc/com.atproto.server.createSession", answer(401, bluesky))
    server.route("POST", "/www.reddit.com/api/v1/access_token", answer(401, as_text, text))
    server.route("GET", "/feeds/token.xml", answer(401, query_and_headers, text))
    server.route("GET", "/feeds/login.xml", answer(401, raw_request, binary))
    server.route("GET", "/exports/mentions.jsonl", answer(400, html_page, "text/html; charset=utf-8"))
    server.route("GET", "/feeds/open.xml", Reply(200, ALERTS, {"Content-Type": "application/atom+xml", "ETag": '"v1"'}))


def echo_config(tmp_path: Path, server: E2EServer) -> Path:
    url = server.url
    path = tmp_path / "echo.yaml"
    path.write_text(
        f"""\
since: 2017-01-01
brands:
  - name: Slack
    terms: [Slack]
sources:
  - type: rss
    name: feed
    urls: [{url}/feeds/open.xml]
  - type: rss
    name: feed-token
    urls: ["{url}/feeds/token.xml?token=${{FEED_TOKEN}}"]
  - type: rss
    name: feed-login
    urls: ["http://feeduser:${{FEED_PASSWORD}}@127.0.0.1:{server.port}/feeds/login.xml"]
  - type: jsonl
    base_url: {url}/exports
    path: "mentions.jsonl?api_key=${{EXPORT_KEY}}"
  - type: reddit
    base_url: {url}/www.reddit.com
    oauth_base_url: {url}/oauth.reddit.com
    client_id: "${{REDDIT_CLIENT_ID}}"
    client_secret: "${{REDDIT_CLIENT_SECRET}}"
  - type: mastodon
    base_url: {url}/mastodon.social
    token: "${{MASTODON_TOKEN}}"
  - type: bluesky
    base_url: {url}/bsky.social
    handle: mentionwatch-e2e.bsky.social
    app_password: "${{BLUESKY_APP_PASSWORD}}"
  - type: stackexchange
    base_url: {url}/api.stackexchange.com
    key: "${{STACKEXCHANGE_KEY}}"
  - type: github
    base_url: {url}/api.github.com
    token: "${{GITHUB_TOKEN}}"
    kinds: [issue]
  - type: youtube
    base_url: {url}/www.googleapis.com/youtube/v3
    key: "${{YOUTUBE_KEY}}"
  - type: x
    base_url: {url}/api.x.com/2
    bearer_token: "${{X_BEARER_TOKEN}}"
http:
  retries: 0
""",
        encoding="utf-8",
    )
    return path


def written_text(path: Path) -> str:
    """What a file holds, as text to search: SQLite files (cache, state) are opened and every value read, the
    compressed ones decompressed."""
    if path.suffix != ".sqlite3":
        return path.read_bytes().decode("latin-1")
    parts: list[str] = []
    with sqlite3.connect(path) as db:
        for (table,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'"):
            for row in db.execute(f'SELECT * FROM "{table}"'):
                for value in row:
                    if isinstance(value, bytes):
                        with contextlib.suppress(zlib.error):
                            value = zlib.decompress(value)
                        value = value.decode("latin-1")
                    parts.append(str(value))
    return "\n".join(parts)


@pytest.mark.e2e
def test_no_secret_is_written_anywhere(tmp_path: Path, run_cli: Callable[..., Run]) -> None:
    secrets = list(SECRETS.values())
    out = tmp_path / "out"
    out.mkdir()
    with E2EServer() as server:
        serve_echoes(server)
        cfg = str(echo_config(tmp_path, server))
        bundle = str(tmp_path / "bundle")

        def scan(name: str, *extra: str) -> Run:
            files = ("-o", str(out / f"{name}.jsonl"), "--health", str(out / f"{name}.json"))
            return run_cli("scan", "-c", cfg, "-f", "jsonl", "-v", *files, *extra, env=SECRETS)

        # Recording; then with the HTTP cache (not used while recording); then replaying the recording.
        runs = {
            "record": scan("record", "--record", bundle),
            "cached": scan("cached"),
            "replay": scan("replay", "--replay", bundle),
        }
        requests = list(server.requests)

    # The secrets did reach the server, in each of the forms it echoed back ...
    by_path = {r.path: r for r in requests}
    assert by_path["/api.github.com/search/issues"].headers["authorization"] == f"Bearer {SECRETS['GITHUB_TOKEN']}"
    assert by_path["/www.reddit.com/api/v1/access_token"].headers["authorization"] == f"Basic {REDDIT_BASIC}"
    assert by_path["/feeds/login.xml"].headers["authorization"] == f"Basic {FEED_BASIC}"
    assert by_path["/feeds/token.xml"].param("token") == SECRETS["FEED_TOKEN"]
    assert by_path["/www.googleapis.com/youtube/v3/search"].param("key") == SECRETS["YOUTUBE_KEY"]
    assert (
        json.loads(by_path["/bsky.social/xrpc/com.atproto.server.createSession"].body)["password"]
        == (SECRETS["BLUESKY_APP_PASSWORD"])
    )
    assert by_path["/exports/mentions.jsonl"].param("api_key") == SECRETS["EXPORT_KEY"]

    # ... every source but the open feed failed on them, and the replay saw what the recording kept.
    for name, run in runs.items():
        assert run.code == 3, f"{name}: {run.stderr}"
        assert len(run.stdout) == 0 and (out / f"{name}.jsonl").stat().st_size > 0
    health = {name: json.loads((out / f"{name}.json").read_text()) for name in runs}
    states = {h["name"]: h["state"] for h in health["record"]["sources"]}
    assert states["feed"] == "ok" and states["github"] == states["bluesky"] == states["x"] == "unauthorized"
    replayed = {h["name"]: h["state"] for h in health["replay"]["sources"]}
    # X's `start_time` is "now - 7 days" to the second, and the recording's clock is read a moment before the
    # scan's: when the second ticks in between, the replayed request is not the recorded one. Not this test's concern.
    assert {**replayed, "x": states["x"]} == states
    bodies = list((tmp_path / "bundle" / "bodies").iterdir())
    assert len(bodies) == len(states) and sum(MASK.encode() in b.read_bytes() for b in bodies) >= 9

    # Nothing written, nothing printed holds a secret in any form.
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert {"record.jsonl", "record.json", "exchanges.jsonl", "http.sqlite3", "mentions.sqlite3"} <= {
        p.name for p in written
    }
    for path in written:
        assert leaks(written_text(path), secrets) == [], path.relative_to(tmp_path)
    for name, run in runs.items():
        assert leaks(run.stdout + run.stderr, secrets) == [], name

    # Errors name the URL without its query or user-info.
    errors = {h["name"]: h["error"] for h in health["record"]["sources"]}
    assert errors["feed-token"] == f"{server.url}/feeds/token.xml: HTTP 401, credentials missing or rejected"
    assert errors["feed-login"] == f"{server.url}/feeds/login.xml: HTTP 401, credentials missing or rejected"
    assert errors["jsonl"].startswith(f"{server.url}/exports/mentions.jsonl: HTTP 400")
    for text in [json.dumps(health), *(run.stderr for run in runs.values())]:
        assert "token=" not in text and "api_key=" not in text and "feeduser" not in text
