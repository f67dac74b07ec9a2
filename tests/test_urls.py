"""Canonical URLs: the same page under two spellings is one key, two pages are never one."""

from __future__ import annotations

import html
import re
from collections import defaultdict
from typing import Any
from urllib.parse import unquote

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from mentionwatch.urls import canonical_url, host_of, unwrap_redirect

from conftest import fixture_path, load_json


@pytest.mark.parametrize(
    ("url", "canonical"),
    [
        ("HTTP://WWW.Example.COM:80/a/b/?utm_source=x&id=3#top", "https://example.com/a/b?id=3"),
        ("https://example.com:443/", "https://example.com"),
        ("https://example.com:8443/a", "https://example.com:8443/a"),
        ("https://example.com/a?fbclid=1&gclid=2&mc_cid=3&ref=hn&b=2&a=1", "https://example.com/a?a=1&b=2"),
        ("https://example.com/a/./b/../c", "https://example.com/a/c"),
        ("https://example.com/%7euser/caf%c3%a9", "https://example.com/~user/caf%C3%A9"),
        ("https://example.com/café", "https://example.com/caf%C3%A9"),
        ("https://example.com/app#!/post/1", "https://example.com/app#!/post/1"),
        ("https://youtu.be/abc123?si=track", "https://youtube.com/watch?v=abc123"),
        ("https://m.youtube.com/watch?v=abc123&feature=share", "https://youtube.com/watch?v=abc123"),
        ("https://twitter.com/acme/status/1?s=20", "https://x.com/acme/status/1"),
        ("https://old.reddit.com/r/x/comments/1/t/", "https://reddit.com/r/x/comments/1/t"),
        ("http://[2001:0DB8:0000:0000:0000:0000:0000:0001]:8080/a", "http://[2001:db8::1]:8080/a"),
        ("https://www.bücher.de/a", "https://xn--bcher-kva.de/a"),
        ("https://Alice@Example.com/a", "https://Alice@example.com/a"),
        ("mailto:someone@example.com", "mailto:someone@example.com"),
    ],
)
def test_canonical_url(url: str, canonical: str) -> None:
    assert canonical_url(url) == canonical


# -- what must never merge (issue #12)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        # A port that is not the scheme's own is another server (or another protocol on it).
        ("https://x.example:80/", "https://x.example/"),
        ("http://x.example:443/a", "https://x.example/a"),
        ("http://x.example:8080/a", "https://x.example:8080/a"),
        ("https://x.example:8443/a", "https://x.example/a"),
        # User-info names an account, whose pages may differ.
        ("https://alice@x.example/", "https://x.example/"),
        ("https://alice@x.example/", "https://bob@x.example/"),
        ("https://alice:one@x.example/", "https://alice:two@x.example/"),
        # Two IPv6 hosts, and an IPv6 host and the IPv4-looking prefix that a lost bracket would leave.
        ("http://[2001:db8::1]/a", "http://[2001:db8::2]/a"),
        ("http://[2001:db8::1]/a", "http://2001/a"),
        # Escaped bytes that are not UTF-8: Latin-1 é, UTF-8 é and 0xFF are three names.
        ("https://x.example/caf%E9", "https://x.example/caf%C3%A9"),
        ("https://x.example/caf%E9", "https://x.example/caf%FF"),
        ("https://x.example/s?q=caf%E9", "https://x.example/s?q=caf%C3%A9"),
        ("https://x.example/s?q=%E9", "https://x.example/s?q=%FF"),
        # Escaped delimiters are data, not structure.
        ("https://x.example/a%2Fb", "https://x.example/a/b"),
        ("https://x.example/a%3Bb", "https://x.example/a;b"),
        ("https://x.example/a%3Fb", "https://x.example/a?b"),
        ("https://x.example/s?q=a%26b", "https://x.example/s?q=a&b"),
        ("https://x.example/s?q=a%2Bb", "https://x.example/s?q=a+b"),
        # An empty segment can name another resource.
        ("https://x.example/a//b", "https://x.example/a/b"),
        ("https://x.example/a//", "https://x.example/a/"),
        # Fragments that are routes or views are what a single-page application shows.
        ("https://app.example/#/orders/1", "https://app.example/#/orders/2"),
        ("https://app.example/#/orders/1", "https://app.example/"),
        ("https://app.example/#!/post/1", "https://app.example/#!/post/2"),
        ("https://docs.google.com/spreadsheets/d/K/edit#gid=0", "https://docs.google.com/spreadsheets/d/K/edit#gid=7"),
        # Repeated parameters with different values.
        ("https://x.example/s?tag=a&tag=b", "https://x.example/s?tag=a"),
    ],
)
def test_different_pages_never_share_a_key(a: str, b: str) -> None:
    assert canonical_url(a) != canonical_url(b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("http://x.example/a", "https://x.example/a"),  # http and https on their own ports
        ("http://x.example:80/a", "https://x.example:443/a"),
        ("https://x.example/a/", "https://x.example/a"),
        ("https://x.example/a#comments", "https://x.example/a"),  # an anchor within the page
        ("https://x.example/v#t=30", "https://x.example/v"),  # a media fragment: a moment of the same video
        ("https://x.example/doc.pdf#page=3", "https://x.example/doc.pdf"),  # RFC 8118: a page of the same PDF
        ("https://x.example/a#:~:text=acme", "https://x.example/a"),  # a text fragment only highlights
        ("https://x.example/s?q=a+b", "https://x.example/s?q=a%20b"),  # form encoding: both are a space
        ("https://x.example/s?q=a,b", "https://x.example/s?q=a%2cb"),
        ("https://x.example/a,b", "https://x.example/a%2Cb"),
        ("https://x.example/s?b=2&a=1", "https://x.example/s?a=1&b=2"),
        ("https://x.example/s?tag=b&tag=a", "https://x.example/s?tag=a&tag=b"),
        ("http://[::0:1]/a", "http://[::1]/a"),
        ("https://bücher.de/a", "https://xn--bcher-kva.de/a"),
        ("https://x.example./a", "https://x.example/a"),
    ],
)
def test_one_page_under_two_spellings_is_one_key(a: str, b: str) -> None:
    assert canonical_url(a) == canonical_url(b)


def test_the_host_of_an_ipv6_url_is_the_whole_address_in_its_brackets() -> None:
    assert host_of("http://[2001:db8::1]/a") == "[2001:db8::1]"
    assert host_of("http://[2001:DB8:0::1]:8080/a") == "[2001:db8::1]"
    assert canonical_url("http://[2001:db8::1]/a") == "https://[2001:db8::1]/a"


def test_host_of_leaves_out_user_info_and_port_and_gives_names_in_unicode() -> None:
    assert host_of("https://alice:secret@WWW.Acme.io:8443/a") == "acme.io"
    assert host_of("https://xn--bcher-kva.de/a") == host_of("https://www.bücher.de/") == "bücher.de"
    assert host_of("") == host_of("not a url") == ""


@pytest.mark.parametrize("url", ["http://[::1", "http://[::1/p]", "https://x.example:99999/", "https://x.example:ab/"])
def test_an_unparsable_url_is_its_own_key_not_an_error(url: str) -> None:
    assert canonical_url(url) == url
    if "[" in url:
        assert host_of(url) == ""


# -- w3lib's canonicalize_url cases (tests/fixtures/w3lib: BSD licence, credited in its README)

W3LIB: dict[str, Any] = load_json("w3lib", "canonicalize_url_cases.json")
W3LIB_WEB = [c for c in W3LIB["canonical"] if c["w3lib"].startswith(("http://", "https://"))]
# Where mentionwatch merges more than w3lib, on purpose (README, "Duplicates"): http and https on their
# default ports, `www.`, one trailing slash. Nothing else may join two of w3lib's pages.
DELIBERATE_MERGES = {
    "https://example.com": {"http://www.example.com/", "https://example.com/"},
    "https://example.com/a": {"http://www.example.com/a", "http://www.example.com/a/"},
}


def _case_id(case: dict[str, Any]) -> str:
    return f"{case['test']}:{case['line']}"


def test_the_w3lib_cases_are_all_there() -> None:
    assert len(W3LIB["canonical"]) == 89
    assert len(W3LIB_WEB) == 83  # the others are relative, mailto:, sftp: or foo: URLs


@pytest.mark.parametrize("case", W3LIB_WEB, ids=_case_id)
def test_what_w3lib_calls_one_page_is_one_key(case: dict[str, Any]) -> None:
    key = canonical_url(case["url"])
    assert key == canonical_url(case["w3lib"])
    assert canonical_url(key) == key


def test_what_w3lib_calls_different_pages_keep_different_keys() -> None:
    pages: dict[str, set[str]] = defaultdict(set)
    for case in W3LIB_WEB:
        pages[canonical_url(case["w3lib"])].add(case["w3lib"])
    merged = {key: forms for key, forms in pages.items() if len(forms) > 1}
    assert merged == DELIBERATE_MERGES
    assert len(pages) > 50


@pytest.mark.parametrize("case", [c for c in W3LIB["canonical"] if c not in W3LIB_WEB], ids=_case_id)
def test_urls_that_are_not_web_pages_come_back_as_they_are(case: dict[str, Any]) -> None:
    assert canonical_url(case["url"]) == case["url"].strip()


@pytest.mark.parametrize("url", W3LIB["invalid"])
def test_w3lib_invalid_urls_are_their_own_key(url: str) -> None:
    assert canonical_url(url) == url


@pytest.mark.parametrize("url", W3LIB["idempotent"])
def test_w3lib_idempotence_cases(url: str) -> None:
    once = canonical_url(url)
    assert canonical_url(once) == once


# -- redirect wrappers


@pytest.mark.parametrize(
    "wrapped",
    [
        "https://www.google.com/url?rct=j&sa=t&url=https://example.com/news/1%3Futm_source%3Dalerts&ct=ga",
        "https://www.google.co.uk/url?q=https://example.com/news/1&sa=U",
        "https://l.facebook.com/l.php?u=https%3A%2F%2Fexample.com%2Fnews%2F1&h=AT0",
        "https://out.reddit.com/t3_abc?url=https%3A%2F%2Fexample.com%2Fnews%2F1&token=x",
        "https://www.youtube.com/redirect?event=video_description&q=https%3A%2F%2Fexample.com%2Fnews%2F1",
        "https://eur01.safelinks.protection.outlook.com/?url=https%3A%2F%2Fexample.com%2Fnews%2F1&data=x",
        "https://l.facebook.com/l.php?u=https%3A%2F%2Fwww.google.com%2Furl%3Fq%3Dhttps%3A%2F%2Fexample.com%2Fnews%2F1",
    ],
)
def test_redirect_wrappers_are_unwrapped(wrapped: str) -> None:
    assert canonical_url(wrapped) == "https://example.com/news/1"


def test_shorteners_cannot_be_unwrapped_offline() -> None:
    assert unwrap_redirect("https://t.co/abc123") == "https://t.co/abc123"


def test_the_real_google_alerts_fixture_links_unwrap_to_the_article() -> None:
    text = fixture_path("rss", "google_alerts_atom_feedjira.xml").read_text(encoding="utf-8")
    links = re.findall(r'<link href="([^"]+)"', text)
    wrapped = [html.unescape(u) for u in links if "google.com/url" in u]
    assert wrapped
    for url in wrapped:
        assert "google.com" not in canonical_url(url)


# -- properties

_segment = st.text(alphabet="abcXYZ019-_~.%é,;", min_size=1, max_size=6).filter(lambda s: s not in (".", ".."))
_param = st.tuples(st.sampled_from(["id", "page", "q", "v", "sort", "a"]), st.text(alphabet="abc12 +&=%/é", max_size=5))
_url = st.builds(
    lambda scheme, userinfo, host, segs, params, frag: (
        f"{scheme}://{userinfo}{host}/{'/'.join(segs)}"
        + ("?" + "&".join(f"{k}={v}" for k, v in params) if params else "")
        + (f"#{frag}" if frag else "")
    ),
    st.sampled_from(["http", "https", "HTTPS"]),
    st.sampled_from(["", "alice@", "Al%69ce:p%3a@"]),
    st.sampled_from(
        ["example.com", "WWW.example.com", "example.com:8080", "example.com:443", "news.example.org", "[::0:1]"]
    ),
    st.lists(_segment, max_size=4),
    st.lists(_param, max_size=3),
    st.sampled_from(["", "top", "!/route", "/orders/1", "gid=3", "t=30"]),
)


@settings(max_examples=300, deadline=None)
@given(url=_url)
def test_canonical_url_is_idempotent(url: str) -> None:
    once = canonical_url(url)
    assert canonical_url(once) == once


@settings(max_examples=300, deadline=None)
@given(segs_a=st.lists(_segment, min_size=1, max_size=3), segs_b=st.lists(_segment, min_size=1, max_size=3))
def test_different_paths_stay_different(segs_a: list[str], segs_b: list[str]) -> None:
    a, b = "/".join(segs_a), "/".join(segs_b)
    assume(unquote(a) != unquote(b))  # `%7E` and `~` are the same path
    assert canonical_url(f"https://example.com/{a}") != canonical_url(f"https://example.com/{b}")


@settings(max_examples=300, deadline=None)
@given(
    key=st.sampled_from(["id", "page", "v", "q", "article"]),
    value_a=st.text(alphabet="abc123-_", min_size=1, max_size=5),
    value_b=st.text(alphabet="abc123-_", min_size=1, max_size=5),
    tracking=st.sampled_from(["utm_source=x", "fbclid=1", "gclid=z", "ref=hn", "mc_cid=9"]),
)
def test_non_tracking_parameters_keep_pages_apart(key: str, value_a: str, value_b: str, tracking: str) -> None:
    assume(value_a != value_b)
    a = canonical_url(f"https://example.com/p?{key}={value_a}&{tracking}")
    b = canonical_url(f"https://example.com/p?{tracking}&{key}={value_b}")
    assert a != b
    assert a == canonical_url(f"https://www.example.com/p/?{key}={value_a}")
