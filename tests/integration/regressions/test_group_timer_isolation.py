"""A group whose timer raises must not cost other groups their timeouts (issue 19, bug 1).

Before the fix, a timer that raised (StopIteration from a JoinGroup listing a protocol twice) ended the
timer pass: answers gathered from timers fired just before it in the same pass were dropped, so another
group's completed join was never answered. Here a real broker's group runtime fires two due join
deadlines in one pass, the first group healthy, the second left in the state that bug produced.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from concurrent.futures import Future
from typing import Any

import pytest
from kio.schema.errors import ErrorCode
from kio.schema.find_coordinator.v1.request import FindCoordinatorRequest

from riverlog.broker.coordinators.groups import GroupRuntime
from riverlog.coordinator.group.messages import JoinGroupRequest, JoinGroupResult, Protocol
from riverlog.testing import wire
from riverlog.testing.broker import RunningBroker

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningBroker]:
    settings = {"offsets.topic.num.partitions": "1", "group.initial.rebalance.delay.ms": "3000"}
    with RunningBroker(tmp_path_factory.mktemp("timers"), **settings) as running:
        yield running


def on_broker_loop(broker: RunningBroker, coroutine: Any) -> Any:
    loop = broker._loop
    assert loop is not None
    future: Future[Any] = asyncio.run_coroutine_threadsafe(coroutine, loop)
    return future.result(timeout=30)


def join_request(group: str) -> JoinGroupRequest:
    return JoinGroupRequest(
        group_id=group,
        member_id="",
        protocol_type="consumer",
        protocols=(Protocol("range", b""),),
        session_timeout_ms=10_000,
        rebalance_timeout_ms=30_000,
        api_version=3,
    )


def test_a_failing_group_timer_leaves_the_others_answered(broker: RunningBroker) -> None:
    found = wire.call(broker.port, FindCoordinatorRequest(key="healthy", key_type=0))
    assert found.error_code == ErrorCode.none  # the offsets topic exists now
    assert broker.node is not None
    runtime: GroupRuntime = broker.node.services.groups

    async def scenario() -> tuple[JoinGroupResult, bool]:
        def join(group: str) -> asyncio.Future[JoinGroupResult]:
            req = join_request(group)
            return asyncio.ensure_future(
                runtime.execute(
                    group, lambda shard, ticket, now: shard.join_group(req, ticket, now)
                )
            )

        healthy, poisoned = join("healthy"), join("poisoned")
        while not all(g in runtime.shard_for("healthy")[1].groups for g in ("healthy", "poisoned")):
            await asyncio.sleep(0.01)
        index, shard = runtime.shard_for("poisoned")
        # The state a JoinGroup listing "range" twice left behind: no protocol for every member.
        shard.groups["poisoned"].supported_protocols["range"] += 1
        # Both initial delays fall due in one pass ("healthy" first).
        await runtime.run_shard_due(index, shard, runtime.clock.now_ms() + 10_000)
        answer = await asyncio.wait_for(healthy, 5)
        stuck = not poisoned.done()
        poisoned.cancel()
        return answer, stuck

    answer, stuck = on_broker_loop(broker, scenario())
    assert answer.error is ErrorCode.none and answer.generation_id == 1
    assert stuck  # the failed group's join is dropped with its timer, as Kafka's would be
