"""The email alert channel: one plain-text message over SMTP (the standard library's smtplib).

``security`` chooses how the connection is protected: ``starttls`` (the default: a plain
connection upgraded with STARTTLS before anything else is said, port 587), ``ssl`` (TLS from
the first byte, port 465) or ``none`` (plain, port 25; for a relay on the same machine). The
server's certificate is checked against the system's certificate authorities, or against
``ca_file`` for a private server. The password (``repr=False``) is only given to
``SMTP.login``; it is never part of a message, an error or a log line.
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Literal

import httpx

from framework.sync.alert_channels import AlertDeliveryError, webhook_text
from framework.sync.alert_event import AlertEvent

__all__ = ["DEFAULT_PORTS", "EmailChannel", "SmtpSecurity"]

SmtpSecurity = Literal["starttls", "ssl", "none"]
"""How the SMTP connection is protected."""

DEFAULT_PORTS: dict[str, int] = {"starttls": 587, "ssl": 465, "none": 25}
"""The usual port of each kind of connection, used when the channel gives none."""

_POLICY = policy.SMTP.clone(max_line_length=998)
# Lines up to SMTP's limit: a subject of up to 250 characters is never folded.
_SUBJECT_PREFIX = {"failed": "[actionkit] FAILED", "rejected": "[actionkit] WARNING"}


@dataclass(frozen=True, slots=True)
class EmailChannel:
    """Email to ``to`` from ``sender`` through ``host``; see the module doc."""

    host: str
    sender: str
    to: tuple[str, ...]
    name: str = "email"
    port: int | None = None
    security: SmtpSecurity = "starttls"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ca_file: str | None = None
    timeout: float = 10.0
    kind: str = field(default="email", init=False)

    def message(self, event: AlertEvent) -> EmailMessage:
        """The message sent for ``event``: the headline as subject, the details as text."""
        prefix = _SUBJECT_PREFIX.get(event.status, "[actionkit] RECOVERED")
        message = EmailMessage(policy=_POLICY)
        message["Subject"] = f"{prefix}: {event.headline()}"[:250]
        message["From"] = self.sender
        message["To"] = ", ".join(self.to)
        message["Date"] = formatdate(localtime=False, usegmt=True)
        message["Message-ID"] = make_msgid(domain="actionkit.invalid")
        lines = [webhook_text(event), ""]
        details = event.details()
        run = details.pop("run")
        lines += [f"{key}: {value}" for key, value in details.items() if value is not None]
        lines += [f"run.{key}: {value}" for key, value in run.items()]
        step = event.next_step()
        if step is not None:
            lines += ["", f"Details: {step}"]
        message.set_content("\n".join(lines) + "\n")
        return message

    def _context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.ca_file)

    def _connect(self) -> smtplib.SMTP:
        port = self.port or DEFAULT_PORTS[self.security]
        if self.security == "ssl":
            return smtplib.SMTP_SSL(self.host, port, timeout=self.timeout, context=self._context())
        client = smtplib.SMTP(self.host, port, timeout=self.timeout)
        if self.security == "starttls":
            try:
                client.starttls(context=self._context())
            except BaseException:
                client.close()
                raise
        return client

    def send(self, event: AlertEvent, *, transport: httpx.BaseTransport | None = None) -> None:
        """Send the message; ``transport`` is not used (it is for the HTTP channels)."""
        where = f"The SMTP server {self.host}"
        try:
            with self._connect() as client:
                if self.username is not None and self.password is not None:
                    client.login(self.username, self.password)
                refused = client.send_message(self.message(event))
        except smtplib.SMTPAuthenticationError as exc:
            raise AlertDeliveryError(
                f"{where} refused the login (SMTP {exc.smtp_code}); check the username and "
                "password."
            ) from None
        except smtplib.SMTPNotSupportedError:
            raise AlertDeliveryError(
                f"{where} does not offer what the channel asks for (STARTTLS or a login)."
            ) from None
        except smtplib.SMTPRecipientsRefused:
            raise AlertDeliveryError(f"{where} refused every recipient.") from None
        except smtplib.SMTPResponseException as exc:
            raise AlertDeliveryError(f"{where} answered SMTP {exc.smtp_code}.") from None
        except ssl.SSLError as exc:
            raise AlertDeliveryError(
                f"{where} failed the TLS handshake ({exc.reason or type(exc).__name__})."
            ) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise AlertDeliveryError(
                f"{where} could not be reached ({type(exc).__name__})."
            ) from None
        if refused:
            raise AlertDeliveryError(f"{where} refused {len(refused)} of the recipients.")
