"""The plain alternative the fetch benchmark compares with: httpx and feedparser in a concurrent loop, nothing else.

    python benchmarks/feedloop.py URLS_FILE STATE_FILE --concurrency 100 [--transport lean]

GETs every URL (at most `--concurrency` at once), sending the ETag kept in STATE_FILE from the last run, parses
each 200 answer with feedparser and keeps its ETag; a 304 costs nothing more. Prints the number of entries
parsed. No matching, scoring, dedupe, store or output: the floor a Python feed reader stands on.

`--transport lean`: the same loop over mentionwatch's own transport (`transport.StreamTransport`: asyncio
streams and h11) instead of httpx's default one, whose connection pool is CPU-bound at 100 connections: what a
plain httpx loop costs when its pool is not the bottleneck.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import ssl
from pathlib import Path

import feedparser
import httpx


async def read_all(urls: list[str], etags: dict[str, str], concurrency: int, lean: bool = False) -> int:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    transport = None
    if lean:
        from mentionwatch.transport import StreamTransport

        transport = StreamTransport(ssl.create_default_context, max_idle=concurrency)
    entries = 0
    async with httpx.AsyncClient(limits=limits, trust_env=False, timeout=60, transport=transport) as client:
        gate = asyncio.Semaphore(concurrency)

        async def one(url: str) -> None:
            nonlocal entries
            headers = {"If-None-Match": etags[url]} if url in etags else {}
            async with gate:
                response = await client.get(url, headers=headers)
            if response.status_code == 304:
                return
            entries += len(feedparser.parse(response.content).entries)
            if "etag" in response.headers:
                etags[url] = response.headers["etag"]

        await asyncio.gather(*(one(u) for u in urls))
    return entries


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("urls", type=Path)
    parser.add_argument("state", type=Path)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--transport", choices=["httpx", "lean"], default="httpx")
    args = parser.parse_args()
    urls = args.urls.read_text().split()
    etags = json.loads(args.state.read_text()) if args.state.exists() else {}
    print(asyncio.run(read_all(urls, etags, args.concurrency, lean=args.transport == "lean")))
    args.state.write_text(json.dumps(etags))


if __name__ == "__main__":
    main()
