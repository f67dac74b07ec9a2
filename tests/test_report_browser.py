"""The HTML report in a real browser (issue #14): headless Chromium, Debian's package (`scripts/check` installs it
when it can and exports CHROMIUM_PATH), kept off the network by its flags and by the page's own
Content-Security-Policy.

One Chromium run loads a harness page from a loopback server; the harness frames the report (untouched) at a
desktop and a phone width and, once everything has loaded, reads back from the rendered page what each chart
holds and how it is drawn, and every link. `--dump-dom` returns it; `--enable-logging=stderr` gives every
console message, so an error in the page (a blocked fetch, a CSP violation, a script error) fails the test.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

import report_store
from mentionwatch.report import BrandSpec, Window, collect
from mentionwatch.report.html_writer import page
from mentionwatch.report.json_writer import report_data
from mentionwatch.store.sqlite import SqliteStore
from report_store import SCANNED, SINCE, UNTIL

from conftest import LoopbackServer, Reply

# What keeps Chromium off the network and out of the user's profile (no sync, updates, field trials, QUIC).
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--enable-logging=stderr",
    "--v=0",
)
WIDTHS = {"desktop": 1280, "phone": 390}

HARNESS = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>harness</title></head><body>
<iframe id="desktop" src="/report.html" style="width:1280px;height:900px;border:0"></iframe>
<iframe id="phone" src="/report.html" style="width:390px;height:900px;border:0"></iframe>
<pre id="measured"></pre>
<script>
function box(el) { const r = el.getBoundingClientRect(); return {width: r.width, height: r.height}; }
function measure(frame) {
  const doc = frame.contentDocument;
  const charts = (kind) => [...doc.querySelectorAll(`svg[data-chart=${kind}]`)];
  return {
    title: doc.title,
    clientWidth: doc.documentElement.clientWidth,
    scrollWidth: doc.documentElement.scrollWidth,
    volume: charts("volume").map(svg => ({
      brand: svg.dataset.brand, max: +svg.dataset.max, box: box(svg),
      title: svg.querySelector("title").textContent,
      bars: [...svg.querySelectorAll("rect.bar")].map(r => ({
        period: r.dataset.period, mentions: +r.dataset.mentions, height: r.getBBox().height,
        drawn: box(r).height, spike: r.classList.contains("spike"),
        title: r.querySelector("title").textContent})),
    })),
    sentiment: charts("sentiment").map(svg => ({
      when: svg.dataset.when, box: box(svg), title: svg.querySelector("title").textContent,
      parts: [...svg.querySelectorAll("rect")].map(r => ({
        label: r.dataset.label, mentions: +r.dataset.mentions, share: +r.dataset.share, drawn: box(r).width})),
    })),
    voice: charts("voice").map(svg => ({
      brand: svg.dataset.brand, what: svg.dataset.what, label: svg.getAttribute("aria-label"),
      share: +svg.querySelector("rect").dataset.share, drawn: box(svg.querySelector("rect")).width,
      width: box(svg).width})),
    links: [...doc.querySelectorAll("a[href]")].map(a => ({href: a.getAttribute("href"), text: a.textContent})),
    ids: [...doc.querySelectorAll("[id]")].map(e => e.id),
  };
}
window.addEventListener("load", () => {
  document.getElementById("measured").textContent = JSON.stringify(
    {desktop: measure(document.getElementById("desktop")), phone: measure(document.getElementById("phone"))});
});
</script>
</body></html>
"""


@pytest.fixture(scope="module")
def chromium() -> str:
    """Chromium's path: $CHROMIUM_PATH (scripts/check sets it) or `chromium` on PATH. Missing, the test fails in
    CI (CI=true: scripts/check must have provided it) and is skipped elsewhere, saying how to get it."""
    path = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium")
    if path and Path(path).exists():
        return path
    message = "Chromium is not installed: `apt-get install chromium` (scripts/check does it when run as root)"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="module")
def rendered(chromium: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], str, dict[str, Any]]:
    """(what the harness measured, Chromium's console lines, the report's JSON figures)."""
    folder = tmp_path_factory.mktemp("browser")
    store = SqliteStore.open(report_store.build(folder / "store.sqlite3"))
    try:
        brands = [BrandSpec("Acme", False, ("Acme",)), BrandSpec("Rival", True, ("Rival",))]
        made = collect(store, brands, Window.of(SINCE, UNTIL), now=SCANNED)
    finally:
        store.close()
    html = page(made)
    with LoopbackServer() as server:
        server.route("/report.html", Reply(200, html.encode(), {"content-type": "text/html; charset=utf-8"}))
        server.route("/harness.html", Reply(200, HARNESS.encode(), {"content-type": "text/html; charset=utf-8"}))
        proc = subprocess.run(
            [chromium, *FLAGS, f"--user-data-dir={folder / 'profile'}", "--dump-dom", f"{server.url}/harness.html"],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert proc.returncode == 0, proc.stderr[-2000:]
    found = re.search(r'<pre id="measured">(.*?)</pre>', proc.stdout, re.DOTALL)
    assert found and found.group(1), f"the harness measured nothing: {proc.stdout[-1000:]}"
    import html as markup

    return json.loads(markup.unescape(found.group(1))), proc.stderr, report_data(made)


def console_lines(stderr: str) -> list[str]:
    """Chromium's console messages (`INFO:CONSOLE:12] "..."`, `CONSOLE(12)` in older builds) and uncaught errors."""
    return [line for line in stderr.splitlines() if re.search(r"CONSOLE[(:]|Uncaught", line)]


def test_the_page_renders_with_no_console_message(rendered: tuple[dict[str, Any], str, dict[str, Any]]) -> None:
    measured, stderr, _ = rendered
    assert console_lines(stderr) == []
    assert measured["desktop"]["title"].startswith("mentionwatch report: Acme, Rival")


def test_each_volume_chart_holds_the_reports_numbers_drawn_to_scale(
    rendered: tuple[dict[str, Any], str, dict[str, Any]],
) -> None:
    measured, _, data = rendered
    for width in WIDTHS:
        charts = measured[width]["volume"]
        assert [c["brand"] for c in charts] == ["Acme", "Rival"]
        for chart in charts:
            figures = data["brands"][chart["brand"]]
            assert [(b["period"], b["mentions"]) for b in chart["bars"]] == [
                (p["period"], p["mentions"]) for p in figures["volume"]
            ]
            assert f"{figures['mentions']} in all" in chart["title"]
            assert chart["box"]["height"] > 50 and chart["box"]["width"] > 250, "the chart is drawn, and big enough"
            for bar in chart["bars"]:
                # In the SVG's own units (0-100) and in pixels on the screen, each bar is its share of the tallest.
                assert bar["height"] == pytest.approx(bar["mentions"] / chart["max"] * 100, abs=0.01)
                assert bar["drawn"] == pytest.approx(bar["mentions"] / chart["max"] * chart["box"]["height"], abs=1.5)
                assert bar["title"].startswith(f"{bar['period']}: {bar['mentions']} mention")
    acme = measured["desktop"]["volume"][0]["bars"]
    assert [b["period"] for b in acme if b["spike"]] == [s["period"] for s in data["spikes"]] == ["2026-11-25"]


def test_the_sentiment_and_share_of_voice_charts_hold_the_reports_numbers(
    rendered: tuple[dict[str, Any], str, dict[str, Any]],
) -> None:
    measured, _, data = rendered
    stacks = measured["desktop"]["sentiment"]
    # Two stacked bars a brand: this period, then the previous one.
    acme_now, acme_before = stacks[0], stacks[1]
    assert (acme_now["when"], acme_before["when"]) == ("this period", "previous period")
    figures = data["brands"]["Acme"]
    assert {p["label"]: p["mentions"] for p in acme_now["parts"]} == figures["sentiment"]
    assert {p["label"]: p["mentions"] for p in acme_before["parts"]} == figures["image"]["previous"]
    for part in acme_now["parts"]:
        assert part["share"] == pytest.approx(figures["image"]["shares"][part["label"]], abs=1e-4)
        assert part["drawn"] == pytest.approx(part["share"] * acme_now["box"]["width"], abs=1.5)
    assert "10% positive (3), 57% neutral (17), 33% negative (10)" in acme_now["title"]
    voice = {(v["brand"], v["what"]): v for v in measured["desktop"]["voice"]}
    for brand, figures in data["brands"].items():
        mentions, impact = voice[brand, "mentions"], voice[brand, "impact"]
        assert mentions["share"] == pytest.approx(figures["share_of_voice"], abs=1e-4)
        assert impact["share"] == pytest.approx(figures["share_of_impact"], abs=1e-4)
        assert mentions["drawn"] == pytest.approx(mentions["share"] * mentions["width"], abs=1.5)
        assert mentions["label"] == f"{brand}: {round(figures['share_of_voice'] * 100)}% of the mentions"


def test_every_link_works_and_the_mentions_are_linked(rendered: tuple[dict[str, Any], str, dict[str, Any]]) -> None:
    measured, _, data = rendered
    links = measured["desktop"]["links"]
    ids = set(measured["desktop"]["ids"])
    inside = [a["href"] for a in links if a["href"].startswith("#")]
    outside = {a["href"] for a in links if not a["href"].startswith("#")}
    assert inside and all(href[1:] in ids for href in inside), "every in-page link has its target"
    assert all(href.startswith("https://") for href in outside)
    acme = data["brands"]["Acme"]
    cited = [
        *acme["image"]["most_negative"],
        *acme["image"]["most_positive"],
        *acme["who"]["needs_reply"]["mentions"],
        *(c for s in data["spikes"] for c in s["citations"]),
    ]
    assert {c["url"] for c in cited} <= outside, "each cited mention links to itself"
    assert "https://www.reddit.com/r/devops/comments/a2/post/" in outside  # the inbox's oldest


def test_the_page_fits_a_phone_and_a_desktop_without_sideways_scrolling(
    rendered: tuple[dict[str, Any], str, dict[str, Any]],
) -> None:
    measured, _, _ = rendered
    for width in WIDTHS:
        assert measured[width]["scrollWidth"] <= measured[width]["clientWidth"], width
