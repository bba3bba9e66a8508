"""Mailers: ``DatabaseMailer`` keeps messages in the database (the embedded default:
nothing leaves the machine, ops read them at ``GET /v1/messages``), ``SmtpMailer`` sends
them with aiosmtplib."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

import aiosmtplib

from dropline.domain.errors import InvalidInput
from dropline.services.ports import MailServerUnreachable, OutgoingMessage

TLS_MODES = ("none", "starttls", "tls")
log = logging.getLogger(__name__)


class DatabaseMailer:
    name = "database"
    final_status = "stored"

    async def send(self, message: OutgoingMessage) -> None:
        """Nothing to do: the message row is the delivery."""

    @contextlib.asynccontextmanager
    async def session(self) -> AsyncIterator[DatabaseMailer]:
        """No connection to keep: the mailer itself."""
        yield self


def build_email(message: OutgoingMessage, sender: str) -> EmailMessage:
    """A multipart/alternative email (text first, HTML second)."""
    email = EmailMessage()
    email["From"] = sender
    email["To"] = message.to
    email["Subject"] = message.subject
    email["Date"] = formatdate(localtime=False)
    domain = sender.rsplit("@", 1)[-1].strip(">") or "dropline.local"
    email["Message-ID"] = make_msgid(idstring=message.id, domain=domain)
    email["X-Dropline-Message-Id"] = message.id
    email.set_content(message.text)
    email.add_alternative(message.html, subtype="html")
    return email


class SmtpMailer:
    """SMTP with ``tls`` = ``none`` (plain, for a local relay), ``starttls`` (upgrade on
    port 587) or ``tls`` (implicit TLS, port 465)."""

    name = "smtp"
    final_status = "sent"

    def __init__(
        self,
        host: str,
        port: int,
        sender: str,
        *,
        username: str = "",
        password: str = "",
        tls: str = "starttls",
        timeout_s: float = 30.0,
        validate_certs: bool = True,
    ) -> None:
        if tls not in TLS_MODES:
            raise InvalidInput(f"smtp tls must be one of {', '.join(TLS_MODES)}, not {tls!r}")
        if not host or not sender:
            raise InvalidInput("the SMTP mailer needs DROPLINE_SMTP_HOST and DROPLINE_SMTP_FROM")
        self.host, self.port, self.sender = host, port, sender
        self.username, self.password = username, password
        self.tls, self.timeout_s, self.validate_certs = tls, timeout_s, validate_certs

    def _client(self) -> aiosmtplib.SMTP:
        return aiosmtplib.SMTP(
            hostname=self.host,
            port=self.port,
            username=self.username or None,
            password=self.password or None,
            use_tls=self.tls == "tls",
            start_tls=self.tls == "starttls",
            timeout=self.timeout_s,
            validate_certs=self.validate_certs,
        )

    async def send(self, message: OutgoingMessage) -> None:
        """One message on a connection of its own."""
        async with self.session() as session:
            await session.send(message)

    @contextlib.asynccontextmanager
    async def session(self) -> AsyncIterator[SmtpSession]:
        """Messages over one SMTP connection, opened at the first send and closed
        (``QUIT``) at the end."""
        session = SmtpSession(self)
        try:
            yield session
        finally:
            await session.close()


class SmtpSession:
    """One SMTP connection reused for many messages. A message the server refuses (an
    error code for its sender, recipient or content) fails alone on the same
    connection; any other error (a timeout, a hang-up) drops the connection and the
    next message opens a new one, so a server lost mid-pass costs one message's
    attempt, not the pass."""

    def __init__(self, mailer: SmtpMailer) -> None:
        self.mailer = mailer
        self.client: aiosmtplib.SMTP | None = None

    async def send(self, message: OutgoingMessage) -> None:
        if self.client is None or not self.client.is_connected:
            client = self.mailer._client()
            try:
                await client.connect()
            except Exception as exc:  # refused, timed out, TLS or login failed
                client.close()
                raise MailServerUnreachable(f"{type(exc).__name__}: {exc}") from exc
            self.client = client
        email = build_email(message, self.mailer.sender)
        try:
            await self.client.send_message(email)
        except (aiosmtplib.SMTPResponseException, aiosmtplib.SMTPRecipientsRefused):
            raise  # the server refused this one and aiosmtplib reset the envelope
        except Exception:
            self._drop()
            raise

    def _drop(self) -> None:
        if self.client is not None:
            self.client.close()
        self.client = None

    async def close(self) -> None:
        if self.client is None:
            return
        client, self.client = self.client, None
        if not client.is_connected:
            return
        try:
            await client.quit()
        except Exception as exc:  # the messages are sent; a failed goodbye is no error
            log.debug("SMTP QUIT failed: %s", exc)
            client.close()
