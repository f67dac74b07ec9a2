"""Outlets: how widely a site is linked to, the audience proxy of an article that gives no reach of its own.

The figures are an extract of the Majestic Million shipped in the package (`data/outlets.csv`; its origin,
date, licence and what was kept: `data/README.md`): for the 5,000 most linked-to domains, the number of
distinct IP subnets holding pages that link to the domain (Majestic's `RefSubNets`). A link count is not a
readership, but it orders sites the way their reach does (the BBC above the FT above a regional paper above a
content farm), and it is published, dated and licensed for reuse.

A page's outlet is its host when the extract lists it, else its registered domain (`news.bbc.co.uk` ->
`bbc.co.uk`) by the Public Suffix List, so `x.blogspot.com` or `x.github.io` (each a site of its own) never
borrow the weight of the service that hosts them. Sites where anyone can publish, or where the page is
elsewhere (a social network, a blog host, a press-release wire, a link shortener: `data/platforms.txt`), are
not outlets: an item there has its author's audience, which the site's link count does not measure.

The data is read once, on the first lookup, so commands that score nothing never pay for it.
"""

from __future__ import annotations

import ipaddress
from functools import cache, lru_cache
from importlib import resources
from typing import TYPE_CHECKING, NamedTuple

from mentionwatch.urls import host_of

if TYPE_CHECKING:
    from publicsuffixlist import PublicSuffixList

# Subdomains where a site's users, not the site, write (`community.acme.com`, `forums.acme.com`): a page there is
# a post, whatever the weight of the domain above it.
_USER_AREAS = frozenset({"answers", "community", "communities", "discuss", "discussion", "discussions", "forum"})
_USER_AREAS |= {"forums", "groups"}


class Outlet(NamedTuple):
    """One domain of the ranking: its rank in the Majestic Million and its count of referring subnets."""

    domain: str
    rank: int
    ref_subnets: int


def _data(name: str) -> str:
    return resources.files("mentionwatch").joinpath("data", name).read_text(encoding="utf-8")


@cache
def ranking() -> dict[str, Outlet]:
    """The shipped ranking by domain (read once). A `www.` the list kept on a few domains (`www.gov.uk`) is
    dropped, as `urls.host_of` drops it; the better-ranked row wins if both forms are listed."""
    table: dict[str, Outlet] = {}
    lines = _data("outlets.csv").splitlines()
    for line in lines[1:]:  # GlobalRank,Domain,RefSubNets
        rank, domain, subnets = line.split(",")
        domain = domain.removeprefix("www.")
        if domain not in table:
            table[domain] = Outlet(domain, int(rank), int(subnets))
    return table


@cache
def platforms() -> frozenset[str]:
    """The domains of the ranking that are not outlets (`data/platforms.txt`)."""
    words = (line.split() for line in _data("platforms.txt").splitlines() if not line.startswith("#"))
    return frozenset(word for line in words for word in line)


@cache
def _suffix_list() -> PublicSuffixList:
    # Imported and built (~50 ms: ten thousand rules) only when a host's parent domain is in the ranking.
    from publicsuffixlist import PublicSuffixList

    return PublicSuffixList()  # the list bundled in the package: no network, ever


def _ascii(host: str) -> str:
    """A host in the ranking's form: an internationalised name in IDNA (`bücher.de` -> `xn--bcher-kva.de`)."""
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError:
        return host


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def is_platform(host: str) -> bool:
    """Whether a page on `host` is a post on a platform rather than an outlet's own (see `data/platforms.txt`):
    the host or a domain above it is listed, or it lies in a users' area (`forums.`, `community.`, ...)."""
    labels = host.split(".")
    listed = platforms()
    if any(".".join(labels[i:]) in listed for i in range(len(labels) - 1)):
        return True
    return any(label in _USER_AREAS for label in labels[:-2])


@lru_cache(maxsize=4096)
def outlet_of_host(host: str) -> Outlet | None:
    """The ranked outlet a page on `host` (canonical, as `urls.host_of` gives it) belongs to: the host itself,
    else its registered domain; None when neither is ranked, or the host is a platform or an address."""
    if not host or _is_address(host):
        return None
    host = _ascii(host)
    if is_platform(host):
        return None
    table = ranking()
    found = table.get(host)
    if found is not None:
        return found
    labels = host.split(".")
    parents = [".".join(labels[i:]) for i in range(1, len(labels) - 1)]
    if not any(parent in table for parent in parents):
        return None  # no parent is ranked: the registered domain cannot be, and the suffix list is not needed
    registered = _suffix_list().privatesuffix(host)
    return table.get(registered) if registered and registered != host else None


def outlet_of(url: str) -> Outlet | None:
    """The ranked outlet the page at `url` belongs to, or None (see `outlet_of_host`)."""
    return outlet_of_host(host_of(url))
