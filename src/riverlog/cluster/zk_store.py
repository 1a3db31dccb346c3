"""Cluster metadata kept in ZooKeeper (Kafka's classic layout, see `riverlog.metadata.zk_format`).

How the image is kept current: every read of a znode sets a one-shot ZooKeeper watch; a watch firing
marks its znode in the cache (`riverlog.cluster.zk_cache`) and schedules one refresh, which re-reads
only the marked znodes (pipelined; everything after a new session) and applies the new `ClusterImage`
on the event loop. Reads are numbered; an older read never replaces a newer one,
and a read that fails (connection loss) leaves the image as it was — a topic never "disappears" because
ZooKeeper was unreachable.

Writes (`commit`) translate the broker's metadata records into znode writes: topic creation is one
ZooKeeper transaction (assignment, every partition state, configs); partition state and configs change by
compare-and-set on the znode version. After a write the image is re-read before `commit` returns, so an
admin request answers with the change in place.

Session loss: when the session expires — or the connection stays suspended for a whole session timeout —
this broker is fenced: its image shows it leading nothing, so it stops taking writes as a leader. On a new
session it registers again and reads the image afresh.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from types import MappingProxyType
from typing import Any

from kazoo.client import KazooClient, KazooState
from kazoo.exceptions import BadVersionError, KazooException, NodeExistsError, NoNodeError

from riverlog.broker.metadata_store import MetadataUnavailableError, TopicExistsError
from riverlog.cluster.zk_cache import ZnodeCache
from riverlog.cluster.zk_changes import ChangePurger
from riverlog.metadata import zk_format as zf
from riverlog.metadata.image import (
    BROKER_RESOURCE,
    AclRecord,
    ClientQuotaRecord,
    ClusterImage,
    ConfigRecord,
    MetadataRecord,
    PartitionRecord,
    ProducerIdsRecord,
    RegisterBrokerRecord,
    RemoveTopicRecord,
    TopicRecord,
    UserScramCredentialRecord,
)
from riverlog.metadata.reassignment import Assignment
from riverlog.security.quota import stored_text

log = logging.getLogger(__name__)
PartitionChange = tuple[
    str, int, zf.LeaderAndIsr, int
]  # topic, partition, new state, expected version
REFRESH_RETRY_S = 0.5
REGISTER_RETRY_S = 0.5


class ZooKeeperUnavailable(ConnectionError):
    """The ensemble did not answer at start-up (a one-line error for the CLI: an OSError)."""


class ZkCommitError(RuntimeError):
    """A metadata change that ZooKeeper refused (a concurrent change won the race)."""


def _now_ms() -> int:
    return int(time.time() * 1000)


class ZkMetadataStore:
    # Kafka's ZooKeeper brokers had no group configs; there is no znode for them.
    keeps_group_configs = False

    def __init__(
        self,
        connect: str,
        broker_id: int,
        session_timeout_ms: int,
        connection_timeout_ms: int | None = None,
    ) -> None:
        self.broker_id = broker_id
        self.session_timeout_s = session_timeout_ms / 1000
        # Kafka: zookeeper.connection.timeout.ms defaults to the session timeout.
        self.connection_timeout_s = (connection_timeout_ms or session_timeout_ms) / 1000
        self.connect = connect
        self.zk = KazooClient(hosts=connect, timeout=self.session_timeout_s)
        self.on_commit: list[Callable[[ClusterImage], None]] = []
        self.on_session: list[Callable[[bool], None]] = []
        self._image = ClusterImage(cluster_id="")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._read_seq = 0
        self._applied_seq = 0
        self._seq_lock = threading.Lock()
        self._refresh_pending = False
        self._registration: zf.BrokerRegistration | None = None
        self.cache = ZnodeCache(self.zk, self._watch)
        self.fenced = False
        self._suspend_timer: asyncio.TimerHandle | None = None
        self._closed = False

    # --- life cycle ---

    def start(self, loop: asyncio.AbstractEventLoop, cluster_id: str) -> str:
        """Connect (blocking), create the layout and the cluster id if absent, read the image."""
        self._loop = loop
        try:
            self._ensure_chroot()
            self.zk.start(timeout=self.connection_timeout_s)
        except (KazooException, self.zk.handler.timeout_exception) as exc:
            raise ZooKeeperUnavailable(
                f"cannot connect to ZooKeeper at {self.connect} within "
                f"{self.connection_timeout_s:g} s (zookeeper.connection.timeout.ms): {exc}"
            ) from None
        for path in zf.PERSISTENT_PATHS:
            self.zk.ensure_path(path)
        for path, data in (
            (zf.broker_config_path(), zf.encode_config({})),
            (zf.PRODUCER_ID_BLOCK, b""),
        ):
            try:
                self.zk.create(path, data, makepath=True)
            except NodeExistsError:
                pass
        try:
            self.zk.create(zf.CLUSTER_ID, zf.encode_cluster_id(cluster_id))
        except NodeExistsError:
            pass
        self.zk.add_listener(self._on_state)
        self._apply(*self._read())
        return self._image.cluster_id

    def _ensure_chroot(self) -> None:
        """Create the chroot of `host:port/chroot` first, as Kafka does for its own path."""
        hosts, slash, chroot = self.connect.partition("/")
        if not slash or not chroot.strip("/"):
            return
        root = KazooClient(hosts=hosts, timeout=self.session_timeout_s)
        root.start(timeout=self.connection_timeout_s)
        try:
            root.ensure_path("/" + chroot.strip("/"))
        finally:
            root.stop()
            root.close()

    def close(self) -> None:
        self._closed = True
        try:
            self.zk.stop()
            self.zk.close()
        except KazooException:
            log.debug("closing the ZooKeeper client", exc_info=True)

    @property
    def image(self) -> ClusterImage:
        return self._image

    # --- broker registration (ephemeral znode) ---

    def register_broker(self, reg: zf.BrokerRegistration) -> None:
        """Create /brokers/ids/<id>; waits out a previous session of ours that has not expired yet."""
        self._registration = reg
        deadline = time.monotonic() + self.session_timeout_s * 2 + 5
        path = zf.broker_path(reg.broker_id)
        while True:
            try:
                self.zk.create(path, zf.encode_broker(reg, _now_ms()), ephemeral=True)
                break
            except NodeExistsError:
                _, stat = self.zk.get(path)
                if stat.ephemeralOwner == self.zk.client_id[0]:
                    break
                if time.monotonic() > deadline:
                    raise ZkCommitError(
                        f"broker id {reg.broker_id} is registered by another live session"
                    ) from None
                time.sleep(REGISTER_RETRY_S)
        self.cache.mark(zf.BROKER_IDS)

    # --- reading the image ---

    def _watch(self, event: Any) -> None:
        path = getattr(event, "path", None)
        if path:
            self.cache.mark(path)
        else:
            self.cache.mark_all()
        if self._loop is not None and not self._closed:
            self._loop.call_soon_threadsafe(self.schedule_refresh)

    def schedule_refresh(self) -> None:
        if self._refresh_pending or self._closed:
            return
        self._refresh_pending = True
        asyncio.get_running_loop().create_task(self._refresh())

    async def _refresh(self) -> None:
        await asyncio.sleep(0)
        self._refresh_pending = False
        try:
            seq, image = await asyncio.to_thread(self._read)
        except KazooException as exc:
            if self._closed:
                return
            log.info("metadata read from ZooKeeper failed (%s); retrying", type(exc).__name__)
            await asyncio.sleep(REFRESH_RETRY_S)
            if not self._refresh_pending:
                self.schedule_refresh()
            return
        self._apply(seq, image)

    def refresh_now(self) -> ClusterImage:
        """Read the image synchronously (after our own writes); listeners see it before we return."""
        self._apply(*self._read())
        return self._image

    def _apply(self, seq: int, image: ClusterImage) -> None:
        if seq <= self._applied_seq:
            return
        self._applied_seq = seq
        if self.fenced:
            image = _without_leadership(image, self.broker_id)
        self._image = image
        for listener in self.on_commit:
            listener(image)

    def _read(self) -> tuple[int, ClusterImage]:
        """Re-read what changed (see zk_cache) and build the image; numbered for `_apply`."""
        with self.cache.lock:
            with self._seq_lock:
                self._read_seq += 1
                seq = self._read_seq
            self.cache.sync()
            return seq, self.cache.build_image()

    # --- session ---

    def _on_state(self, state: str) -> None:
        if self._loop is None or self._closed:
            return
        self._loop.call_soon_threadsafe(self._session_changed, state)

    def _session_changed(self, state: str) -> None:
        if state == KazooState.LOST:
            log.warning("ZooKeeper session expired: broker %d steps down as leader", self.broker_id)
            self._fence()
        elif state == KazooState.SUSPENDED:
            log.warning("ZooKeeper connection suspended")
            assert self._loop is not None
            self._suspend_timer = self._loop.call_later(self.session_timeout_s, self._fence)
        elif state == KazooState.CONNECTED:
            if self._suspend_timer is not None:
                self._suspend_timer.cancel()
                self._suspend_timer = None
            asyncio.get_running_loop().create_task(self._reconnected())

    def _fence(self) -> None:
        if self.fenced:
            return
        self.fenced = True
        self._image = _without_leadership(self._image, self.broker_id)
        for listener in self.on_commit:
            listener(self._image)
        for callback in self.on_session:
            callback(False)

    async def _reconnected(self) -> None:
        if not self.fenced:
            self.schedule_refresh()
            return
        log.info("ZooKeeper connection back: broker %d registers again", self.broker_id)
        try:
            if self._registration is not None:
                await asyncio.to_thread(self.register_broker, self._registration)
        except (KazooException, ZkCommitError):
            log.exception("registering again failed")
            return
        self.fenced = False
        self.cache.mark_all()  # the expired session's watches are gone
        self.schedule_refresh()
        for callback in self.on_session:
            callback(True)

    # --- writes ---

    def require_connection(self) -> None:
        """Refuse a write at once while ZooKeeper is away: kazoo's blocking calls would otherwise
        wait for the reconnection, holding the broker's event loop (every client) all that time."""
        if self.zk.state != KazooState.CONNECTED or self.fenced:
            raise MetadataUnavailableError(f"not connected to ZooKeeper ({self.zk.state})")

    def commit(self, records: Sequence[MetadataRecord]) -> ClusterImage:
        creating = {r.name: r for r in records if isinstance(r, TopicRecord)}
        self.require_connection()
        try:
            if creating:
                self._create_topics(creating, records)
            for record in records:
                self._write_record(record, creating)
            return self.refresh_now()
        except KazooException as exc:  # connection lost, session expired: the client retries
            raise MetadataUnavailableError(
                f"ZooKeeper did not take the change: {type(exc).__name__}"
            ) from exc

    def _write_record(self, record: MetadataRecord, creating: dict[str, TopicRecord]) -> None:
        match record:
            case ConfigRecord() if record.resource_type == BROKER_RESOURCE:
                self._update_config(zf.broker_config_path(), record.name, record.value)
            case ConfigRecord() if record.resource_name not in creating:
                self._update_config(
                    zf.topic_config_path(record.resource_name), record.name, record.value
                )
            case PartitionRecord() if self._topic_name(record.topic_id) not in creating:
                self._add_or_alter_partition(record)
            case RemoveTopicRecord(topic_id=raw_id):
                name = self._topic_name(raw_id)
                if name is not None:
                    self._delete_topic(name)
            case AclRecord():
                self._update_acl(record)
            case ClientQuotaRecord(entity=entity, key=key, value=value):
                path, entity_path = zf.quota_path(entity)
                self._update_config(path, key, None if value is None else stored_text(key, value))
                # The lists that name the znode, in case it is new (the watches come later).
                self.cache.mark(path.rpartition("/")[0], zf.USER_CONFIGS)
                self._notify_change(entity_path)
            case UserScramCredentialRecord(name=name, mechanism=mechanism, credential=credential):
                self._update_config(zf.user_config_path(name), mechanism, credential)
                self._notify_change(f"users/{name}")
            case ProducerIdsRecord() | RegisterBrokerRecord():
                raise ZkCommitError(f"{type(record).__name__} has its own call in ZooKeeper mode")

    def _topic_name(self, raw_id: str) -> str | None:
        return self._image.topics_by_id.get(uuid.UUID(raw_id))

    def _create_topics(
        self, creating: dict[str, TopicRecord], records: Sequence[MetadataRecord]
    ) -> None:
        live = set(self._image.brokers)
        for name, topic in creating.items():
            parts = [
                r
                for r in records
                if isinstance(r, PartitionRecord) and r.topic_id == topic.topic_id
            ]
            configs = {
                r.name: r.value
                for r in records
                if isinstance(r, ConfigRecord) and r.resource_name == name and r.value is not None
            }
            txn = self.zk.transaction()
            txn.create(
                zf.topic_path(name),
                zf.encode_topic(
                    uuid.UUID(topic.topic_id), {p.partition: p.replicas for p in parts}
                ),
            )
            txn.create(zf.partitions_path(name))
            for p in parts:
                txn.create(zf.partition_path(name, p.partition))
                txn.create(
                    zf.state_path(name, p.partition),
                    zf.encode_state(_initial_state(p.replicas, live)),
                )
            txn.create(zf.topic_config_path(name), zf.encode_config(configs))
            results = txn.commit()
            self.cache.mark(zf.TOPICS)
            if isinstance(results[0], NodeExistsError):
                raise TopicExistsError(f"Topic '{name}' already exists.")
            failed = [r for r in results if isinstance(r, Exception)]
            if failed:
                raise ZkCommitError(f"creating topic {name} failed: {failed[0]!r}")

    def _add_or_alter_partition(self, record: PartitionRecord) -> None:
        name = self._topic_name(record.topic_id)
        if name is None:
            return
        data, stat = self.zk.get(zf.topic_path(name))
        assignment = zf.decode_topic(name, data)
        if record.partition in assignment.partitions:
            return  # partition state belongs to the controller and leaders (alter_partition)
        partitions = dict(assignment.partitions)
        partitions[record.partition] = record.replicas
        topic_id = assignment.topic_id or uuid.UUID(record.topic_id)
        txn = self.zk.transaction()
        encoded = zf.encode_topic(topic_id, partitions, assignment.adding, assignment.removing)
        txn.set_data(zf.topic_path(name), encoded, stat.version)
        txn.create(zf.partition_path(name, record.partition))
        state = _initial_state(record.replicas, set(self._image.brokers))
        txn.create(zf.state_path(name, record.partition), zf.encode_state(state))
        failed = [r for r in txn.commit() if isinstance(r, Exception)]
        self.cache.mark(zf.topic_path(name))
        if failed:
            raise ZkCommitError(f"adding partition {name}-{record.partition} failed: {failed[0]!r}")

    def reassign(self, topic: str, changes: Mapping[int, Assignment]) -> None:
        """Write new replica sets (with KIP-455's adding/removing lists) for partitions of `topic`,
        by compare-and-set on the topic znode; raises ZkCommitError when the topic is gone and
        MetadataUnavailableError when ZooKeeper cannot be reached."""
        self.require_connection()
        try:
            self._reassign(topic, changes)
        except KazooException as exc:
            raise MetadataUnavailableError(
                f"ZooKeeper did not take the reassignment: {type(exc).__name__}"
            ) from exc

    def _reassign(self, topic: str, changes: Mapping[int, Assignment]) -> None:
        path = zf.topic_path(topic)
        while True:
            try:
                data, stat = self.zk.get(path)
            except NoNodeError:
                raise ZkCommitError(f"topic {topic} does not exist") from None
            old = zf.decode_topic(topic, data)
            partitions, adding, removing = (
                dict(old.partitions),
                dict(old.adding),
                dict(old.removing),
            )
            for p, change in changes.items():
                partitions[p] = change.replicas
                adding[p], removing[p] = change.adding, change.removing
            topic_id = old.topic_id or self._image.topics[topic].topic_id
            try:
                self.zk.set(
                    path, zf.encode_topic(topic_id, partitions, adding, removing), stat.version
                )
                self.cache.mark(path)
                return
            except BadVersionError:
                continue

    def _update_config(self, path: str, key: str, value: str | None) -> None:
        while True:
            try:
                data, stat = self.zk.get(path)
            except NoNodeError:
                self.zk.create(path, zf.encode_config({}), makepath=True)
                continue
            configs = zf.decode_config(path, data)
            if value is None:
                configs.pop(key, None)
            else:
                configs[key] = value
            try:
                self.zk.set(path, zf.encode_config(configs), stat.version)
                self.cache.mark(path)
                return
            except BadVersionError:
                continue

    def _update_acl(self, record: AclRecord) -> None:
        """Add or remove one entry of a resource pattern's ACL znode (compare-and-set), then
        post Kafka's change notification."""
        path = zf.acl_path(record.resource_type, record.pattern_type, record.resource_name)
        entry = (record.principal, record.host, record.operation, record.permission)
        while True:
            try:
                data, stat = self.zk.get(path)
            except NoNodeError:
                if record.removed:
                    return
                try:
                    self.zk.create(path, zf.encode_acls([entry]), makepath=True)
                    break
                except NodeExistsError:
                    continue
            entries = set(zf.decode_acls(path, data))
            if record.removed:
                entries.discard(entry)
            else:
                entries.add(entry)
            try:
                if entries:
                    self.zk.set(path, zf.encode_acls(sorted(entries)), stat.version)
                else:
                    self.zk.delete(path, stat.version)
                break
            except (BadVersionError, NoNodeError):
                continue
        self.cache.mark(path, path.rsplit("/", 1)[0])
        change_path, change = zf.encode_acl_change(
            record.resource_type, record.pattern_type, record.resource_name
        )
        self.zk.create(change_path, change, sequence=True, makepath=True)
        self._purger().after_write(change_path.rsplit("/", 1)[0])

    def _notify_change(self, entity_path: str) -> None:
        """Tell Kafka brokers sharing the ensemble (they watch /config/changes) to re-read it."""
        self.zk.create(
            f"{zf.CONFIG_CHANGES}/config_change_",
            zf.encode_config_change(entity_path),
            sequence=True,
            makepath=True,
        )
        self._purger().after_write(zf.CONFIG_CHANGES)

    def _purger(self) -> ChangePurger:
        """Old notifications go after 15 minutes, as Kafka's (riverlog.cluster.zk_changes)."""
        purger: ChangePurger | None = getattr(self, "_change_purger", None)
        if purger is None or purger.zk is not self.zk:
            purger = self._change_purger = ChangePurger(self.zk)
        return purger

    def _delete_topic(self, name: str) -> None:
        self.cache.mark(zf.TOPICS)
        for path in (zf.topic_path(name), zf.topic_config_path(name)):
            try:
                self.zk.delete(path, recursive=True)
            except NoNodeError:
                pass

    def allocate_producer_ids(self, count: int) -> int:
        self.require_connection()
        while True:
            data, stat = self.zk.get(zf.PRODUCER_ID_BLOCK)
            start = zf.decode_producer_id_block(data)
            block = zf.encode_producer_id_block(self.broker_id, start, start + count - 1)
            try:
                self.zk.set(zf.PRODUCER_ID_BLOCK, block, stat.version)
                self.cache.mark(zf.PRODUCER_ID_BLOCK)
                return start
            except BadVersionError:
                continue

    # --- partition state (controller and leaders) ---

    def alter_partitions_sync(self, changes: Sequence[PartitionChange]) -> list[int | None]:
        """Compare-and-set many state znodes, pipelined (ZooKeeper commits them as a group)."""
        pending = [
            self.zk.set_async(zf.state_path(t, p), zf.encode_state(state), version)
            for t, p, state, version in changes
        ]
        versions: list[int | None] = []
        for (topic, partition, _, _), result in zip(changes, pending, strict=True):
            try:
                versions.append(int(result.get().version))
            except (BadVersionError, NoNodeError):
                versions.append(None)
            # Re-read it either way: after a refused CAS the cached version is the stale one.
            self.cache.mark(zf.state_path(topic, partition))
        return versions

    async def alter_partitions(self, changes: Sequence[PartitionChange]) -> list[int | None]:
        if self.fenced or not changes:
            return [None] * len(changes)
        try:
            versions = await asyncio.to_thread(self.alter_partitions_sync, changes)
        except KazooException as exc:
            log.info("partition state writes failed: %s", type(exc).__name__)
            return [None] * len(changes)
        self.schedule_refresh()  # written or refused, the image must catch up with the znodes
        return versions

    async def alter_partition(
        self, topic: str, partition: int, state: zf.LeaderAndIsr, version: int
    ) -> int | None:
        return (await self.alter_partitions([(topic, partition, state, version)]))[0]


def _initial_state(replicas: Sequence[int], live: set[int]) -> zf.LeaderAndIsr:
    isr = tuple(r for r in replicas if r in live)
    return zf.LeaderAndIsr(isr[0] if isr else -1, 0, isr)


def _without_leadership(image: ClusterImage, broker_id: int) -> ClusterImage:
    topics = {}
    for name, topic in image.topics.items():
        parts = {
            p: (replace(s, leader=-1) if s.leader == broker_id else s)
            for p, s in topic.partitions.items()
        }
        topics[name] = replace(topic, partitions=MappingProxyType(parts))
    return replace(image, topics=MappingProxyType(topics))
