"""The Redis queue's --partitions on the command line: servers and workers must agree."""

from __future__ import annotations

import asyncio
from pathlib import Path

from click.testing import CliRunner
from redis_server import RedisServer

from framework.cli.main import cli
from framework.queue import QueuedEvent
from framework.queue.redis_stream import RedisStreamQueue

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_partitions_without_redis_is_a_usage_error() -> None:
    result = CliRunner().invoke(
        cli, ["serve", "--config", str(EXAMPLES / "server.yaml"), "--partitions", "8"]
    )
    assert result.exit_code == 2
    assert "--partitions" in result.output


def test_a_worker_with_another_partition_count_than_its_stream_is_refused(
    server: RedisServer,
) -> None:
    async def first_use() -> None:
        async with RedisStreamQueue(server.url, stream="cli-agree", partitions=4) as queue:
            await queue.put([QueuedEvent({"type": "track", "userId": "u1"}, ())])

    asyncio.run(first_use())
    result = CliRunner().invoke(
        cli,
        [
            "worker",
            "--redis",
            server.url,
            "--stream",
            "cli-agree",
            "--partitions",
            "16",
            "--instance",
            str(EXAMPLES / "contentstack.yaml"),
        ],
    )
    assert result.exit_code == 1, result.output
    assert "QUEUE_FAILED" in result.output
    assert "Traceback" not in result.output
