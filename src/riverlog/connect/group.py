"""Group membership for distributed workers: Kafka's classic group protocol with protocol type `connect`.

confluent-kafka (librdkafka) can only join groups of protocol type `consumer`, so this module speaks
the group protocol itself — FindCoordinator v2, JoinGroup v5, SyncGroup v3, Heartbeat v3, LeaveGroup v3
(non-flexible versions) — with kio's generated message types over a plain socket. Sub-protocols, with
Kafka Connect's bytes: `compatible` (incremental cooperative, ConnectProtocol V1: metadata
`{version 1, url, config_offset, allocation: nullable bytes}`, assignment `{version, error, leader,
leader_url, config_offset, assignment [{connector, tasks}], revoked [{connector, tasks}], delay int32}`)
and `default` (eager, V0: metadata `{version int16, url string, config_offset int64}`, assignment
`{version, error, leader, leader_url, config_offset, assignment}`); task id -1 stands for the connector,
so `kafka-consumer-groups`-style tools see a `connect` group.

Thread-safety: one `GroupMember` is driven by one thread (the herder's); `heartbeat` may be called from
that thread only. Every call opens nothing new unless the coordinator connection dropped.
"""

from __future__ import annotations

import io
import socket
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from kio.schema.errors import ErrorCode
from kio.schema.find_coordinator.v2.request import FindCoordinatorRequest
from kio.schema.find_coordinator.v2.response import FindCoordinatorResponse
from kio.schema.heartbeat.v3.request import HeartbeatRequest
from kio.schema.heartbeat.v3.response import HeartbeatResponse
from kio.schema.join_group.v5.request import JoinGroupRequest, JoinGroupRequestProtocol
from kio.schema.join_group.v5.response import JoinGroupResponse
from kio.schema.leave_group.v3.request import LeaveGroupRequest, MemberIdentity
from kio.schema.leave_group.v3.response import LeaveGroupResponse
from kio.schema.sync_group.v3.request import SyncGroupRequest, SyncGroupRequestAssignment
from kio.schema.sync_group.v3.response import SyncGroupResponse
from kio.schema.types import GroupId
from kio.serial import entity_reader, entity_writer
from kio.static.primitive import i8, i32, i32Timedelta

PROTOCOL_TYPE = "connect"
PROTOCOL_NAME = "default"  # Kafka Connect's eager protocol
COOPERATIVE_NAME = "compatible"  # incremental cooperative, ConnectProtocol V1 (KIP-415)


class GroupError(Exception):
    """The coordinator answered with an error code (`code`), or could not be reached."""

    def __init__(self, message: str, code: ErrorCode | None = None) -> None:
        super().__init__(message)
        self.code = code


# ---------------------------------------------------------------- ConnectProtocol V0 encodings


def _string(out: io.BytesIO, text: str) -> None:
    data = text.encode()
    out.write(struct.pack(">h", len(data)))
    out.write(data)


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def unpack(self, fmt: str) -> Any:
        value = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += struct.calcsize(fmt)
        return value[0]

    def string(self) -> str:
        n = self.unpack(">h")
        text = self.data[self.pos : self.pos + n].decode()
        self.pos += n
        return text


def encode_metadata(url: str, config_offset: int) -> bytes:
    out = io.BytesIO()
    out.write(struct.pack(">h", 0))
    _string(out, url)
    out.write(struct.pack(">q", config_offset))
    return out.getvalue()


def decode_metadata(data: bytes) -> tuple[str, int]:
    r = _Reader(data)
    r.unpack(">h")
    return r.string(), r.unpack(">q")


Work = tuple[
    str, int
]  # (connector, task); task -1 is the connector itself (Kafka's CONNECTOR_TASK)


def _write_work(out: io.BytesIO, work: list[Work] | None) -> None:
    if work is None:
        out.write(struct.pack(">i", -1))
        return
    by_connector: dict[str, list[int]] = {}
    for name, task in work:
        by_connector.setdefault(name, []).append(task)
    out.write(struct.pack(">i", len(by_connector)))
    for name, ids in by_connector.items():
        _string(out, name)
        out.write(struct.pack(">i", len(ids)))
        for t in sorted(ids):
            out.write(struct.pack(">i", t))


def _read_work(r: _Reader) -> list[Work]:
    out: list[Work] = []
    count = r.unpack(">i")
    for _ in range(max(count, 0)):
        name = r.string()
        for _ in range(r.unpack(">i")):
            out.append((name, r.unpack(">i")))
    return out


@dataclass
class CooperativeAssignment:
    """Kafka's ConnectProtocol Assignment V1: newly assigned and revoked work, and a delay (ms) after
    which members rejoin (work of a departed worker is held that long, `scheduled.rebalance.max.delay.ms`)."""

    error: int
    leader: str
    leader_url: str
    config_offset: int
    assigned: list[Work] = field(default_factory=list)
    revoked: list[Work] = field(default_factory=list)
    delay_ms: int = 0

    def encode(self) -> bytes:
        out = io.BytesIO()
        out.write(struct.pack(">hh", 1, self.error))
        _string(out, self.leader)
        _string(out, self.leader_url)
        out.write(struct.pack(">q", self.config_offset))
        _write_work(out, self.assigned)
        _write_work(out, self.revoked)
        out.write(struct.pack(">i", self.delay_ms))
        return out.getvalue()

    @classmethod
    def decode(cls, data: bytes) -> CooperativeAssignment:
        r = _Reader(data)
        r.unpack(">h")
        error = r.unpack(">h")
        leader, leader_url, offset = r.string(), r.string(), r.unpack(">q")
        assigned, revoked = _read_work(r), _read_work(r)
        return cls(error, leader, leader_url, offset, assigned, revoked, r.unpack(">i"))


def encode_metadata_v1(url: str, config_offset: int, owned: list[Work]) -> bytes:
    """Metadata V1: version 1, url, config offset, and the current allocation (an Assignment V1)."""
    out = io.BytesIO()
    out.write(struct.pack(">h", 1))
    _string(out, url)
    out.write(struct.pack(">q", config_offset))
    allocation = CooperativeAssignment(0, "", "", config_offset, owned).encode()
    out.write(struct.pack(">i", len(allocation)))
    out.write(allocation)
    return out.getvalue()


def decode_metadata_v1(data: bytes) -> tuple[str, int, list[Work]]:
    r = _Reader(data)
    version = r.unpack(">h")
    url, offset = r.string(), r.unpack(">q")
    if version < 1 or r.pos >= len(data):
        return url, offset, []
    size = r.unpack(">i")
    if size < 0:
        return url, offset, []
    allocation = CooperativeAssignment.decode(data[r.pos : r.pos + size])
    return url, offset, allocation.assigned


@dataclass
class Assignment:
    """What the leader gave this worker (Kafka's ConnectProtocol.Assignment V0)."""

    error: int
    leader: str
    leader_url: str
    config_offset: int
    connectors: list[str] = field(default_factory=list)
    tasks: list[tuple[str, int]] = field(default_factory=list)

    def encode(self) -> bytes:
        out = io.BytesIO()
        out.write(struct.pack(">hh", 0, self.error))
        _string(out, self.leader)
        _string(out, self.leader_url)
        out.write(struct.pack(">q", self.config_offset))
        by_connector: dict[str, list[int]] = {}
        for name in self.connectors:
            by_connector.setdefault(name, [])
        for name, task in self.tasks:
            by_connector.setdefault(name, []).append(task)
        out.write(struct.pack(">i", len(by_connector)))
        for name, task_ids in by_connector.items():
            _string(out, name)
            # Kafka lists the connector itself as task id -1 (CONNECTOR_TASK) when it is assigned here.
            ids = ([-1] if name in self.connectors else []) + sorted(task_ids)
            out.write(struct.pack(">i", len(ids)))
            for t in ids:
                out.write(struct.pack(">i", t))
        return out.getvalue()

    @classmethod
    def decode(cls, data: bytes) -> Assignment:
        r = _Reader(data)
        r.unpack(">h")
        error = r.unpack(">h")
        leader, leader_url, offset = r.string(), r.string(), r.unpack(">q")
        connectors: list[str] = []
        tasks: list[tuple[str, int]] = []
        for _ in range(r.unpack(">i")):
            name = r.string()
            for _ in range(r.unpack(">i")):
                t = r.unpack(">i")
                if t == -1:
                    connectors.append(name)
                else:
                    tasks.append((name, t))
        return cls(error, leader, leader_url, offset, connectors, tasks)


# ---------------------------------------------------------------- the wire


class _Connection:
    def __init__(self, host: str, port: int, client_id: str, timeout_s: float) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout_s)
        self.client_id = client_id.encode()
        self.correlation = 0

    def call(self, request: Any, response_type: type[Any], timeout_s: float | None = None) -> Any:
        self.correlation += 1
        schema = type(request)
        body = io.BytesIO()
        entity_writer(schema)(body, request)
        header = (
            struct.pack(
                ">hhih",
                schema.__api_key__,
                schema.__version__,
                self.correlation,
                len(self.client_id),
            )
            + self.client_id
        )
        payload = header + body.getvalue()
        if timeout_s is not None:
            self.sock.settimeout(timeout_s)
        self.sock.sendall(struct.pack(">i", len(payload)) + payload)
        size = struct.unpack(">i", self._read(4))[0]
        frame = self._read(size)
        value, _ = entity_reader(response_type)(frame, 4)  # response header v0: the correlation id
        return value

    def _read(self, count: int) -> bytes:
        data = bytearray()
        while len(data) < count:
            chunk = self.sock.recv(count - len(data))
            if not chunk:
                raise ConnectionError("coordinator closed the connection")
            data += chunk
        return bytes(data)

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


@dataclass
class JoinResult:
    generation: int
    member_id: str
    leader_id: str
    members: dict[str, tuple[str, int]]  # member id -> (url, config offset); only for the leader
    protocol: str = PROTOCOL_NAME
    owned: dict[str, list[Work]] = field(
        default_factory=dict
    )  # cooperative: member -> its allocation

    @property
    def is_leader(self) -> bool:
        return self.member_id == self.leader_id


class GroupMember:
    """One worker's membership in the Connect group."""

    def __init__(
        self,
        bootstrap: list[str],
        group_id: str,
        *,
        session_timeout_ms: int,
        rebalance_timeout_ms: int,
        client_id: str,
    ) -> None:
        self.bootstrap = bootstrap
        self.group_id = group_id
        self.session_timeout_ms = session_timeout_ms
        self.rebalance_timeout_ms = rebalance_timeout_ms
        self.client_id = client_id
        self.member_id = ""
        self.generation = -1
        self._conn: _Connection | None = None

    def _coordinator(self) -> _Connection:
        if self._conn is not None:
            return self._conn
        last: Exception | None = None
        for server in self.bootstrap:
            host, _, port = server.rpartition(":")
            try:
                probe = _Connection(host or "localhost", int(port), self.client_id, 10)
                try:
                    answer: FindCoordinatorResponse = probe.call(
                        FindCoordinatorRequest(key=self.group_id, key_type=i8(0)),
                        FindCoordinatorResponse,
                    )
                finally:
                    probe.close()
            except OSError as exc:
                last = exc
                continue
            if answer.error_code != ErrorCode.none:
                raise GroupError(f"FindCoordinator: {answer.error_code.name}", answer.error_code)
            self._conn = _Connection(answer.host, int(answer.port), self.client_id, 10)
            return self._conn
        raise GroupError(f"no broker reachable in {self.bootstrap}: {last}")

    def _call(self, request: Any, response_type: type[Any], timeout_s: float = 10) -> Any:
        try:
            return self._coordinator().call(request, response_type, timeout_s)
        except OSError as exc:
            self.reset_connection()
            raise GroupError(f"coordinator connection failed: {exc}") from None

    def reset_connection(self) -> None:
        if self._conn is not None:
            self._conn.close()
        self._conn = None

    def join(self, url: str, config_offset: int, owned: list[Work] | None = None) -> JoinResult:
        """JoinGroup until accepted (the first answer of a new member asks it to rejoin with its id)."""
        while True:
            request = JoinGroupRequest(
                group_id=GroupId(self.group_id),
                session_timeout=i32Timedelta.parse(timedelta(milliseconds=self.session_timeout_ms)),
                rebalance_timeout=i32Timedelta.parse(
                    timedelta(milliseconds=self.rebalance_timeout_ms)
                ),
                member_id=self.member_id,
                protocol_type=PROTOCOL_TYPE,
                protocols=(
                    (
                        JoinGroupRequestProtocol(
                            name=COOPERATIVE_NAME,
                            metadata=encode_metadata_v1(url, config_offset, owned),
                        ),
                    )
                    if owned is not None
                    else ()
                )
                + (
                    JoinGroupRequestProtocol(
                        name=PROTOCOL_NAME, metadata=encode_metadata(url, config_offset)
                    ),
                ),
            )
            answer: JoinGroupResponse = self._call(
                request, JoinGroupResponse, self.rebalance_timeout_ms / 1000 + 10
            )
            if answer.error_code == ErrorCode.member_id_required:
                self.member_id = answer.member_id
                continue
            if answer.error_code == ErrorCode.unknown_member_id:
                self.member_id = ""
                continue
            if answer.error_code in (
                ErrorCode.not_coordinator,
                ErrorCode.coordinator_not_available,
                ErrorCode.coordinator_load_in_progress,
            ):
                self.reset_connection()
                raise GroupError(f"JoinGroup: {answer.error_code.name}", answer.error_code)
            if answer.error_code != ErrorCode.none:
                raise GroupError(f"JoinGroup: {answer.error_code.name}", answer.error_code)
            self.member_id = answer.member_id
            self.generation = int(answer.generation_id)
            protocol = answer.protocol_name or PROTOCOL_NAME
            members: dict[str, tuple[str, int]] = {}
            owned_by: dict[str, list[Work]] = {}
            for m in answer.members:
                if protocol == COOPERATIVE_NAME:
                    m_url, m_offset, m_owned = decode_metadata_v1(m.metadata)
                    members[m.member_id] = (m_url, m_offset)
                    owned_by[m.member_id] = m_owned
                else:
                    members[m.member_id] = decode_metadata(m.metadata)
            return JoinResult(
                self.generation, self.member_id, answer.leader, members, protocol, owned_by
            )

    def sync(self, assignments: dict[str, Assignment]) -> Assignment:
        return Assignment.decode(self.sync_raw({m: a.encode() for m, a in assignments.items()}))

    def sync_cooperative(
        self, assignments: dict[str, CooperativeAssignment]
    ) -> CooperativeAssignment:
        return CooperativeAssignment.decode(
            self.sync_raw({m: a.encode() for m, a in assignments.items()})
        )

    def sync_raw(self, assignments: dict[str, bytes]) -> bytes:
        request = SyncGroupRequest(
            group_id=GroupId(self.group_id),
            generation_id=i32(self.generation),
            member_id=self.member_id,
            assignments=tuple(
                SyncGroupRequestAssignment(member_id=m, assignment=a)
                for m, a in assignments.items()
            ),
        )
        answer: SyncGroupResponse = self._call(
            request, SyncGroupResponse, self.rebalance_timeout_ms / 1000 + 10
        )
        if answer.error_code != ErrorCode.none:
            raise GroupError(f"SyncGroup: {answer.error_code.name}", answer.error_code)
        return bytes(answer.assignment)

    def heartbeat(self) -> ErrorCode:
        request = HeartbeatRequest(
            group_id=GroupId(self.group_id),
            generation_id=i32(self.generation),
            member_id=self.member_id,
        )
        answer: HeartbeatResponse = self._call(request, HeartbeatResponse)
        return answer.error_code  # type: ignore[no-any-return]

    def leave(self) -> None:
        if not self.member_id:
            return
        try:
            self._call(
                LeaveGroupRequest(
                    group_id=GroupId(self.group_id),
                    members=(MemberIdentity(member_id=self.member_id),),
                ),
                LeaveGroupResponse,
                5,
            )
        except GroupError:
            pass
        self.reset_connection()


def round_robin(
    members: list[str],
    connectors: list[str],
    tasks: list[tuple[str, int]],
    assign: Callable[[str], Assignment],
) -> dict[str, Assignment]:
    """Kafka's eager assignor: connectors, then tasks, dealt round-robin over members sorted by id."""
    ordered = sorted(members)
    out = {m: assign(m) for m in ordered}
    for i, name in enumerate(sorted(connectors)):
        out[ordered[i % len(ordered)]].connectors.append(name)
    for i, task in enumerate(sorted(tasks)):
        out[ordered[i % len(ordered)]].tasks.append(task)
    return out


@dataclass
class CooperativeAssignor:
    """The leader's incremental cooperative assignor (after Kafka's `IncrementalCooperativeAssignor`,
    simplified): work stays where it runs; work no longer configured or owned twice is revoked; new
    work goes to the least-loaded members; the work of a departed member is held for
    `scheduled.rebalance.max.delay.ms` (members rejoin when the delay ends), then dealt out. When
    nothing is held or revoked otherwise and some members run fewer connectors (or tasks) than the
    even share rounded down, as many pieces as they lack are revoked, one at a time from the most
    loaded member above that share; the revoked members rejoin at once and the next round deals that work to the least loaded (a worker
    that joins receives running work, as Kafka's load balancing does)."""

    max_delay_ms: int
    previous: set[Work] = field(default_factory=set)
    deadline: float | None = None
    held: set[Work] = field(default_factory=set)

    def assign(
        self, owned: dict[str, list[Work]], configured: list[Work], now: float
    ) -> tuple[dict[str, list[Work]], dict[str, list[Work]], int]:
        """(assigned, revoked) per member and the delay in ms to announce."""
        wanted = set(configured)
        revoked: dict[str, list[Work]] = {m: [] for m in owned}
        kept: dict[str, set[Work]] = {m: set() for m in owned}
        seen: set[Work] = set()
        for member in sorted(owned):
            for work in owned[member]:
                if work not in wanted or work in seen:
                    revoked[member].append(work)
                else:
                    kept[member].add(work)
                    seen.add(work)
        lost = (self.previous & wanted) - seen
        delay = 0
        if lost and self.max_delay_ms > 0:
            if self.deadline is None:
                self.deadline = now + self.max_delay_ms / 1000
            if now < self.deadline:
                delay = max(1, int((self.deadline - now) * 1000))
                self.held = lost
            else:
                self.deadline, self.held = None, set()
        else:
            self.deadline, self.held = None, set()
        assigned: dict[str, list[Work]] = {m: [] for m in owned}
        todo = sorted(wanted - seen - self.held)
        for work in todo:
            member = min(sorted(owned), key=lambda m: len(kept[m]) + len(assigned[m]))
            assigned[member].append(work)
        moved: set[Work] = set()
        if delay == 0 and not self.held and not any(revoked.values()) and len(owned) > 1:
            moved = self._balance(owned, kept, assigned, revoked)
        self.previous = (
            (seen | {w for ws in assigned.values() for w in ws} | self.held) & wanted
        ) - moved
        return assigned, revoked, delay

    @staticmethod
    def _balance(
        owned: dict[str, list[Work]],
        kept: dict[str, set[Work]],
        assigned: dict[str, list[Work]],
        revoked: dict[str, list[Work]],
    ) -> set[Work]:
        """Revoke running work from members above the even share (connectors and tasks each)."""
        moved: set[Work] = set()
        for connectors in (True, False):
            load = {
                m: sorted(w for w in kept[m] | set(assigned[m]) if (w[1] == -1) == connectors)
                for m in owned
            }
            floor = sum(len(ws) for ws in load.values()) // len(owned)
            needed = sum(max(0, floor - len(ws)) for ws in load.values())
            while needed > 0:
                # one piece at a time from the most loaded member still above the share
                member = max(sorted(owned), key=lambda m: len(load[m]))
                movable = [w for w in load[member] if w in kept[member]]
                if len(load[member]) <= floor or not movable:
                    break
                work = movable[-1]
                load[member].remove(work)
                revoked[member].append(work)
                kept[member].discard(work)
                moved.add(work)
                needed -= 1
        return moved
