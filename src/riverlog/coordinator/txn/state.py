"""Transaction metadata and the states a transactional id moves through (Kafka's TransactionState).

Format: one `TransactionMetadata` per transactional id, the in-memory image of its latest
`__transaction_state` record. The state codes are the ones Kafka stores in that record.

Invariants:
- Transitions follow Kafka: Empty/CompleteCommit/CompleteAbort -> Ongoing (first partition added),
  Ongoing -> PrepareCommit/PrepareAbort (EndTxn or timeout), PrepareCommit -> CompleteCommit,
  PrepareAbort -> CompleteAbort (after every marker is written); Empty/Complete* -> Empty on a new
  InitProducerId (epoch bump). `partitions` is empty outside Ongoing/Prepare*.
- The producer epoch only grows for a producer id; when it would reach `MAX_EPOCH` a new producer id
  with epoch 0 takes over (Kafka's epoch exhaustion).

Crash behaviour: pure in-memory state, rebuilt by replaying the records.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace

MAX_EPOCH = 32767 - 1  # Short.MaxValue - 1: the last epoch a producer id may use
NO_PRODUCER_ID = -1
NO_EPOCH = -1


class TxnState(enum.IntEnum):
    """Kafka's TransactionState, with the byte it is stored as."""

    EMPTY = 0
    ONGOING = 1
    PREPARE_COMMIT = 2
    PREPARE_ABORT = 3
    COMPLETE_COMMIT = 4
    COMPLETE_ABORT = 5
    DEAD = 6
    PREPARE_EPOCH_FENCE = 7

    @property
    def kafka_name(self) -> str:
        """The name Kafka's tools show (TransactionState.stateName): PrepareCommit, …"""
        return "".join(part.capitalize() for part in self.name.split("_"))

    @classmethod
    def from_kafka_name(cls, name: str) -> TxnState | None:
        return next((state for state in cls if state.kafka_name == name), None)

    @property
    def is_complete(self) -> bool:
        return self in (TxnState.EMPTY, TxnState.COMPLETE_COMMIT, TxnState.COMPLETE_ABORT)

    @property
    def is_prepare(self) -> bool:
        return self in (TxnState.PREPARE_COMMIT, TxnState.PREPARE_ABORT)


VALID_PREVIOUS: dict[TxnState, frozenset[TxnState]] = {
    TxnState.EMPTY: frozenset({TxnState.EMPTY, TxnState.COMPLETE_COMMIT, TxnState.COMPLETE_ABORT}),
    TxnState.ONGOING: frozenset(
        {TxnState.ONGOING, TxnState.EMPTY, TxnState.COMPLETE_COMMIT, TxnState.COMPLETE_ABORT}
    ),
    TxnState.PREPARE_COMMIT: frozenset({TxnState.ONGOING}),
    TxnState.PREPARE_ABORT: frozenset({TxnState.ONGOING, TxnState.PREPARE_EPOCH_FENCE}),
    TxnState.COMPLETE_COMMIT: frozenset({TxnState.PREPARE_COMMIT}),
    TxnState.COMPLETE_ABORT: frozenset({TxnState.PREPARE_ABORT}),
    TxnState.DEAD: frozenset({TxnState.EMPTY, TxnState.COMPLETE_COMMIT, TxnState.COMPLETE_ABORT}),
    TxnState.PREPARE_EPOCH_FENCE: frozenset({TxnState.ONGOING}),
}


class IllegalTransitionError(Exception):
    """A transition Kafka's state machine forbids (a bug in the caller)."""


@dataclass(frozen=True, slots=True)
class TransactionMetadata:
    """Everything `__transaction_state` stores for one transactional id."""

    transactional_id: str
    producer_id: int
    producer_epoch: int
    timeout_ms: int
    state: TxnState = TxnState.EMPTY
    partitions: frozenset[tuple[str, int]] = field(default_factory=frozenset)
    start_ms: int = -1
    last_update_ms: int = -1

    def transition(
        self,
        state: TxnState,
        now_ms: int,
        *,
        partitions: frozenset[tuple[str, int]] | None = None,
        producer_id: int | None = None,
        producer_epoch: int | None = None,
        timeout_ms: int | None = None,
    ) -> TransactionMetadata:
        """The metadata after moving to `state` (IllegalTransitionError if Kafka forbids it)."""
        if self.state not in VALID_PREVIOUS[state]:
            raise IllegalTransitionError(
                f"{self.transactional_id}: {self.state.name} -> {state.name}"
            )
        if partitions is None:
            partitions = (
                self.partitions if state is TxnState.ONGOING or state.is_prepare else frozenset()
            )
        start = self.start_ms
        if state is TxnState.ONGOING and self.state is not TxnState.ONGOING:
            start = now_ms
        return replace(
            self,
            state=state,
            partitions=partitions,
            producer_id=self.producer_id if producer_id is None else producer_id,
            producer_epoch=self.producer_epoch if producer_epoch is None else producer_epoch,
            timeout_ms=self.timeout_ms if timeout_ms is None else timeout_ms,
            start_ms=start,
            last_update_ms=now_ms,
        )

    def expired(self, now_ms: int) -> bool:
        """An ongoing transaction open longer than its timeout (Kafka aborts it proactively)."""
        return self.state is TxnState.ONGOING and self.start_ms + self.timeout_ms < now_ms
