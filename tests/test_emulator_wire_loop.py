"""The emulator's HTTP on one asyncio loop: pipelined requests answered in order (a delay
holding the ones behind it), many connections at once, a method llhttp does not know still
routed, and a clean stop with connections open."""

from __future__ import annotations

import json
import socket
import threading

from framework.emulators import ContentstackEmulator, Fault

PROJECT = "project-1"


def post(path: str, body: bytes, user: str = "user-1") -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: x\r\nx-project-uid: {PROJECT}\r\n"
        f"x-cs-personalize-user-uid: {user}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def read_answers(sock: socket.socket, count: int) -> list[tuple[int, bytes]]:
    """``count`` answers (status, body) read from ``sock``, in order."""
    buffer = b""
    answers: list[tuple[int, bytes]] = []
    while len(answers) < count:
        head_end = buffer.find(b"\r\n\r\n")
        if head_end >= 0:
            head = buffer[:head_end].decode("latin-1")
            length = 0
            for line in head.split("\r\n")[1:]:
                name, _, value = line.partition(":")
                if name.lower() == "content-length":
                    length = int(value)
            end = head_end + 4 + length
            if len(buffer) >= end:
                answers.append((int(head.split(" ")[1]), buffer[head_end + 4 : end]))
                buffer = buffer[end:]
                continue
        chunk = sock.recv(65536)
        assert chunk, "the connection closed early"
        buffer += chunk
    return answers


def events_body(key: str) -> bytes:
    return json.dumps([{"type": "EVENT", "eventKey": key}]).encode()


def test_pipelined_requests_are_answered_in_order_a_delay_holding_the_rest() -> None:
    with ContentstackEmulator(project_uid=PROJECT) as api:
        api.inject(Fault(kind="delay", seconds=0.3, path="/events", count=1))
        host, port = api.url.removeprefix("http://").rsplit(":", 1)
        with socket.create_connection((host, int(port)), timeout=10) as sock:
            sock.sendall(b"".join(post("/events", events_body(key)) for key in "abc"))
            answers = read_answers(sock, 3)
        assert [status for status, _ in answers] == [503, 200, 200]
        events = api.state()["projects"][PROJECT]["users"]["user-1"]["events"]
        assert [item["eventKey"] for item in events] == ["b", "c"]


def test_many_connections_at_once() -> None:
    with ContentstackEmulator(project_uid=PROJECT) as api:
        host, port = api.url.removeprefix("http://").rsplit(":", 1)
        failures: list[BaseException] = []

        def client(number: int) -> None:
            try:
                with socket.create_connection((host, int(port)), timeout=10) as sock:
                    for round_ in range(5):
                        sock.sendall(
                            post("/events", events_body(f"{number}-{round_}"), f"u{number}")
                        )
                        assert read_answers(sock, 1)[0][0] == 200
            except BaseException as exc:
                failures.append(exc)

        threads = [threading.Thread(target=client, args=(n,)) for n in range(40)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert failures == []
        users = api.state()["projects"][PROJECT]["users"]
        assert sum(len(user["events"]) for user in users.values()) == 200


def test_a_method_llhttp_does_not_know_is_routed_then_the_connection_closed() -> None:
    with ContentstackEmulator(project_uid=PROJECT) as api:
        host, port = api.url.removeprefix("http://").rsplit(":", 1)
        with socket.create_connection((host, int(port)), timeout=10) as sock:
            sock.sendall(b"FROB /events HTTP/1.1\r\nHost: x\r\ncontent-length: 2\r\n\r\n[]")
            answer = b"".join(iter(lambda: sock.recv(65536), b""))
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 405 ")
        assert json.loads(body)["code"] == "METHOD_NOT_ALLOWED"


def test_stopping_closes_open_connections_promptly() -> None:
    api = ContentstackEmulator(project_uid=PROJECT).start()
    host, port = api.url.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(post("/events", events_body("a")))
        assert read_answers(sock, 1)[0][0] == 200
        api.stop()
        # Closed by the server (an open one would block until the socket's timeout).
        assert sock.recv(65536) == b""
