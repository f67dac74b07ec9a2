"""The suite's own guard: nothing under test can reach an address outside 127.0.0.0/8."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from mentionwatch.errors import FetchError
from mentionwatch.http import SourceHttp
from mentionwatch.source import SourceContext
from mentionwatch.sources.hackernews import HackerNewsConfig, HackerNewsSource

from conftest import Run
from netguard import NetworkBlocked


def test_connecting_outside_loopback_is_refused_before_any_packet() -> None:
    with socket.socket() as sock, pytest.raises(NetworkBlocked):
        sock.connect(("192.0.2.1", 80))  # TEST-NET-1: refused by the guard, never dialled


def test_name_lookups_are_refused() -> None:
    with pytest.raises(NetworkBlocked):
        socket.getaddrinfo("hn.algolia.com", 443)


def test_loopback_is_allowed() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        with socket.socket() as client:
            client.connect(server.getsockname())


def test_an_adapter_left_on_its_real_default_url_fails_fast() -> None:
    async def go() -> None:
        async with httpx.AsyncClient() as client:
            ctx = SourceContext(http=SourceHttp(client), now=lambda: datetime.now(UTC))
            source = HackerNewsSource(HackerNewsConfig(type="hackernews"), ctx)
            async for _ in source.fetch("acme", datetime(2026, 1, 1, tzinfo=UTC)):
                pass

    started = time.monotonic()
    with pytest.raises(FetchError):
        asyncio.run(go())
    assert time.monotonic() - started < 30  # a bound against hanging, not a timing assertion


@pytest.mark.e2e
def test_the_cli_subprocess_is_guarded_too(tmp_path: Path, run_cli: Callable[..., Run]) -> None:
    cfg = tmp_path / "mw.yaml"
    cfg.write_text("brands:\n  - name: A\n    terms: [acme]\nsources:\n  - type: hackernews\n")
    health = tmp_path / "health.json"
    run = run_cli("scan", "-c", str(cfg), "-f", "jsonl", "--health", str(health), timeout=60)
    assert run.code == 4
    [state] = json.loads(health.read_text())["sources"]
    assert state["state"] == "failed"
