"""Mailers: ``DatabaseMailer`` keeps messages in the database (the embedded default:
nothing leaves the machine, ops read them at ``GET /v1/messages``), ``SmtpMailer`` sends
them with aiosmtplib."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import formatdate, make_msgid

import aiosmtplib

from dropline.domain.errors import InvalidInput
from dropline.services.ports import OutgoingMessage

TLS_MODES = ("none", "starttls", "tls")


class DatabaseMailer:
    name = "database"
    final_status = "stored"

    async def send(self, message: OutgoingMessage) -> None:
        """Nothing to do: the message row is the delivery."""


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

    async def send(self, message: OutgoingMessage) -> None:
        await aiosmtplib.send(
            build_email(message, self.sender),
            hostname=self.host,
            port=self.port,
            username=self.username or None,
            password=self.password or None,
            use_tls=self.tls == "tls",
            start_tls=self.tls == "starttls",
            timeout=self.timeout_s,
            validate_certs=self.validate_certs,
        )
