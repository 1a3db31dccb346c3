"""The leader's view of its followers: fetch progress, the high watermark and ISR membership.

Kafka's rules (Partition / Replica in Kafka's broker):
- A follower's log end offset is the offset of its latest fetch. It is *caught up* at time t when it
  fetched the leader's whole log as of t; a follower whose last caught-up time is older than
  `replica.lag.time.max.ms` leaves the ISR.
- The high watermark is the minimum log end offset over the ISR (the leader's own included). It never
  moves back on the leader; a follower whose progress is unknown (no fetch yet since this leader took
  over) holds it where it is.
- A follower joins the ISR once its log end offset reaches the high watermark and the start of the
  leader's current epoch (so it holds every committed record of this leader).
- An ISR change takes effect only after its compare-and-set in ZooKeeper succeeded, so the leader never
  computes a high watermark over an ISR that the controller does not know.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass


@dataclass(slots=True)
class FollowerState:
    log_end_offset: int = -1
    last_caught_up_ms: int = 0
    last_fetch_leader_leo: int = -1
    last_fetch_ms: int = 0

    def record_fetch(self, fetch_offset: int, leader_leo: int, now_ms: int) -> None:
        if fetch_offset >= leader_leo:
            self.last_caught_up_ms = max(self.last_caught_up_ms, now_ms)
        elif fetch_offset >= self.last_fetch_leader_leo:
            self.last_caught_up_ms = max(self.last_caught_up_ms, self.last_fetch_ms)
        self.log_end_offset = fetch_offset
        self.last_fetch_leader_leo = leader_leo
        self.last_fetch_ms = now_ms


def fresh_followers(replicas: Iterable[int], leader: int, now_ms: int) -> dict[int, FollowerState]:
    """A new leader assumes every follower was caught up just now (as Kafka does on becoming leader)."""
    return {b: FollowerState(last_caught_up_ms=now_ms) for b in replicas if b != leader}


def isr_high_watermark(
    leader: int, leader_leo: int, isr: Iterable[int], followers: Mapping[int, FollowerState]
) -> int:
    """Minimum log end offset over the ISR; -1 when a member's progress is not known yet."""
    low = leader_leo
    for broker in isr:
        if broker == leader:
            continue
        state = followers.get(broker)
        if state is None or state.log_end_offset < 0:
            return -1
        low = min(low, state.log_end_offset)
    return low


def lagging_members(
    leader: int,
    isr: Iterable[int],
    followers: Mapping[int, FollowerState],
    now_ms: int,
    max_lag_ms: int,
) -> set[int]:
    out = set()
    for broker in isr:
        if broker == leader:
            continue
        state = followers.get(broker)
        if state is None or now_ms - state.last_caught_up_ms > max_lag_ms:
            out.add(broker)
    return out


def may_join(state: FollowerState, high_watermark: int, epoch_start_offset: int) -> bool:
    return state.log_end_offset >= max(high_watermark, epoch_start_offset)
