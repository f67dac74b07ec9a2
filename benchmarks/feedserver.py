"""A loopback feed server for the fetch benchmark: asyncio (so the server is not the bottleneck), bounded and
self-stopping.

    python benchmarks/feedserver.py --feeds 200 --items 20 --latency 0.2 --lifetime 900

prints its port on the first line of stdout, serves `/feed/<n>.xml` (RSS 2.0, `ETag`, 304 on `If-None-Match`)
after `--latency` seconds, and exits after `--lifetime` seconds or on SIGTERM, whichever comes first.
Only ever binds 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import signal
import sys
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from xml.sax.saxutils import escape

# Real text for realistic vocabulary and lengths: the human-rated tweets shipped for the sentiment benchmark.
_DATA = Path(__file__).parent / "data" / "vader_tweets_GroundTruth.txt"
TWEETS = [line.split("\t", 2)[2].strip() for line in _DATA.read_text("utf-8").splitlines() if line.count("\t") >= 2]


def make_feed(n: int, items: int, brand_every: int, now: datetime) -> bytes:
    rng = random.Random(n)
    entries = []
    for i in range(items):
        words = " ".join(rng.choice(TWEETS) for _ in range(rng.randint(2, 5))).split()
        if (n * items + i) % brand_every == 0:
            words.insert(rng.randint(0, len(words)), "Acme")
        title = " ".join(words[:8])
        published = now - timedelta(minutes=rng.randint(5, 60 * 72))
        entries.append(
            f'<item><guid isPermaLink="false">feed{n}-item{i}</guid><title>{escape(title)}</title>'
            f"<link>https://site{n % 97}.example/posts/{n}/{i}</link>"
            f"<pubDate>{format_datetime(published)}</pubDate>"
            f"<description>{escape('<p>' + ' '.join(words) + '</p>')}</description></item>"
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
        f"<title>Feed {n}</title><link>https://site{n % 97}.example/</link><description>bench</description>"
        + "".join(entries)
        + "</channel></rss>"
    ).encode()


class FeedServer:
    def __init__(self, feeds: int, items: int, latency: float) -> None:
        now = datetime.now(UTC)
        self.bodies = [make_feed(n, items, 10, now) for n in range(feeds)]
        self.latency = latency
        self.requests = 0
        self.not_modified = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                request_line = await reader.readline()
                if not request_line:
                    return
                headers: dict[str, str] = {}
                while True:
                    line = await reader.readline()
                    if line in (b"\r\n", b"\n", b""):
                        break
                    key, _, value = line.decode("latin-1").partition(":")
                    headers[key.strip().lower()] = value.strip()
                parts = request_line.decode("latin-1").split()
                path = parts[1] if len(parts) > 1 else "/"
                await asyncio.sleep(self.latency)
                self.requests += 1
                writer.write(self.respond(path, headers))
                await writer.drain()
                if headers.get("connection", "").lower() == "close":
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            writer.close()

    def respond(self, path: str, headers: dict[str, str]) -> bytes:
        try:
            n = int(path.removeprefix("/feed/").removesuffix(".xml"))
            body = self.bodies[n]
        except (ValueError, IndexError):
            return b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
        etag = f'"feed{n}-v1"'
        if headers.get("if-none-match") == etag:
            self.not_modified += 1
            return f"HTTP/1.1 304 Not Modified\r\nETag: {etag}\r\nContent-Length: 0\r\n\r\n".encode()
        head = (
            f"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\nETag: {etag}\r\n"
            f"Last-Modified: Wed, 25 Nov 2026 08:00:00 GMT\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        return head.encode() + body


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--feeds", type=int, default=200)
    parser.add_argument("--items", type=int, default=20)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--lifetime", type=float, default=900)
    args = parser.parse_args()
    feeds = FeedServer(args.feeds, args.items, args.latency)
    server = await asyncio.start_server(feeds.handle, "127.0.0.1", 0, backlog=2048)
    port = server.sockets[0].getsockname()[1]
    print(port, flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        with contextlib.suppress(TimeoutError):  # the lifetime is up: stop by ourselves
            await asyncio.wait_for(stop.wait(), timeout=args.lifetime)
    print(f"served {feeds.requests} requests, {feeds.not_modified} not modified", file=sys.stderr)


if __name__ == "__main__":
    asyncio.run(main())
