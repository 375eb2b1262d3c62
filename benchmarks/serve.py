"""Serving benchmark: the accept path against a bare endpoint, and delivery end to end.

    python benchmarks/serve.py [--accept-events 20000] [--rounds 7] [--clients 8] [--batch 50]
                               [--users 200] [--shape minimal|sdk]
                               [--mode redis|embedded|both] [--processes 1]
                               [--end-to-end [--events 5000] [--workers 2]
                                             [--rate EVENTS_PER_S] [--json]]

**The accept path** (always; its ratio is the last line). ``actionkit serve``'s ingestion app
with delivery off (no consumer, no workers) parses, checks, appends durably and answers, in a
process of its own under uvicorn configured as ``actionkit serve`` configures it (the same
listening socket, HTTP protocol class, keep-alive and connection bound; see ``serve_accept``).
Beside it, in another process on the same stack, the baseline: a bare Starlette endpoint that
parses the same batch bodies (``await request.json()``) and answers 200. Rounds alternate
(ours, bare, ours, ...; :mod:`benchmarks.rounds`); each posts ``--accept-events`` track events
in ``/v1/batch`` requests of ``--batch`` over ``--clients`` keep-alive connections, from a
bare HTTP/1.1 client that costs the shared CPU little, and its rate is events a second
answered 200. ``--shape sdk`` posts events as analytics.js sends them (a messageId, a
timestamp, properties, a context, the batch's ``sentAt``: about 430 bytes each) rather than
the minimal ones (type, userId, name: about 70 bytes). ``--processes N`` runs N server
processes on each side, sharing the listening socket (the Redis set-up and the bare endpoint;
the embedded SQLite queue has one owner, so it and its baseline run one). Prints each side's
median rate and process count, then ``ratio_vs_bare_endpoint_redis: R (min A, max B, N
pairs)`` for ``redis`` (a redis-server on a free port, no persistence) and, last,
``ratio_vs_bare_endpoint: R ...`` for the embedded SQLite queue (with ``--mode redis`` alone,
the last line is Redis's).

**End to end** (``--end-to-end``, first). Two set-ups, each in processes of their own, as
they would run:

- ``redis``: ``actionkit serve --redis`` appends to a Redis stream (a redis-server started on
  a free port, no persistence), ``--workers`` ``actionkit worker`` processes deliver;
- ``embedded``: ``actionkit serve`` alone, with its SQLite queue and its own router.

Clients (asyncio, one httpx connection each) post ``/v1/batch`` requests of ``--batch`` track
events, each named by its number: as fast as the server answers, or paced at ``--rate`` events
a second in all (unpaced, the latency measured is mostly the backlog's; paced below what the
set-up delivers, it is the path's own). The Personalize Edge emulator runs in its own process
(this file with ``--emulator``) and notes when each event arrives, so each event's end-to-end
latency is its receipt time minus the time its client sent it. Prints, per set-up: events per
second accepted (answered 200), events per second delivered (first send to last receipt), the
p50 and p99 of the post's answer time and of the end-to-end latency.

Not a test: it prints figures. Needs redis-server for the ``redis`` set-up
(``scripts/system-packages.sh`` installs it).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import ExitStack, asynccontextmanager, contextmanager, suppress
from pathlib import Path
from typing import Any

import httpx
import uvicorn
import yaml

if not __package__:
    # Run as a script (`python benchmarks/serve.py`): make the project root importable.
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from starlette.applications import Starlette
from starlette.requests import Request as StarletteRequest
from starlette.responses import JSONResponse
from starlette.responses import Response as StarletteResponse
from starlette.routing import Route

from benchmarks.rounds import PairedRatio, ameasure
from framework.cli._io import listen
from framework.cli.serve import _redis_app
from framework.delivery.stats import percentile
from framework.emulators import EmulatorServer, PersonalizeEdge, Request, Response
from framework.server.app import IngestionApp, create_app
from framework.server.config import load_server_config
from framework.server.embedded import queue_for
from framework.server.header_deadline import header_deadline_protocol

PROJECT = "bench-project"
WRITE_KEY = "bench-write-key"
INSTANCE = "bench"


# -- the emulator, with receipt times ----------------------------------------------------------


class TimedEdge:
    """The Personalize Edge API, noting when each event key first arrived (wall clock).

    Its state is only those times (``{"received": {key: seconds}}``), so that polling it is
    cheap; the API behaves as :class:`PersonalizeEdge` does.
    """

    def __init__(self) -> None:
        self.edge = PersonalizeEdge(PROJECT)
        self.received: dict[str, float] = {}

    def handle(self, request: Request) -> Response:
        """Answer as the Edge API does; note the time of each event of an accepted request."""
        response = self.edge.handle(request)
        if request.path == "/events" and response.status == 200:
            now = time.time()
            for item in request.json():
                self.received.setdefault(str(item.get("eventKey")), now)
        return response

    def state(self) -> dict[str, Any]:
        """Receipt times by event key."""
        return {"received": dict(self.received)}

    def reset(self) -> None:
        """Forget everything."""
        self.edge.reset()
        self.received.clear()


def serve_emulator() -> None:
    """Serve :class:`TimedEdge` until SIGTERM; print the base URL first."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with EmulatorServer(TimedEdge()) as server:
        print(server.url, flush=True)
        stop.wait()


# -- processes -----------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def _process(args: list[str], *, first_line: bool = False) -> Iterator[str]:
    """Run ``args``; yields its first line of output when asked; SIGTERM and wait on exit."""
    process = subprocess.Popen(
        args,
        stdout=subprocess.PIPE if first_line else subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        line = ""
        if first_line:
            assert process.stdout is not None
            line = process.stdout.readline().strip()
            if not line:
                raise SystemExit(f"{' '.join(args[:4])} did not start")
        yield line
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def _redis(directory: Path) -> Iterator[str]:
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is not installed: run scripts/system-packages.sh")
    port = _free_port()
    args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(directory)]
    args += ["--save", "", "--appendonly", "no"]
    with _process(args):
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        break
            except OSError:
                if time.monotonic() > deadline:
                    raise
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"


def _framework(*args: str) -> list[str]:
    return [sys.executable, "-m", "framework", *args]


def _wait_healthy(url: str) -> None:
    deadline = time.monotonic() + 20
    while True:
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit("the server did not become healthy")
        time.sleep(0.05)


@contextmanager
def _setup(mode: str, directory: Path, emulator_url: str, workers: int) -> Iterator[str]:
    """Start the server (and Redis and workers for ``redis``); yields the server's URL."""
    instance = {
        "destination": "contentstack",
        "name": INSTANCE,
        "settings": {"personalizeProjectId": PROJECT, "personalizeEdgeApiBaseUrl": emulator_url},
        "mappings": [{"name": "Events", "preset": "events-sync"}],
        "delivery": {"allowLoopback": True},  # the emulator listens on loopback
    }
    (directory / "instance.yaml").write_text(yaml.safe_dump(instance))
    config = {
        "instances": ["instance.yaml"],
        "writeKeys": {WRITE_KEY: [INSTANCE]},
        "queue": {"path": "queue.sqlite", "maxLength": 1_000_000},
        "deadLetters": "dead-letters.sqlite",
    }
    (directory / "server.yaml").write_text(yaml.safe_dump(config))
    serve = _framework("serve", "--config", str(directory / "server.yaml"), "--port", "0")
    with ExitStack() as stack:
        if mode == "redis":
            redis_url = stack.enter_context(_redis(directory))
            serve += ["--redis", redis_url]
            for n in range(workers):
                args = [
                    "worker",
                    "--redis",
                    redis_url,
                    "--instance",
                    str(directory / "instance.yaml"),
                ]
                args += [
                    "--consumer",
                    f"bench-{n}",
                    "--dead-letters",
                    str(directory / f"dl{n}.sqlite"),
                ]
                stack.enter_context(_process(_framework(*args)))
        url = stack.enter_context(_process(serve, first_line=True))
        _wait_healthy(url)
        yield url


# -- the run -------------------------------------------------------------------------------


async def _post_all(
    url: str,
    prefix: str,
    events: int,
    clients: int,
    batch: int,
    users: int,
    rate: float | None = None,
) -> tuple[dict[str, float], list[float], float]:
    """Post the events; returns send time by event key, answer times, and the elapsed time.

    With ``rate``, batches are sent on a schedule of ``rate`` events a second in all (as long
    as the clients keep up); without, as fast as the answers come.
    """
    sent: dict[str, float] = {}
    answers: list[float] = []
    batches = [list(range(start, min(start + batch, events))) for start in range(0, events, batch)]
    next_batch = iter(enumerate(batches))
    began = time.perf_counter()

    async def client() -> None:
        async with httpx.AsyncClient(base_url=url, auth=(WRITE_KEY, ""), timeout=60) as http:
            for index, numbers in next_batch:
                if rate is not None:
                    due = began + index * batch / rate - time.perf_counter()
                    if due > 0:
                        await asyncio.sleep(due)
                keys = [f"{prefix}-{n}" for n in numbers]
                body = {
                    "batch": [
                        {"type": "track", "userId": f"user-{n % users}", "event": key}
                        for n, key in zip(numbers, keys, strict=True)
                    ]
                }
                start = time.time()
                for key in keys:
                    sent[key] = start
                answer = await http.post("/v1/batch", json=body)
                answers.append(time.time() - start)
                if answer.status_code != 200:
                    raise SystemExit(f"the server answered {answer.status_code}: {answer.text}")

    await asyncio.gather(*(client() for _ in range(clients)))
    return sent, answers, time.perf_counter() - began


def _received(emulator_url: str) -> dict[str, float]:
    state = httpx.get(f"{emulator_url}/_emulator/state", timeout=30).json()
    return dict(state["received"])


def _wait_delivered(emulator_url: str, keys: set[str], timeout: float = 600) -> dict[str, float]:
    deadline = time.monotonic() + timeout
    while True:
        received = _received(emulator_url)
        if keys <= received.keys():
            return received
        if time.monotonic() > deadline:
            missing = len(keys - received.keys())
            raise SystemExit(f"{missing} events were not delivered in {timeout} s")
        time.sleep(0.25)


def run_mode(mode: str, options: argparse.Namespace) -> dict[str, Any]:
    """One set-up: warm up, post ``options.events`` events, wait for all; returns figures."""
    with (
        tempfile.TemporaryDirectory(prefix="actionkit-bench-") as tmp,
        _process([sys.executable, __file__, "--emulator"], first_line=True) as emulator_url,
        _setup(mode, Path(tmp), emulator_url, options.workers) as url,
    ):
        warm, _, _ = asyncio.run(_post_all(url, "warm", 200, 4, 50, options.users))
        _wait_delivered(emulator_url, set(warm))
        sent, answers, posting = asyncio.run(
            _post_all(
                url,
                "run",
                options.events,
                options.clients,
                options.batch,
                options.users,
                options.rate,
            )
        )
        received = _wait_delivered(emulator_url, set(sent))
    latencies = [received[key] - sent[key] for key in sent]
    first_sent = min(sent.values())
    last_received = max(received[key] for key in sent)
    return {
        "mode": mode,
        "events": options.events,
        "accepted_per_s": options.events / posting,
        "delivered_per_s": options.events / (last_received - first_sent),
        "answer_p50_ms": percentile(sorted(answers), 0.5) * 1000,
        "answer_p99_ms": percentile(sorted(answers), 0.99) * 1000,
        "e2e_p50_ms": percentile(sorted(latencies), 0.5) * 1000,
        "e2e_p99_ms": percentile(sorted(latencies), 0.99) * 1000,
    }


# -- the accept path against a bare endpoint -------------------------------------------------
#
# Delivery off: the server only parses, checks, appends durably and answers. Each server runs
# in a process of its own (this file with ``--accept-server``), under uvicorn configured as
# ``actionkit serve`` configures it (framework/cli/serve.py): the same HTTP protocol class (the
# head deadline), keep-alive, connection bound, event loop choice and logging.


def _bare_app() -> Starlette:
    """The baseline: one Starlette endpoint that parses the JSON body and answers 200."""

    async def batch(request: StarletteRequest) -> StarletteResponse:
        body = await request.json()
        if not isinstance(body, dict) or not isinstance(body.get("batch"), list):
            return JSONResponse({"success": False}, 400)
        return JSONResponse({"success": True})

    return Starlette(routes=[Route("/v1/batch", batch, methods=["POST"])])


def _accept_app(kind: str, config_path: Path, redis_url: str | None) -> Starlette | IngestionApp:
    """The ingestion app of ``actionkit serve`` for ``kind``, with no consumer."""
    config = load_server_config(config_path)
    if kind == "bare":
        return _bare_app()
    if kind == "redis":
        assert redis_url is not None
        return _redis_app(config, redis_url, 16)
    queue = queue_for(config)

    @asynccontextmanager
    async def closing(app: Starlette) -> AsyncIterator[None]:
        try:
            await queue.depth()  # opens the file now, as the embedded app does
            yield
        finally:
            await queue.close()

    return create_app(config, queue, lifespan=closing)


def serve_accept(
    kind: str,
    config_path: Path,
    redis_url: str | None,
    http: str | None = None,
    processes: int = 1,
) -> None:
    """Serve one accept-path app until SIGTERM, as ``actionkit serve`` runs it; print the URL.

    ``http``: another uvicorn HTTP implementation (``httptools``), only to measure it as a
    candidate; it has no head deadline. ``processes``: server processes accepting on the one
    listening socket (forked before any app is built, each with its own app and event loop,
    as uvicorn's ``--workers`` runs them); the embedded SQLite queue has one owner, so
    ``embedded`` takes one.
    """
    if kind == "embedded" and processes > 1:
        raise SystemExit("the embedded queue has one owner: one process")
    sock = listen("127.0.0.1", 0)  # as actionkit serve listens
    print(f"http://127.0.0.1:{sock.getsockname()[1]}", flush=True)
    children = []
    for _ in range(processes - 1):
        pid = os.fork()
        if pid == 0:
            try:
                _serve_accept_on(sock, kind, config_path, redis_url, http)
            finally:
                os._exit(0)
        children.append(pid)
    try:
        _serve_accept_on(sock, kind, config_path, redis_url, http)
    finally:
        for pid in children:
            os.kill(pid, signal.SIGTERM)
        for pid in children:
            os.waitpid(pid, 0)


def _serve_accept_on(
    sock: socket.socket, kind: str, config_path: Path, redis_url: str | None, http: str | None
) -> None:
    """One server process of :func:`serve_accept`, until SIGTERM."""
    limits = load_server_config(config_path).limits
    app = _accept_app(kind, config_path, redis_url)
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            log_level="warning",
            access_log=False,
            lifespan="on",
            timeout_keep_alive=limits.keep_alive_timeout,
            limit_concurrency=limits.max_connections,
            http=http or header_deadline_protocol(limits.header_timeout),
        )
    )
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    with suppress(KeyboardInterrupt):
        server.run(sockets=[sock])


def _event(shape: str, number: int, key: str, users: int) -> dict[str, Any]:
    """Track event ``number``: ``minimal`` (type, userId, event) or ``sdk``, as analytics.js
    sends one (a messageId, a timestamp, properties and a context)."""
    event: dict[str, Any] = {"type": "track", "userId": f"user-{number % users}", "event": key}
    if shape == "sdk":
        event.update(
            messageId=f"ajs-next-{number:032x}",
            timestamp="2026-12-05T06:20:01.123Z",
            properties={"revenue": 12.5, "currency": "USD", "products": [{"id": "p1", "n": 3}]},
            context={
                "library": {"name": "analytics.js", "version": "2.11.1"},
                "page": {"url": "https://example.com/cart", "path": "/cart"},
                "userAgent": "Mozilla/5.0 (X11; Linux x86_64)",
                "ip": "203.0.113.7",
            },
        )
    return event


def _batch_requests(
    host: str, prefix: str, events: int, batch: int, users: int, shape: str = "minimal"
) -> list[bytes]:
    """The raw ``POST /v1/batch`` requests posting ``events`` track events, ``batch`` each
    (with the batch's ``sentAt`` for the ``sdk`` shape)."""
    auth = base64.b64encode(f"{WRITE_KEY}:".encode()).decode()
    requests = []
    for start in range(0, events, batch):
        numbers = range(start, min(start + batch, events))
        content: dict[str, Any] = {
            "batch": [_event(shape, n, f"{prefix}-{n}", users) for n in numbers]
        }
        if shape == "sdk":
            content["sentAt"] = "2026-12-05T06:20:02.000Z"
        body = json.dumps(content).encode()
        head = (
            f"POST /v1/batch HTTP/1.1\r\nHost: {host}\r\nAuthorization: Basic {auth}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        requests.append(head.encode() + body)
    return requests


async def _post_raw(url: str, requests: list[bytes], clients: int) -> float:
    """Send ``requests`` over ``clients`` keep-alive connections; returns the seconds taken.

    A bare HTTP/1.1 client (one request at a time per connection), so that the client costs
    the shared CPU as little as it can; any answer but 200 stops the benchmark.
    """
    host, port = url.removeprefix("http://").split(":")
    queue = iter(requests)

    async def client() -> None:
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            for request in queue:
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                status = head[9:12]
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                answer = await reader.readexactly(length)
                if status != b"200":
                    raise SystemExit(f"the server answered {status.decode()}: {answer[:300]!r}")
        finally:
            writer.close()

    began = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    return time.perf_counter() - began


@contextmanager
def _accept_server(
    kind: str, directory: Path, redis_url: str | None, processes: int = 1
) -> Iterator[str]:
    config = {
        "instances": ["instance.yaml"],
        "writeKeys": {WRITE_KEY: [INSTANCE]},
        "queue": {"path": f"queue-{kind}.sqlite", "maxLength": 1_000_000},
        "deadLetters": "dead-letters.sqlite",
    }
    path = directory / f"server-{kind}.yaml"
    path.write_text(yaml.safe_dump(config))
    args = [sys.executable, __file__, "--accept-server", kind, "--config", str(path)]
    args += ["--processes", str(processes)]
    if redis_url is not None:
        args += ["--redis-url", redis_url]
    with _process(args, first_line=True) as url:
        _wait_ready(url)
        yield url


def _wait_ready(url: str) -> None:
    deadline = time.monotonic() + 20
    while True:
        try:
            httpx.post(f"{url}/v1/batch", json={"batch": []}, auth=(WRITE_KEY, ""), timeout=1)
            return
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise SystemExit("the server did not start") from None
        time.sleep(0.05)


def _processes(mode: str, options: argparse.Namespace) -> int:
    """Server processes of each side for ``mode``: ``--processes``, but one for embedded."""
    return 1 if mode == "embedded" else int(options.processes)


def accept_ratio(mode: str, options: argparse.Namespace) -> PairedRatio:
    """Alternate rounds against ``actionkit serve``'s accept path and the bare endpoint.

    Each round posts ``options.accept_events`` events in batches of ``options.batch`` over
    ``options.clients`` connections; its rate is events a second answered 200.
    """
    with tempfile.TemporaryDirectory(prefix="actionkit-bench-") as tmp, ExitStack() as stack:
        directory = Path(tmp)
        instance = {
            "destination": "contentstack",
            "name": INSTANCE,
            "settings": {
                "personalizeProjectId": PROJECT,
                "personalizeEdgeApiBaseUrl": "http://127.0.0.1:9",
            },
            "delivery": {"allowLoopback": True},  # never used: delivery is off
            "mappings": [{"name": "Events", "preset": "events-sync"}],
        }
        (directory / "instance.yaml").write_text(yaml.safe_dump(instance))
        redis_url = stack.enter_context(_redis(directory)) if mode == "redis" else None
        processes = _processes(mode, options)
        ours = stack.enter_context(_accept_server(mode, directory, redis_url, processes))
        bare = stack.enter_context(_accept_server("bare", directory, None, processes))
        counter = iter(range(1_000_000))

        def rounds(url: str) -> Callable[[], Awaitable[float]]:
            async def one() -> float:
                host = url.removeprefix("http://")
                prefix = f"r{next(counter)}"
                batches = _batch_requests(
                    host,
                    prefix,
                    options.accept_events,
                    options.batch,
                    options.users,
                    options.shape,
                )
                events: int = options.accept_events
                return events / await _post_raw(url, batches, options.clients)

            return one

        async def run() -> PairedRatio:
            await rounds(ours)()  # warm both up: imports, connections, the file's first pages
            await rounds(bare)()
            return await ameasure(rounds(ours), rounds(bare), rounds=options.rounds)

        return asyncio.run(run())


def main() -> None:
    """Parse the options; measure the accept path against the bare endpoint (and end to end)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=5000, help="events end to end")
    parser.add_argument(
        "--accept-events", type=int, default=20000, help="events a round of the accept path"
    )
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument(
        "--shape",
        choices=["minimal", "sdk"],
        default="minimal",
        help="the accept path's events: type, userId and name, or as analytics.js sends them "
        "(messageId, timestamp, properties, context; the batch's sentAt)",
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=7, help="rounds of each side (accept path)")
    parser.add_argument(
        "--rate", type=float, help="offer this many events a second in all (default: all at once)"
    )
    parser.add_argument("--mode", choices=["redis", "embedded", "both"], default="both")
    parser.add_argument(
        "--end-to-end",
        action="store_true",
        help="first measure delivery end to end too (the table), then the accept path",
    )
    parser.add_argument("--json", action="store_true", help="print the table as JSON lines")
    parser.add_argument("--emulator", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument(
        "--accept-server", choices=["embedded", "redis", "bare"], help=argparse.SUPPRESS
    )
    parser.add_argument("--config", type=Path, help=argparse.SUPPRESS)
    parser.add_argument(
        "--processes",
        type=int,
        default=1,
        help="server processes of each side of the accept path, sharing its socket (redis and "
        "the bare endpoint; embedded is always one)",
    )
    parser.add_argument("--redis-url", help=argparse.SUPPRESS)
    parser.add_argument("--http", choices=["httptools"], help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.emulator:
        serve_emulator()
        return
    if options.accept_server:
        serve_accept(
            options.accept_server,
            options.config,
            options.redis_url,
            options.http,
            options.processes,
        )
        return
    modes = ["redis", "embedded"] if options.mode == "both" else [options.mode]
    print(
        f"{options.accept_events} events a round ({options.events} end to end), "
        f"{options.clients} clients, batches of {options.batch}, "
        f"{options.users} users, {options.shape} events, rate {options.rate or 'unpaced'}; "
        f"redis: {options.workers} workers",
        file=sys.stderr,
    )
    if options.end_to_end:
        end_to_end(modes, options)
    ratios = {}
    for mode in modes:
        ratio = accept_ratio(mode, options)
        ratios[mode] = ratio
        ours = statistics.median(ratio.ours)
        bare = statistics.median(ratio.theirs)
        processes = _processes(mode, options)
        print(
            f"accept path, {mode}: {ours:,.0f} events/s; bare endpoint {bare:,.0f} events/s "
            f"(medians of {len(ratio.ours)} rounds each; {processes} server "
            f"process{'es' if processes > 1 else ''} each side)",
            flush=True,
        )
    for mode in modes:
        name = "ratio_vs_bare_endpoint" if mode == modes[-1] else f"ratio_vs_bare_endpoint_{mode}"
        print(ratios[mode].line(name), flush=True)


def end_to_end(modes: list[str], options: argparse.Namespace) -> None:
    """Run each set-up with delivery, printing the table (or JSON lines with --json)."""
    header = (
        f"{'set-up':<10}{'accepted/s':>12}{'delivered/s':>13}"
        f"{'answer p50':>12}{'p99':>8}{'e2e p50':>10}{'p99':>8}  (ms)"
    )
    if not options.json:
        print(header)
    for mode in modes:
        figures = run_mode(mode, options)
        if options.json:
            print(json.dumps(figures))
            continue
        print(
            f"{mode:<10}{figures['accepted_per_s']:>12,.0f}{figures['delivered_per_s']:>13,.0f}"
            f"{figures['answer_p50_ms']:>12.1f}{figures['answer_p99_ms']:>8.1f}"
            f"{figures['e2e_p50_ms']:>10.1f}{figures['e2e_p99_ms']:>8.1f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
