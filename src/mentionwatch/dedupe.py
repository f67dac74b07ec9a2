"""Canonical URLs and duplicate clusters: the same thing seen twice is one mention."""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

from mentionwatch.models import Mention

# Query parameters that say how someone got to a page, not which page it is.
_TRACKING_PREFIXES = ("utm_", "mc_", "pk_", "hsa_", "_hs")
_TRACKING = frozenset(
    {
        "fbclid",
        "gclid",
        "dclid",
        "msclkid",
        "yclid",
        "igshid",
        "mc_cid",
        "mc_eid",
        "ref",
        "ref_src",
        "ref_url",
        "cmpid",
        "ocid",
        "_ga",
        "spm",
        "s_cid",
        "oc",
        "ved",
        "usg",
    }
)


def unwrap_redirect(url: str) -> str:
    """The real target of a Google Alerts / Google search redirect (`google.com/url?...&url=REAL`)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if (host == "google.com" or host.endswith(".google.com")) and parts.path == "/url":
        params = dict(parse_qsl(parts.query))
        target = params.get("url") or params.get("q")
        if target and target.startswith(("http://", "https://")):
            return unquote(target) if "%" in target[:12] else target
    return url


def canonical_url(url: str) -> str:
    """A key for "the same page": https, lowercase host without www, no default port, fragment,
    trailing slash or tracking parameters."""
    url = unwrap_redirect(url.strip())
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return url
    host = parts.hostname.lower()
    if host.startswith("www."):
        host = host[4:]
    port = parts.port
    netloc = host if port in (None, 80, 443) else f"{host}:{port}"
    path = parts.path or "/"
    if len(path) > 1:
        path = path.rstrip("/")
    query = [
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if k.lower() not in _TRACKING and not k.lower().startswith(_TRACKING_PREFIXES)
    ]
    return urlunsplit(("https", netloc, path if path != "/" else "", urlencode(sorted(query)), ""))


def dedupe(mentions: Iterable[Mention]) -> list[Mention]:
    """Collapse per brand: one mention per (source, id); one per canonical URL, the earliest kept and the
    rest listed in its `also_seen`."""
    by_key: dict[tuple[str | None, str, str], Mention] = {}
    for m in mentions:
        k = (m.brand, m.source, m.id)
        if k not in by_key:
            by_key[k] = m
    ordered = sorted(by_key.values(), key=lambda m: (m.published_at, m.source, m.id))
    clusters: dict[tuple[str | None, str], Mention] = {}
    out: list[Mention] = []
    for m in ordered:
        ck = (m.brand, canonical_url(m.url))
        first = clusters.get(ck)
        if first is None:
            clusters[ck] = m
            out.append(m)
            continue
        first.also_seen.append({"source": m.source, "id": m.id, "url": m.url})
        first.duplicates = len(first.also_seen)
    return out
