"""What a distributed worker does in a rebalance (the herder's `_rebalance`), in Kafka Connect's two
flavours:

- **cooperative** (`connect.protocol=compatible` or `sessioned`, the default; ConnectProtocol V1 under the
  name `compatible`): each worker joins announcing what it runs; the leader's `CooperativeAssignor`
  returns per member the work newly assigned and the work revoked, plus a delay while a departed
  worker's work is held (`scheduled.rebalance.max.delay.ms`). A worker stops only what is revoked and
  starts only what is new; everything else keeps running. After revoking it rejoins at once (Kafka's
  second round); after a delay it rejoins when the delay ends. `sessioned` behaves as `compatible`: no
  session keys or request signing between workers.
- **eager** (`connect.protocol=eager`, ConnectProtocol V0, `default`), also used when any member only
  speaks it: every worker stops everything, the leader deals all work round-robin, each starts its share.

Connectors whose config or task configs changed since the last rebalance (`herder.changed`) are
restarted where they keep running.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from riverlog.connect.group import (
    COOPERATIVE_NAME,
    Assignment,
    CooperativeAssignment,
    JoinResult,
    Work,
    round_robin,
)
from riverlog.connect.status import TargetState, TaskId

if TYPE_CHECKING:
    from riverlog.connect.distributed import DistributedHerder

log = logging.getLogger(__name__)


def owned_work(h: DistributedHerder) -> list[Work]:
    with h.worker.lock:
        return [(n, -1) for n in h.worker.connectors] + [
            (t.connector, t.task) for t in h.worker.tasks
        ]


def configured_work(h: DistributedHerder) -> list[Work]:
    with h.lock:
        out: list[Work] = [(n, -1) for n in sorted(h.configs)]
        for n in sorted(h.configs):
            if h.targets.get(n) is not TargetState.STOPPED:
                out.extend((n, i) for i in range(len(h.task_configs.get(n, []))))
        return out


def rebalance(h: DistributedHerder) -> None:
    h._rejoin.clear()
    h.is_leader, h.leader_url = False, None
    changed, h.changed = set(h.changed), set()
    if not h.cooperative:
        h._stop_everything()
    h.config_log.read_to_end()
    joined = h.member.join(h.url, h.config_offset, owned_work(h) if h.cooperative else None)
    if joined.protocol != COOPERATIVE_NAME:
        if h.cooperative:
            h._stop_everything()  # some member speaks eager only: the whole group is eager
        _eager(h, joined)
        return
    _cooperative(h, joined, changed)


def _eager(h: DistributedHerder, joined: JoinResult) -> None:
    assignments: dict[str, Assignment] = {}
    if joined.is_leader:
        h.config_log.read_to_end()
        work = configured_work(h)
        connectors = [n for n, t in work if t == -1]
        tasks = [w for w in work if w[1] != -1]
        h.member_urls = {m: url for m, (url, _) in joined.members.items()}
        assignments = round_robin(
            list(joined.members),
            connectors,
            tasks,
            lambda m: Assignment(0, joined.member_id, h.url, h.config_offset),
        )
        h.owners = {w: m for m, a in assignments.items() for w in a.tasks}
    mine = h.member.sync(assignments)
    h.assignment = mine
    h.is_leader, h.leader_url = joined.is_leader, mine.leader_url
    log.info(
        "Joined generation %d (eager) as %s: connectors %s, tasks %s",
        joined.generation,
        "leader" if h.is_leader else "follower",
        mine.connectors,
        mine.tasks,
    )
    h.offset_store.log.read_to_end()  # type: ignore[attr-defined]
    h._start_assigned(mine)


def _cooperative(h: DistributedHerder, joined: JoinResult, changed: set[str]) -> None:
    assignments: dict[str, CooperativeAssignment] = {}
    if joined.is_leader:
        h.config_log.read_to_end()
        assigned, revoked, delay = h.assignor.assign(
            joined.owned, configured_work(h), time.monotonic()
        )
        h.member_urls = {m: url for m, (url, _) in joined.members.items()}
        h.owners = {}
        for m in joined.owned:
            for w in set(joined.owned[m]) - set(revoked[m]) | set(assigned[m]):
                h.owners[w] = m
        assignments = {
            m: CooperativeAssignment(
                0, joined.member_id, h.url, h.config_offset, assigned[m], revoked[m], delay
            )
            for m in joined.owned
        }
    mine = h.member.sync_cooperative(assignments)
    h.is_leader, h.leader_url = joined.is_leader, mine.leader_url
    log.info(
        "Joined generation %d (cooperative) as %s: assigned %s, revoked %s, delay %d ms",
        joined.generation,
        "leader" if h.is_leader else "follower",
        mine.assigned,
        mine.revoked,
        mine.delay_ms,
    )
    # 1. Stop what was revoked (tasks before their connector).
    revoked_tasks = [TaskId(n, t) for n, t in mine.revoked if t != -1]
    h.worker.stop_tasks(revoked_tasks)
    for n, t in mine.revoked:
        if t == -1:
            h.worker.stop_connector(n)
    # 2. Restart what keeps running here but changed its config.
    h.offset_store.log.read_to_end()  # type: ignore[attr-defined]
    for name in sorted(changed):
        _restart_changed(h, name)
    # 3. Start what is new here.
    with h.lock:
        new_connectors = [n for n, t in mine.assigned if t == -1]
        new_tasks = [(n, t) for n, t in mine.assigned if t != -1]
    h._start_assigned(
        Assignment(0, mine.leader, mine.leader_url, mine.config_offset, new_connectors, new_tasks)
    )
    owned = owned_work(h)
    h.assignment = Assignment(
        0,
        mine.leader,
        mine.leader_url,
        mine.config_offset,
        [n for n, t in owned if t == -1],
        [w for w in owned if w[1] != -1],
    )
    # 4. Revocations need a second round; a delay, a rejoin when it ends.
    if mine.revoked:
        h._rejoin.set()
    if mine.delay_ms > 0:
        h.rejoin_at = time.monotonic() + mine.delay_ms / 1000


def _restart_changed(h: DistributedHerder, name: str) -> None:
    with h.lock:
        if name not in h.configs:
            return
        if name in h.worker.connectors:
            h.worker.stop_connector(name)
            target = h.targets.get(name, TargetState.STARTED)
            if (
                h.worker.start_connector(name, h.configs[name], target)
                and target is not TargetState.STOPPED
            ):
                h._maybe_write_task_configs(name)
        mine = h.worker.task_ids(name)
        configs = h.task_configs.get(name, [])
        h.worker.stop_tasks(mine)
        for task_id in mine:
            if task_id.task < len(configs):
                h.worker.start_task(
                    task_id,
                    h.configs[name],
                    configs[task_id.task],
                    h.targets.get(name, TargetState.STARTED),
                )
