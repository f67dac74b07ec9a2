"""The floor of the design card: the least a command built on its libraries does for a scan of feeds.

    python benchmarks/cardloop.py scan -c CONFIG -q -o OUT   # CONFIG: mentionwatch's YAML (its rss URLs are read)

A Typer command with a scan's options; the YAML config read with PyYAML (libyaml) and checked by a pydantic model
(brands, sources and their URLs, the http settings: a fraction of mentionwatch's); every URL fetched with httpx
over mentionwatch's transport (`transport.StreamTransport`, as `feedloop.py --transport lean`), at most
`http.concurrency` at once, sending the ETag kept from the last run (a JSON file beside OUT); each 200 answer
parsed with feedparser (imported only then) and its entries' titles written to OUT as JSON lines; a 304 costs
nothing more. No matching, scoring, dedupe, store, cache of what a document gave, progress or health: whatever
mentionwatch does beyond this is its own cost. `fetch.py` runs it beside mentionwatch (`design_card_floor`).
"""

from __future__ import annotations

import asyncio
import gc
import json
import ssl
import sys
from pathlib import Path
from typing import Annotated

# A floor takes every shortcut mentionwatch takes: httpx's own command-line client (click, pygments, rich) is not
# imported, and the cyclic collector does not walk what start-up builds (here: never runs at all), nor everything
# again as the interpreter exits (frozen at the end).
gc.disable()
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]

import httpx  # noqa: E402
import typer  # noqa: E402
import yaml  # noqa: E402
from pydantic import BaseModel, Field  # noqa: E402

app = typer.Typer(add_completion=False)


@app.callback()
def root() -> None:
    """A command with subcommands, as mentionwatch's."""


class Brand(BaseModel):
    name: str
    terms: list[str] = Field(default_factory=list)


class Source(BaseModel):
    type: str
    urls: list[str] = Field(default_factory=list)


class Http(BaseModel):
    concurrency: int = 16
    per_host: int = 4
    timeout: float = 20
    deadline: float = 300


class Config(BaseModel):
    since: str = "7d"
    brands: list[Brand]
    sources: list[Source]
    http: Http = Http()


async def read_all(urls: list[str], etags: dict[str, str], concurrency: int, timeout: float) -> list[str]:
    from mentionwatch.transport import StreamTransport

    transport = StreamTransport(ssl.create_default_context, max_idle=concurrency)
    titles: list[str] = []
    async with httpx.AsyncClient(trust_env=False, timeout=timeout, transport=transport) as client:
        gate = asyncio.Semaphore(concurrency)

        async def one(url: str) -> None:
            headers = {"If-None-Match": etags[url]} if url in etags else {}
            async with gate:
                response = await client.get(url, headers=headers)
            if response.status_code == 304:
                return
            import feedparser

            titles.extend(entry.get("title", "") for entry in feedparser.parse(response.content).entries)
            if "etag" in response.headers:
                etags[url] = response.headers["etag"]

        await asyncio.gather(*(one(u) for u in urls))
    return titles


@app.command()
def scan(
    config_path: Annotated[Path, typer.Option("--config", "-c")],
    output: Annotated[Path, typer.Option("--output", "-o")],
    quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
    since: Annotated[str | None, typer.Option("--since")] = None,
    limit: Annotated[int | None, typer.Option("--limit")] = None,
) -> None:
    config = Config.model_validate(yaml.load(config_path.read_text(encoding="utf-8"), Loader=yaml.CSafeLoader))
    urls = [u for s in config.sources if s.type == "rss" for u in s.urls]
    state = output.with_suffix(".etags.json")
    etags = json.loads(state.read_text()) if state.exists() else {}
    titles = asyncio.run(read_all(urls, etags, config.http.concurrency, config.http.timeout))
    with output.open("w", encoding="utf-8") as out:
        out.writelines(json.dumps({"title": t}) + "\n" for t in titles)
    state.write_text(json.dumps(etags))


if __name__ == "__main__":
    try:
        app()
    finally:
        gc.freeze()
