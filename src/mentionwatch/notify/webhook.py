"""A generic webhook: the digest as a JSON POST, signed with HMAC-SHA256 when the target has a `secret`.

The body (UTF-8 JSON, every non-ASCII character \\u-escaped so any receiver reads it):

    {"event": "new", "count": 14, "more": 4, "full_list": "https://...", "delivery": "<token>",
     "created_at": "2026-11-25T08:00:00Z", "mentions": [<each in the scan's JSON form>, ...]}

Headers: `Content-Type: application/json`, `X-Mentionwatch-Event` (the event), `X-Mentionwatch-Delivery` (a
token unique to this message: a receiver that keeps the ones it has seen can drop a repeat), and with a
`secret`, `X-Mentionwatch-Signature: sha256=<hex>`: the HMAC-SHA256 of the exact body bytes, keyed with the
secret, as GitHub's `X-Hub-Signature-256`. A receiver recomputes it over the raw body and compares in constant
time (`hmac.compare_digest`).

Redirects are not followed: a redirected POST would be re-sent as a GET, or carry the signed body somewhere
the configuration never named.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from collections.abc import Callable

import httpx

from mentionwatch.config import WebhookTarget
from mentionwatch.http import ALLOW_INTERNAL, host_is_internal, seconds_until
from mentionwatch.models import format_time
from mentionwatch.notify.delivery import Answer, SendFailed
from mentionwatch.notify.digest import Digest
from mentionwatch.text import excerpt

SIGNATURE_HEADER = "X-Mentionwatch-Signature"
DELIVERY_HEADER = "X-Mentionwatch-Delivery"
EVENT_HEADER = "X-Mentionwatch-Event"
# An answer is read for what it says (Slack: `ok`, `invalid_payload`, `no_service`), never more than this.
MAX_ANSWER = 64 * 1024
_RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


def webhook_body(digest: Digest, delivery: str) -> bytes:
    """The JSON a webhook receives (see the module's docstring)."""
    data = {
        "event": digest.event,
        "count": digest.count,
        "more": digest.more,
        "full_list": digest.full_list,
        "delivery": delivery,
        "created_at": format_time(digest.created),
        "mentions": [m.to_dict() for m in digest.mentions],
    }
    if digest.spike is not None:
        data["spike"] = digest.spike.to_dict()
    return json.dumps(data, ensure_ascii=True, separators=(",", ":")).encode("ascii")


def signature(secret: str, body: bytes) -> str:
    """The `X-Mentionwatch-Signature` value: `sha256=` and the hex HMAC-SHA256 of `body` keyed with `secret`."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


async def send_webhook(target: WebhookTarget, digest: Digest, delivery: str, client: httpx.AsyncClient) -> Answer:
    body = webhook_body(digest, delivery)
    headers = {EVENT_HEADER: digest.event, DELIVERY_HEADER: delivery}
    if target.secret is not None:
        headers[SIGNATURE_HEADER] = signature(target.secret.get_secret_value(), body)
    return await post_json(client, target.url, body, headers)


async def post_json(
    client: httpx.AsyncClient,
    url: str,
    body: bytes,
    headers: dict[str, str],
    wall_clock: Callable[[], float] = time.time,
) -> Answer:
    """POST `body` as JSON through the house's HTTP client, once; what the server said, or SendFailed.

    Errors name the host only: a webhook URL's path and query are often its credential."""
    request = client.build_request("POST", url, content=body, headers={**headers, "Content-Type": "application/json"})
    host = request.url.host
    if host_is_internal(host):
        # The configured URL is itself internal (an intranet receiver, a loopback test server): the address
        # guard lets it through, as it does a source's configured URL.
        request.extensions[ALLOW_INTERNAL] = True
    try:
        response = await client.send(request, stream=True, follow_redirects=False)
        try:
            said = await _read_capped(response)
        finally:
            await response.aclose()
    except httpx.TimeoutException:
        raise SendFailed(f"{host} did not answer in time", retryable=True) from None
    except httpx.HTTPError as exc:
        # The transport's own words name the address at most, never the path (checked in the tests).
        raise SendFailed(f"{host}: {type(exc).__name__}: {_scrub(str(exc), url)}", retryable=True) from None
    status = response.status_code
    text = f"HTTP {status}" + (f": {said}" if said else "")
    if 200 <= status < 300:
        return Answer(text)
    if 300 <= status < 400:
        raise SendFailed(f"{host}: {text}, a redirect (not followed): configure the URL it points to", retryable=False)
    wait = response.headers.get("retry-after")
    raise SendFailed(
        f"{host}: {text}",
        retryable=status in _RETRY_STATUSES,
        retry_after=seconds_until(wait, wall_clock()) if wait else None,
    )


async def _read_capped(response: httpx.Response) -> str:
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size >= MAX_ANSWER:
            break
    text = b"".join(chunks)[:MAX_ANSWER].decode("utf-8", errors="replace")
    return excerpt(re.sub(r"<[^>]*>", " ", text), 200)  # an HTML error page, said in words


def _scrub(text: str, url: str) -> str:
    """`text` without the URL or its path, in case a transport error quotes them."""
    path = httpx.URL(url).raw_path.decode("ascii", errors="replace")
    text = text.replace(url, "<url>")
    return text.replace(path, "<path>") if len(path) > 1 else text
