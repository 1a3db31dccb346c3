"""The group coordinator: consumer groups and committed offsets, as pure state machines.

`GroupCoordinatorShard` (shard.py) owns the groups and offsets of one `__consumer_offsets` partition;
its operations return records to append plus a response, and its state changes when records are
replayed. No sockets, files, clocks or tasks: time comes in as `now` arguments and `tick(now)`.
- Classic protocol: `state.py` (the group state machine as data), `classic.py` (JoinGroup, SyncGroup,
  Heartbeat, LeaveGroup, their timeouts), `replay.py` (how GroupMetadata records change groups).
- KIP-848 consumer protocol: `consumer_group.py` (epochs, members, reconciliation), `consumer.py`
  (ConsumerGroupHeartbeat, fencing), `assignors.py` (server-side uniform and range assignors).
- Online migration (KIP-848, `group.consumer.migration.policy`): `migration.py` (classic group ->
  consumer group when a consumer-protocol member joins, and back when the last one leaves),
  `consumer_classic.py` (classic-protocol members inside consumer groups).
- `offsets.py`: OffsetCommit, OffsetFetch, OffsetDelete and expiry, for both kinds of group.
- `records.py`, `consumer_records.py`, `wire.py`: Kafka's on-disk key/value formats.
The broker's `group_runtime` does the I/O: appends, replays, timers, parked requests.
"""

from riverlog.coordinator.group.config import GroupConfig
from riverlog.coordinator.group.records import decode_record, encode_record
from riverlog.coordinator.group.shard import GroupCoordinatorShard, random_member_id
from riverlog.coordinator.group.state import GroupState

__all__ = [
    "GroupConfig",
    "GroupCoordinatorShard",
    "GroupState",
    "decode_record",
    "encode_record",
    "random_member_id",
]
