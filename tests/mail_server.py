"""A loopback SMTP server for the notification tests (aiosmtpd): TLS, AUTH, bounded and self-stopping.

It listens on 127.0.0.1 only, with a throwaway certificate (trustme) for `127.0.0.1` and `localhost`:
STARTTLS is required before MAIL and AUTH (RFC 3207), or, with `implicit=True`, TLS from the first byte (RFC
8314). AUTH PLAIN / LOGIN takes one user. Every message is recorded with its envelope, the login it came
under and whether TLS carried it. It refuses messages above `max_bytes`, stops taking them after
`max_messages`, and shuts itself down after `lifetime` seconds even if the test that started it never does.
`failing` makes it answer DATA with a temporary failure (451), as a mail server under load does.
"""

from __future__ import annotations

import socket
import ssl
import threading
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session


@dataclass(frozen=True)
class Mail:
    mail_from: str
    rcpt_tos: list[str]
    content: bytes
    login: str | None
    tls: bool

    @property
    def message(self) -> EmailMessage:
        parsed = message_from_bytes(self.content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


@dataclass
class MailServer:
    ca: trustme.CA
    user: str = "mw-user"
    password: str = "mw-pass"
    implicit: bool = False
    # False: a server that offers no STARTTLS at all (nor AUTH, which aiosmtpd offers only under TLS).
    starttls: bool = True
    lifetime: float = 60.0
    max_messages: int = 50
    max_bytes: int = 1024 * 1024
    failing: bool = False
    mails: list[Mail] = field(default_factory=list)
    logins: list[tuple[str, bool]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self.port = _free_port()
        leaf = self.ca.issue_cert("127.0.0.1", "localhost")
        self.server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        leaf.configure_cert(self.server_tls)
        self._controller = Controller(
            _Handler(self),
            hostname="127.0.0.1",
            port=self.port,
            ssl_context=self.server_tls if self.implicit else None,
            tls_context=self.server_tls if self.starttls and not self.implicit else None,
            require_starttls=self.starttls and not self.implicit,
            authenticator=self._authenticate,
            # aiosmtpd knows of TLS it started itself (STARTTLS), not of TLS under the whole connection: with
            # implicit TLS the listening socket is TLS-only, so nothing reaches AUTH in the clear anyway.
            auth_require_tls=not self.implicit,
            data_size_limit=self.max_bytes,
            ready_timeout=10.0,
        )
        self._timer = threading.Timer(self.lifetime, self.stop)
        self._timer.daemon = True
        self._stopped = False

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def write_ca(self, path: Path) -> Path:
        self.ca.cert_pem.write_to_path(str(path))
        return path

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == self.user.encode()
            and auth_data.password == self.password.encode()
        )
        login = auth_data.login.decode(errors="replace") if isinstance(auth_data, LoginPassword) else "?"
        with self._lock:
            self.logins.append((login, ok))
        # handled=False: aiosmtpd then answers 535 itself (with its default True it would answer nothing).
        return AuthResult(success=ok, handled=False, auth_data=login if ok else None)

    def start(self) -> MailServer:
        self._controller.start()
        self._timer.start()
        return self

    def stop(self) -> None:
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        self._timer.cancel()
        self._controller.stop()

    def __enter__(self) -> MailServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _Handler:
    def __init__(self, server: MailServer) -> None:
        self.server = server

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        outer = self.server
        if outer.failing:
            return "451 4.3.0 Try again later"
        with outer._lock:
            if len(outer.mails) >= outer.max_messages:
                return "452 4.3.1 Test server: message budget spent"
            outer.mails.append(
                Mail(
                    mail_from=envelope.mail_from or "",
                    rcpt_tos=list(envelope.rcpt_tos),
                    content=envelope.original_content or b"",
                    login=session.auth_data if session.authenticated else None,
                    tls=session.ssl is not None or outer.implicit,
                )
            )
            number = len(outer.mails)
        return f"250 2.0.0 Ok: queued as TEST{number}"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
