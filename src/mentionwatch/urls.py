"""Canonical URLs, redirect unwrapping and hosts: when two links name the same page.

Used by dedupe (the same page seen twice is one mention), matching (`site:` filters) and the feed reader
(Google Alerts' redirect links).
"""

from __future__ import annotations

import re
from urllib.parse import SplitResult, parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

# Query parameters that say how someone got to a page, not which page it is.
_TRACKING_PREFIXES = ("utm_", "mc_", "pk_", "mtm_", "hsa_", "_hs", "__hs", "oly_", "vero_")
_TRACKING = frozenset(
    {
        "fbclid",
        "gclid",
        "gclsrc",
        "dclid",
        "gbraid",
        "wbraid",
        "msclkid",
        "yclid",
        "igshid",
        "twclid",
        "ttclid",
        "li_fat_id",
        "mkt_tok",
        "mc_cid",
        "mc_eid",
        "ref",
        "ref_src",
        "ref_url",
        "referrer",
        "cmpid",
        "ocid",
        "_ga",
        "_gl",
        "spm",
        "s_cid",
        "oc",
        "ved",
        "usg",
        "ei",
    }
)
# Share-tracking parameters that are only tracking on one site (elsewhere `s` or `si` may name the page).
_TRACKING_ON_HOST = {
    "youtube.com": frozenset({"si", "feature", "pp"}),
    "x.com": frozenset({"s", "t"}),
    "reddit.com": frozenset({"share_id", "rdt"}),
    "instagram.com": frozenset({"igsh"}),
    "open.spotify.com": frozenset({"si"}),
}
# Other names of the same site.
_HOST_ALIASES = {
    "twitter.com": "x.com",
    "mobile.twitter.com": "x.com",
    "mobile.x.com": "x.com",
    "m.youtube.com": "youtube.com",
    "music.youtube.com": "youtube.com",
    "old.reddit.com": "reddit.com",
    "new.reddit.com": "reddit.com",
    "np.reddit.com": "reddit.com",
    "m.reddit.com": "reddit.com",
    "m.facebook.com": "facebook.com",
}
# Redirect wrappers that carry their target in a query parameter: (host, path, parameters). Shorteners
# (t.co, bit.ly, lnkd.in, buff.ly) hide the target on their server and cannot be unwrapped offline; nor can
# Google News' `news.google.com/rss/articles/<id>` links, whose id is resolved by Google.
_REDIRECTS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("news.google.com", "/news/url", ("url",)),
    ("l.facebook.com", "/l.php", ("u",)),
    ("lm.facebook.com", "/l.php", ("u",)),
    ("l.messenger.com", "/l.php", ("u",)),
    ("l.instagram.com", "/", ("u",)),
    ("out.reddit.com", "*", ("url",)),
    ("youtube.com", "/redirect", ("q",)),
    ("linkedin.com", "/redir/redirect", ("url",)),
    ("slack-redir.net", "/link", ("url",)),
    ("t.umblr.com", "/redirect", ("z",)),
    ("vk.com", "/away.php", ("to",)),
    ("duckduckgo.com", "/l/", ("uddg",)),
    ("steamcommunity.com", "/linkfilter/", ("url",)),
    ("safelinks.protection.outlook.com", "/", ("url",)),
)
_GOOGLE = re.compile(r"^(?:www\.)?google\.(?:com|co\.[a-z]{2}|com?\.[a-z]{2}|[a-z]{2})$")
_PERCENT = re.compile(r"%([0-9A-Fa-f]{2})")
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_PATH_SAFE = "/:@!$&'()*+,;=-._~%"


def _redirect_target(host: str, path: str, query: str) -> str | None:
    params = parse_qsl(query)
    names: tuple[str, ...] = ()
    if _GOOGLE.match(host) and path == "/url":
        names = ("url", "q")  # Google Alerts and Google search results
    else:
        for wrapper, wpath, wnames in _REDIRECTS:
            if (host == wrapper or host.endswith("." + wrapper)) and (
                wpath == "*" or path == wpath or path.rstrip("/") == wpath.rstrip("/")
            ):
                names = wnames
                break
    for name in names:
        target = next((v for k, v in params if k == name), "")
        if "%3a" in target[:12].lower():  # encoded twice on the way
            target = unquote(target)
        if target.startswith(("http://", "https://")):
            return target
    return None


def unwrap_redirect(url: str) -> str:
    """The real target of a redirect wrapper: Google Alerts / search (`google.com/url?...&url=REAL`),
    Facebook's `l.facebook.com/l.php?u=`, Reddit's `out.reddit.com`, YouTube's `/redirect?q=`, Outlook safe
    links, ... (nested wrappers too). Anything else comes back unchanged."""
    if "?" not in url:  # every wrapper carries its target in the query: most links are done here
        return url
    for _ in range(5):
        parts = _split(url)
        if parts is None:
            return url
        host = (parts.hostname or "").lower().removeprefix("www.")
        target = _redirect_target(host, parts.path, parts.query) if parts.query else None
        if target is None:
            return url
        url = target
    return url


def _normalize_percent(match: re.Match[str]) -> str:
    char = chr(int(match.group(1), 16))
    return char if char in _UNRESERVED else "%" + match.group(1).upper()


def _canonical_path(path: str) -> str:
    path = _PERCENT.sub(_normalize_percent, path)
    path = quote(path, safe=_PATH_SAFE)
    if "/." in path:
        # RFC 3986 dot segments; a `//` is kept (it can name a different resource).
        trailing = path.endswith(("/", "/.", "/.."))
        parts: list[str] = []
        for seg in path.split("/")[1:]:
            if seg == "..":
                if parts:
                    parts.pop()
            elif seg != ".":
                parts.append(seg)
        path = "/" + "/".join(parts) + ("/" if trailing and parts else "")
    path = path.rstrip("/")
    return path


def canonical_url(url: str) -> str:
    """A key for "the same page": redirect wrappers unwrapped, https, lowercase host without `www.` or a
    default port, no fragment (except `#!` routes), no trailing slash, tracking parameters removed, the
    rest sorted by name. Non-web URLs come back stripped of surrounding spaces only."""
    url = unwrap_redirect(url.strip())
    parts = _split(url)
    if parts is None or parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return url
    try:
        port = parts.port
    except ValueError:
        return url
    host = parts.hostname.lower().rstrip(".").removeprefix("www.")
    host = _HOST_ALIASES.get(host, host)
    path = _canonical_path(parts.path)
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    if host == "youtu.be" and path.count("/") == 1 and len(path) > 1:
        host, pairs, path = "youtube.com", [("v", path[1:]), *pairs], "/watch"
    netloc = host if port in (None, 80, 443) else f"{host}:{port}"
    on_host = _TRACKING_ON_HOST.get(host, frozenset())
    kept = [
        (k, v)
        for k, v in pairs
        if (low := k.lower()) not in _TRACKING and not low.startswith(_TRACKING_PREFIXES) and low not in on_host
    ]
    # Sorted by name only: the values of a repeated parameter keep their order, which may matter.
    query = urlencode(sorted(kept, key=lambda kv: kv[0]), quote_via=quote)
    fragment = parts.fragment if parts.fragment.startswith("!") else ""
    return urlunsplit(("https", netloc, path, query, fragment))


def host_of(url: str) -> str:
    """The canonical host of a URL (`www.Acme.io` -> `acme.io`), or "" when it has none."""
    if not url:
        return ""
    parts = _split(canonical_url(url))
    return (parts.hostname or "") if parts is not None else ""


def _split(url: str) -> SplitResult | None:
    """`urlsplit`, or None for a URL Python cannot split (`http://[::1/x`: an unclosed IPv6 bracket is a
    ValueError): such a link names no page we can compare, and must not stop the scan."""
    try:
        return urlsplit(url)
    except ValueError:
        return None
