"""Canonical URLs, redirect unwrapping and hosts: when two links name the same page.

Used by dedupe (the same page seen twice is one mention), matching (`site:` filters) and the feed reader
(Google Alerts' redirect links).
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
import string
from collections.abc import Callable, Sequence
from functools import lru_cache
from urllib.parse import parse_qsl, quote, quote_from_bytes, unquote, unquote_to_bytes, urlsplit, urlunsplit

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
_UNRESERVED = string.ascii_letters + string.digits + "-._~"
# What a canonical path, user-info or fragment holds as it is; everything else is percent-encoded (UTF-8).
_PATH_SAFE = _UNRESERVED + "!$&'()*+,;=:@/%"
_USERINFO_SAFE = _UNRESERVED + "!$&'()*+,;=:%"
_FRAGMENT_SAFE = _PATH_SAFE + "?"
# Percent-escapes decoded in a path: characters that mean the same written either way (RFC 3986 unreserved
# and sub-delimiters, `:` and `@`), as w3lib does. `/`, `;`, `?`, `#` and `%` stay escaped: decoded, they
# would split a segment, start parameters, a query or a fragment, or a new escape. A byte of 0x80 or more
# stays escaped too, so `%E9` (Latin-1 é) and `%C3%A9` (UTF-8 é) stay two different pages.
_PATH_DECODED = frozenset(_UNRESERVED + "!$&'()*+,=:@")
_USERINFO_DECODED = frozenset(_UNRESERVED)
# The port each scheme has when it names none.
_DEFAULT_PORT = {"http": 80, "https": 443}
# Fragment keys that place the reader within one resource, not a different view of it: W3C media fragments
# (`#t=30`), PDF open parameters (RFC 8118: `#page=3`). Other `key=value` fragments (`#gid=0`, a sheet's tab)
# and routes (`#/orders/1`, `#!/post/1`) name what a single-page application shows, so they are kept.
_POSITION_KEYS = frozenset(
    {"t", "xywh", "track", "page", "zoom", "view", "nameddest", "search", "toolbar", "navpanes", "pagemode"}
)


def _redirect_target(host: str, path: str, query: str) -> str | None:
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
    if not names:
        return None
    params = parse_qsl(query)
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
        try:
            parts = urlsplit(url)
        except ValueError:  # "http://[::1?u=..." (an unclosed IPv6 bracket) wraps nothing
            return url
        host = (parts.hostname or "").lower().removeprefix("www.")
        target = _redirect_target(host, parts.path, parts.query) if parts.query else None
        if target is None:
            return url
        url = target
    return url


def _decoder(decoded: frozenset[str]) -> Callable[[re.Match[str]], str]:
    def normalize(match: re.Match[str]) -> str:
        char = chr(int(match.group(1), 16))
        return char if char in decoded else "%" + match.group(1).upper()

    return normalize


_normalize_path_escape = _decoder(_PATH_DECODED)
_normalize_userinfo_escape = _decoder(_USERINFO_DECODED)


def _canonical_path(path: str) -> str:
    if "%" in path:
        path = _PERCENT.sub(_normalize_path_escape, path)
    path = quote(path, safe=_PATH_SAFE)
    if "/." in path:
        # RFC 3986 5.2.4 dot segments; an empty segment (`//`) is kept: it can name a different resource.
        trailing = path.endswith(("/.", "/.."))
        parts: list[str] = []
        for seg in path.split("/")[1:]:
            if seg == "..":
                if parts:
                    parts.pop()
            elif seg != ".":
                parts.append(seg)
        path = "/" + "/".join(parts) + ("/" if trailing and parts else "")
    # One trailing slash is the same page on nearly every site; `/a//` (an empty last segment) is not `/a/`.
    if path.endswith("/") and not path.endswith("//"):
        path = path[:-1]
    return path


def _canonical_host(hostname: str) -> str:
    """urllib's lower-cased `hostname` as it is written in a canonical URL: an IPv6 address compressed
    (RFC 5952) and in its brackets, an internationalised name in IDNA form (`bücher.de` is
    `xn--bcher-kva.de`), without a trailing dot, `www.` or an alias of its site."""
    host = hostname.rstrip(".")
    if ":" in host:  # only an IPv6 literal holds a colon (urllib took its brackets away)
        with contextlib.suppress(ValueError):
            host = str(ipaddress.IPv6Address(host))
        return f"[{host}]"
    if not host.isascii():
        with contextlib.suppress(UnicodeError):
            host = host.encode("idna").decode("ascii")
    host = host.removeprefix("www.")
    return _HOST_ALIASES.get(host, host)


def _canonical_query(query: str, host: str) -> str:
    """The query as form data (`+` and `%20` are both a space) compared byte for byte: tracking parameters
    dropped, the pairs sorted (by name, then value, as w3lib does), each re-encoded one way. Bytes that are
    not UTF-8 stay what they were, so `q=%E9` and `q=%FF` stay apart."""
    on_host = _TRACKING_ON_HOST.get(host, frozenset())
    pairs: list[tuple[bytes, bytes]] = []
    for field in query.split("&"):
        if not field:
            continue
        name, _, value = field.partition("=")
        key = unquote_to_bytes(name.replace("+", " "))
        low = key.decode("latin-1").lower()
        if low in _TRACKING or low in on_host or low.startswith(_TRACKING_PREFIXES):
            continue
        pairs.append((key, unquote_to_bytes(value.replace("+", " "))))
    pairs.sort()
    return "&".join(f"{_form_encode(k)}={_form_encode(v)}" for k, v in pairs)


def _form_encode(data: bytes) -> str:
    return quote_from_bytes(data, safe=" ").replace(" ", "+")


def _canonical_fragment(fragment: str) -> str:
    """A fragment that names what a page shows (a route, a view) normalised; "" for a mere anchor."""
    if not fragment or fragment.startswith(":~:"):  # `#:~:text=` only highlights words of the page
        return ""
    if not fragment.startswith(("/", "!")):
        if "=" not in fragment:
            return ""  # an anchor within the page: `#comments`
        keys = {pair.partition("=")[0].lower() for pair in re.split("[&;]", fragment) if pair}
        if keys <= _POSITION_KEYS:
            return ""
    if "%" in fragment:
        fragment = _PERCENT.sub(_normalize_path_escape, fragment)
    return quote(fragment, safe=_FRAGMENT_SAFE)


# A scan asks for the same URL's key several times (dedupe, then the store): 20-40 µs each time otherwise.
@lru_cache(maxsize=65536)
def canonical_url(url: str) -> str:
    """A key for "the same page": redirect wrappers unwrapped, http and https alike on their default ports,
    a lowercase host without `www.`, no trailing slash, no fragment unless it is a route (`#/orders/1`,
    `#!/post/1`) or a view (`#gid=0`), tracking parameters removed and the rest sorted, percent-escapes in
    one form. What can name a different page is kept: user-info, a port that is not the scheme's default
    (with the scheme: `http://x:443/` is not `https://x/`), IPv6 literals in their brackets, escaped bytes
    that are not UTF-8, `//`. Non-web and unparsable URLs come back stripped of surrounding spaces only."""
    url = unwrap_redirect(url.strip())
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:  # an unclosed IPv6 bracket, a port that is not a number or is out of range
        return url
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORT or not parts.hostname:
        return url
    host = _canonical_host(parts.hostname)
    path = _canonical_path(parts.path)
    query = parts.query
    if host == "youtu.be" and path.count("/") == 1 and len(path) > 1:
        # A short link is the watch page of the video it names.
        host, path, query = "youtube.com", "/watch", f"v={path[1:]}&{query}"
    if port is None or port == _DEFAULT_PORT[scheme]:
        netloc = host
        scheme = "https"  # the same page over TLS or not, as long as the port is the scheme's own
    else:
        netloc = f"{host}:{port}"
    userinfo, at, _ = parts.netloc.rpartition("@")
    if at:
        userinfo = _PERCENT.sub(_normalize_userinfo_escape, userinfo)
        netloc = f"{quote(userinfo, safe=_USERINFO_SAFE)}@{netloc}"
    query = _canonical_query(query, host) if query else ""
    return urlunsplit((scheme, netloc, path, query, _canonical_fragment(parts.fragment)))


@lru_cache(maxsize=65536)  # asked of every mention more than once (impact, outlets, `site:`): read ahead of the answers
def host_of(url: str) -> str:
    """The canonical host of a URL (`www.Acme.io` -> `acme.io`), or "" when it has none. An IPv6 address is
    the whole RFC 3986 host, brackets included (`[2001:db8::1]`); an internationalised name is given in
    Unicode (`bücher.de`), as people write it in `site:` and `exclude_domains`."""
    if not url:
        return ""
    try:
        parts = urlsplit(canonical_url(url))
        host = parts.hostname or ""
    except ValueError:
        return ""
    if ":" in host:
        return f"[{host}]"
    if "xn--" in host:
        with contextlib.suppress(UnicodeError):
            host = host.encode("ascii").decode("idna")
    return host


def on_domain(host: str, domains: Sequence[str]) -> bool:
    """Whether `host` (as `host_of` gives it) is one of `domains` or under one (`blog.acme.io` is on `acme.io`)."""
    return bool(host) and any(host == d or host.endswith("." + d) for d in domains)


_SITE_NAMES = {"news.ycombinator.com": "HN", "bsky.app": "Bluesky", "x.com": "X", "youtube.com": "YouTube"}


def community(url: str) -> str:
    """Where a mention was said, as people name the place: `r/elm` for a subreddit, `owner/repo` for GitHub, `HN`,
    a Mastodon or Lemmy instance, a Stack Exchange site, a publisher's domain. From the mention's own URL."""
    host = host_of(url)
    if not host:
        return ""
    try:
        path = urlsplit(url).path.split("/")
    except ValueError:
        return host
    if host.endswith("reddit.com") and len(path) > 2 and path[1] == "r":
        return f"r/{path[2]}"
    if host == "github.com" and len(path) > 2 and path[1] and path[2]:
        return f"{path[1]}/{path[2]}"
    return _SITE_NAMES.get(host, host)
