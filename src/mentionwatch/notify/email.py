"""Email over SMTP: the digest as a multipart/alternative message, a plain-text and an HTML part.

TLS always, chosen by the port unless the target's `tls` says otherwise: port 465 is implicit TLS (RFC 8314's
"submissions": TLS from the first byte), any other port (587, RFC 6409's "submission"; 25) is STARTTLS, and
a server that does not offer STARTTLS is refused before a password or a message is sent. The certificate is
verified against the public CAs (certifi), or the target's `ca_file` for a private CA.

The standard library's `smtplib`, run in a worker thread: one connection per message, no new dependency (an
async SMTP client would add one for a connection a run). The server's own answers are what `notify test`
shows: `250 2.0.0 Ok: queued as 4F2A1`.
"""

from __future__ import annotations

import asyncio
import html
import smtplib
import ssl
from collections.abc import Callable
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime

from mentionwatch.config import EmailTarget
from mentionwatch.http import tls_context
from mentionwatch.notify.delivery import Answer, SendFailed
from mentionwatch.notify.digest import Digest, Line
from mentionwatch.output import sanitize_terminal

DELIVERY_HEADER = "X-Mentionwatch-Delivery"


def email_message(digest: Digest, *, sender: str, to: list[str], delivery: str) -> EmailMessage:
    """The message for `digest` (pure): headers, a text/plain and a text/html alternative."""
    message = EmailMessage(policy=SMTP)
    message["Subject"] = "mentionwatch: " + sanitize_terminal(digest.title)
    message["From"] = sender
    message["To"] = ", ".join(to)
    message["Date"] = format_datetime(digest.created)
    message["Message-ID"] = f"<{delivery}@{sender.rpartition('@')[2] or 'mentionwatch'}>"
    message[DELIVERY_HEADER] = delivery
    # RFC 3834: a machine's message, so vacation responders do not answer it.
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(plain_text(digest))
    message.add_alternative(html_text(digest), subtype="html")
    return message


def plain_text(digest: Digest) -> str:
    out = [sanitize_terminal(digest.title), ""]
    for line in digest.lines(300):
        out.append("* " + " · ".join(sanitize_terminal(fact) for fact in _facts(line)))
        if line.summary:
            out.append("  " + sanitize_terminal(line.summary))
        out.append("  " + sanitize_terminal(line.url))
        out.append("")
    if digest.rest:
        out.append(sanitize_terminal(digest.rest))
    out += ["", "-- ", "Sent by mentionwatch."]
    return "\n".join(out) + "\n"


def html_text(digest: Digest) -> str:
    """A small page that reads on a phone: every text escaped, links only to http(s) addresses."""
    title = html.escape(sanitize_terminal(digest.title))
    items = []
    for line in digest.lines(300):
        facts = " · ".join(html.escape(sanitize_terminal(f)) for f in _facts(line))
        summary = html.escape(sanitize_terminal(line.summary or line.url))
        target = sanitize_terminal(line.url)
        body = f'<a href="{html.escape(target)}">{summary}</a>' if _is_http(target) else summary
        items.append(f'<li style="margin:0 0 12px 0">{facts}<br>{body}</li>')
    rest = ""
    if digest.rest:
        where = digest.full_list
        shown = html.escape(sanitize_terminal(digest.rest))
        if where and _is_http(where):
            shown = shown.replace(html.escape(where), f'<a href="{html.escape(where)}">{html.escape(where)}</a>')
        rest = f"<p>{shown}</p>"
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{title}</title></head>\n"
        '<body style="font-family:sans-serif;font-size:15px;line-height:1.4;max-width:40em">\n'
        f'<h1 style="font-size:18px">{title}</h1>\n'
        f'<ul style="padding-left:18px">\n' + "\n".join(items) + "\n</ul>\n"
        f'{rest}\n<p style="color:#666;font-size:13px">Sent by mentionwatch.</p>\n</body></html>\n'
    )


def _facts(line: Line) -> list[str]:
    facts = ["needs a reply"] if line.needs_reply else []
    facts += [line.brand, line.where, f"by {line.author}" if line.author else "", line.sentiment]
    if line.impact is not None:
        facts.append(f"impact {line.impact}")
    return [f for f in facts if f]


def _is_http(url: str) -> bool:
    return url.lower().startswith(("http://", "https://"))


def tls_for(ca_file: str | None) -> ssl.SSLContext:
    """The context a mail server's certificate is checked with: the public CAs, or the target's own CA."""
    if ca_file is None:
        return tls_context()
    try:
        return ssl.create_default_context(cafile=ca_file)
    except (OSError, ssl.SSLError) as exc:
        raise SendFailed(f"ca_file {ca_file}: cannot read it as a CA bundle ({exc})", retryable=False) from None


async def send_email(
    target: EmailTarget,
    digest: Digest,
    delivery: str,
    *,
    timeout: float,
    tls: Callable[[str | None], ssl.SSLContext] = tls_for,
) -> Answer:
    message = email_message(digest, sender=target.from_address, to=target.to, delivery=delivery)
    password = target.password.get_secret_value() if target.password is not None else None
    context = tls(target.ca_file)
    return await asyncio.to_thread(_send, target, message, password, context, timeout)


def _send(
    target: EmailTarget, message: EmailMessage, password: str | None, context: ssl.SSLContext, timeout: float
) -> Answer:
    where = f"{target.host}:{target.port}"
    try:
        if target.implicit_tls:
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(target.host, target.port, timeout=timeout, context=context)
        else:
            smtp = smtplib.SMTP(target.host, target.port, timeout=timeout)
        with smtp:
            smtp.ehlo()
            if not target.implicit_tls:
                if not smtp.has_extn("starttls"):
                    raise SendFailed(
                        f"{where} does not offer STARTTLS: mentionwatch sends no password or mail in the clear",
                        retryable=False,
                    )
                smtp.starttls(context=context)
                smtp.ehlo()
            if target.username is not None and password is not None:
                smtp.login(target.username, password)
            return _transfer(smtp, message, target, where)
    except SendFailed:
        raise
    except ssl.SSLCertVerificationError as exc:
        raise SendFailed(f"{where}: its certificate is not trusted ({exc.verify_message})", retryable=False) from None
    except smtplib.SMTPAuthenticationError as exc:
        raise SendFailed(f"{where}: login refused: {_said(exc.smtp_code, exc.smtp_error)}", retryable=False) from None
    except smtplib.SMTPResponseException as exc:
        raise SendFailed(f"{where}: {_said(exc.smtp_code, exc.smtp_error)}", retryable=exc.smtp_code < 500) from None
    except smtplib.SMTPNotSupportedError as exc:
        raise SendFailed(f"{where}: {exc}", retryable=False) from None
    except (TimeoutError, smtplib.SMTPException, OSError) as exc:
        raise SendFailed(f"{where}: {type(exc).__name__}: {exc or 'no answer'}", retryable=True) from None
    except UnicodeEncodeError:
        raise SendFailed(f"{where}: an address is not ASCII (SMTPUTF8 is not used)", retryable=False) from None


def _transfer(smtp: smtplib.SMTP, message: EmailMessage, target: EmailTarget, where: str) -> Answer:
    """MAIL, RCPT for each recipient, DATA: done step by step to keep the server's final answer."""
    code, text = smtp.mail(target.from_address)
    if code != 250:
        raise SendFailed(f"{where}: sender refused: {_said(code, text)}", retryable=400 <= code < 500)
    refused: list[str] = []
    codes: list[int] = []
    for address in target.to:
        code, text = smtp.rcpt(address)
        if code not in (250, 251):
            refused.append(f"{address} ({_said(code, text)})")
            codes.append(code)
    if len(refused) == len(target.to):
        smtp.rset()
        retry = all(400 <= c < 500 for c in codes)
        raise SendFailed(f"{where}: every recipient refused: {'; '.join(refused)}", retryable=retry)
    code, text = smtp.data(message.as_bytes())  # smtplib returns the final reply: it raises only before it
    said = _said(code, text)
    if code != 250:
        raise SendFailed(f"{where}: {said}", retryable=400 <= code < 500)
    return Answer(said + (f"; refused: {'; '.join(refused)}" if refused else ""))


def _said(code: int, text: bytes | str) -> str:
    words = text.decode("utf-8", errors="replace") if isinstance(text, bytes) else text
    return sanitize_terminal(f"{code} {words}")
