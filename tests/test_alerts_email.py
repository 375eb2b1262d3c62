"""The email alert channel against a real SMTP server on loopback (aiosmtpd, in a thread).

Plain SMTP, STARTTLS with a login, and TLS from the first byte, with a self-signed
certificate the test makes with the ``openssl`` command and gives the channel as ``caFile``.
The password never appears in the message, the outcome, the logs or the channel's repr.
"""

from __future__ import annotations

import logging
import socket
import ssl
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from loopback_servers import self_signed_certificate

from framework.sync.alert_email import EmailChannel
from framework.sync.alerts import AlertConfig, notify_run

PASSWORD = "s3cret-smtp-pass"


class _Inbox:
    """An aiosmtpd handler that keeps every message it is given."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], Message]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(
            (list(envelope.rcpt_tos), message_from_bytes(envelope.content, policy=policy.default))
        )
        return "250 OK"


def _authenticate(
    server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and auth_data == LoginPassword(
        b"etl", PASSWORD.encode()
    )
    return AuthResult(success=ok, handled=False)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return self_signed_certificate(tmp_path_factory.mktemp("tls"))


def _server_context(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    return context


@pytest.fixture
def plain() -> Iterator[tuple[int, _Inbox]]:
    inbox = _Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=_free_port())
    controller.start()
    yield controller.port, inbox
    controller.stop()


@pytest.fixture
def starttls(certificate: tuple[Path, Path]) -> Iterator[tuple[int, _Inbox]]:
    inbox = _Inbox()
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=_free_port(),
        tls_context=_server_context(certificate),
        require_starttls=True,
        authenticator=_authenticate,
        auth_required=True,
    )
    controller.start()
    yield controller.port, inbox
    controller.stop()


def _run(status: str, run_id: int, **extra: Any) -> dict[str, Any]:
    return {"sync": "users", "status": status, "run_id": run_id, **extra}


def _only_email(channel: EmailChannel) -> AlertConfig:
    return AlertConfig(channels=(channel,))


def test_a_plain_smtp_server_gets_the_failure_and_the_recovery(
    plain: tuple[int, _Inbox], tmp_path: Path
) -> None:
    port, inbox = plain
    channel = EmailChannel(
        "127.0.0.1", "etl@example.com", ("data@example.com",), port=port, security="none"
    )
    state = tmp_path / "alerts.sqlite"
    failed = notify_run(
        _run("failed", 1, error="The source cannot be read."), _only_email(channel), state
    )
    assert failed.sent, failed.error
    assert notify_run(_run("succeeded", 2), _only_email(channel), state).sent
    (first_to, first), (_, second) = inbox.messages
    assert first_to == ["data@example.com"]
    assert first["Subject"].startswith("[actionkit] FAILED: Sync users failed (run 1)")
    assert first["From"] == "etl@example.com"
    body = first.get_payload(decode=True).decode()
    assert "The source cannot be read." in body
    assert "actionkit runs show 1" in body
    assert second["Subject"].startswith("[actionkit] RECOVERED: Sync users recovered: run 2")


def test_starttls_with_a_login_delivers_and_never_shows_the_password(
    starttls: tuple[int, _Inbox],
    certificate: tuple[Path, Path],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    port, inbox = starttls
    channel = EmailChannel(
        "localhost",
        "etl@example.com",
        ("data@example.com", "oncall@example.com"),
        port=port,
        username="etl",
        password=PASSWORD,
        ca_file=str(certificate[0]),
    )
    assert PASSWORD not in repr(channel)
    outcome = notify_run(
        {**_run("partial", 1), "rejected": 3, "succeeded": 7}, _only_email(channel), tmp_path / "s"
    )
    assert outcome.sent, outcome.error
    recipients, message = inbox.messages[0]
    assert recipients == ["data@example.com", "oncall@example.com"]
    assert message["Subject"].startswith("[actionkit] WARNING: Sync users rejected 3 rows")
    assert PASSWORD not in message.as_string()
    # A wrong password: refused, said without the password, retried after the next run.
    wrong = EmailChannel(
        "localhost",
        "etl@example.com",
        ("data@example.com",),
        port=port,
        username="etl",
        password="not-" + PASSWORD,
        ca_file=str(certificate[0]),
        name="email-2",
    )
    with caplog.at_level(logging.WARNING):
        refused = notify_run(_run("failed", 2), _only_email(wrong), tmp_path / "s")
    assert not refused.sent
    assert refused.error is not None
    assert "refused the login (SMTP 535)" in refused.error
    for text in (refused.error, caplog.text, repr(refused), repr(wrong)):
        assert PASSWORD not in text


def test_starttls_refuses_a_certificate_it_cannot_check(
    starttls: tuple[int, _Inbox], tmp_path: Path
) -> None:
    port, inbox = starttls
    channel = EmailChannel("localhost", "etl@example.com", ("d@example.com",), port=port)
    outcome = notify_run(_run("failed", 1), _only_email(channel), tmp_path / "s")
    assert not outcome.sent
    assert outcome.error is not None
    assert outcome.error.startswith("The SMTP server localhost failed the TLS handshake")
    assert inbox.messages == []


def test_tls_from_the_first_byte(certificate: tuple[Path, Path], tmp_path: Path) -> None:
    inbox = _Inbox()
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=_free_port(),
        ssl_context=_server_context(certificate),
    )
    controller.start()
    try:
        channel = EmailChannel(
            "localhost",
            "etl@example.com",
            ("data@example.com",),
            port=controller.port,
            security="ssl",
            ca_file=str(certificate[0]),
        )
        outcome = notify_run(_run("failed", 1), _only_email(channel), tmp_path / "s")
    finally:
        controller.stop()
    assert outcome.sent, outcome.error
    assert len(inbox.messages) == 1


def test_an_smtp_server_that_is_not_there(tmp_path: Path) -> None:
    channel = EmailChannel(
        "127.0.0.1", "etl@example.com", ("d@example.com",), port=_free_port(), security="none"
    )
    outcome = notify_run(_run("failed", 1), _only_email(channel), tmp_path / "s")
    assert not outcome.sent
    assert (
        outcome.error == "The SMTP server 127.0.0.1 could not be reached (ConnectionRefusedError)."
    )
