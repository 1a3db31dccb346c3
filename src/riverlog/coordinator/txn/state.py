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
- Transactions V2 (KIP-890 part 2, `client_transaction_version` >= 2): every EndTxn bumps the epoch,
  and the markers carry the bumped epoch. If the epoch is exhausted, the bump goes to `MAX_EPOCH + 1`
  (Short.MaxValue, markers only) with `next_producer_id` chosen; completion then moves to that id at
  epoch 0, keeping the old one as `previous_producer_id` so a retried EndTxn is still recognised.

Crash behaviour: pure in-memory state, rebuilt by replaying the records.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace

MAX_EPOCH = 32767 - 1  # Short.MaxValue - 1: the last epoch a producer id may use
NO_PRODUCER_ID = -1
NO_EPOCH = -1
TV_2 = 2  # the `transaction.version` feature level of transactions V2 (KIP-890 part 2)


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
    # Transactions V2 (TransactionLogValue v1 tagged fields 0, 1 and 2).
    previous_producer_id: int = NO_PRODUCER_ID
    next_producer_id: int = NO_PRODUCER_ID
    client_transaction_version: int = 0

    @property
    def bumps_per_transaction(self) -> bool:
        """Whether the client ends transactions with an epoch bump (transactions V2)."""
        return self.client_transaction_version >= TV_2

    def transition(
        self,
        state: TxnState,
        now_ms: int,
        *,
        partitions: frozenset[tuple[str, int]] | None = None,
        producer_id: int | None = None,
        producer_epoch: int | None = None,
        timeout_ms: int | None = None,
        client_transaction_version: int | None = None,
        next_producer_id: int | None = None,
        previous_producer_id: int | None = None,
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
            client_transaction_version=(
                self.client_transaction_version
                if client_transaction_version is None
                else client_transaction_version
            ),
            next_producer_id=self.next_producer_id
            if next_producer_id is None
            else next_producer_id,
            previous_producer_id=(
                self.previous_producer_id if previous_producer_id is None else previous_producer_id
            ),
        )

    def expired(self, now_ms: int) -> bool:
        """An ongoing transaction open longer than its timeout (Kafka aborts it proactively)."""
        return self.state is TxnState.ONGOING and self.start_ms + self.timeout_ms < now_ms
