"""The DSL side of joins: builds the nodes and stores of `KStream.join/left_join/outer_join` and
`KTable.join/left_join/outer_join` with Kafka Streams' node and store names.

Invariants: a table read by a join is materialized (a source table's pending store is added; a
derived, unmaterialized table gets a generated store, as a value getter would read the same state);
stream-stream window stores keep duplicates and are not cached; a stream that needs repartitioning is
repartitioned before it is joined.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from riverlog.streams.errors import TopologyException
from riverlog.streams.join_options import Joined, JoinWindows, StreamJoined, TableJoined
from riverlog.streams.options import Materialized, Named
from riverlog.streams.processors.join import (
    KStreamJoinWindow,
    KStreamKStreamJoin,
    KStreamKTableJoin,
    KTableKTableJoin,
    KTableKTableJoinMerger,
    SharedTimeTrackers,
    joiner_with_key,
    reverse,
)
from riverlog.streams.processors.table import TableSupplier
from riverlog.streams.serdes import Serdes
from riverlog.streams.topology import ProcessorSpec, StoreSpec

if TYPE_CHECKING:
    from riverlog.streams.builder import GlobalKTable
    from riverlog.streams.kstream import KStream
    from riverlog.streams.ktable import KTable


def _named(named: Named | str | None) -> str | None:
    return named.name if isinstance(named, Named) else named


def materialize(table: KTable) -> str:
    """The store holding `table`'s current values, created if the table has none yet."""
    if table.store_name is not None:
        return table.store_name
    b = table.builder
    if table.pending_store is not None and isinstance(table.supplier, TableSupplier):
        b.topology.add_state_store(table.pending_store, table.name)
        table.supplier.store_name = table.pending_store.name
        table.store_name = table.pending_store.name
        table.pending_store = None
        return table.store_name
    if isinstance(table.supplier, TableSupplier):
        name = b.new_store_name("KTABLE-")
        spec = b.kv_store_spec(name, Materialized(), table.key_serde, table.value_serde)
        b.topology.add_state_store(spec, table.name)
        table.supplier.store_name = name
        table.store_name = name
        return name
    raise TopologyException(
        f"KTable {table.name} cannot be joined: materialize it first (Materialized.as_(...))"
    )


def _maybe_repartition(stream: KStream, suffix: str) -> tuple[str, Any, Any]:
    if not stream.repartition_required:
        return stream.name, stream.key_serde, stream.value_serde
    b = stream.builder
    source = b.repartition(
        stream.name, f"{stream.name}-{suffix}", stream.key_serde, stream.value_serde
    )
    return source, stream.key_serde, stream.value_serde


def stream_table_join(
    stream: KStream,
    table: KTable,
    joiner: Callable[..., Any],
    joined: Joined | None,
    left: bool,
) -> KStream:
    from riverlog.streams.kstream import KStream

    j = joined or Joined()
    b = stream.builder
    store = materialize(table)
    parent, ks, _vs = _maybe_repartition(stream, "repartition" if j.name is None else j.name)
    name = b.name_or(j.name, "KSTREAM-LEFTJOIN-" if left else "KSTREAM-JOIN-")
    fn = joiner_with_key(joiner)
    b.topology.add_processor(
        ProcessorSpec(name, lambda: KStreamKTableJoin(store, fn, left), [parent])
    )
    b.topology.connect_processor_and_state_stores(name, store)
    b.topology.add_copartition_group(parent, table.name)
    return KStream(b, name, j.key_serde or ks, None, False)


def stream_stream_join(
    this: KStream,
    other: KStream,
    joiner: Callable[..., Any],
    windows: JoinWindows,
    stream_joined: StreamJoined | None,
    left_outer: bool,
    right_outer: bool,
) -> KStream:
    from riverlog.streams.kstream import KStream

    sj = stream_joined or StreamJoined()
    b = this.builder
    this_parent, ks, vs = _maybe_repartition(this, "left-repartition")
    other_parent, oks, ovs = _maybe_repartition(other, "right-repartition")
    ks = sj.key_serde or ks or oks
    vs = sj.value_serde or vs
    ovs = sj.other_value_serde or ovs
    n = sj.name
    this_win = b.name_or(None if n is None else f"{n}-this-windowed", "KSTREAM-WINDOWED-")
    other_win = b.name_or(None if n is None else f"{n}-other-windowed", "KSTREAM-WINDOWED-")
    this_prefix = "KSTREAM-OUTERTHIS-" if right_outer else "KSTREAM-JOINTHIS-"
    other_prefix = "KSTREAM-OUTEROTHER-" if left_outer else "KSTREAM-JOINOTHER-"
    this_join = b.name_or(
        None if n is None else f"{n}-{'outer-this' if right_outer else 'this'}-join", this_prefix
    )
    other_join = b.name_or(
        None if n is None else f"{n}-{'outer-other' if left_outer else 'other'}-join",
        other_prefix,
    )
    merge = b.name_or(None if n is None else f"{n}-merge", "KSTREAM-MERGE-")
    if sj.store_name is not None:
        this_store = f"{sj.store_name}-this-join-store"
        other_store = f"{sj.store_name}-other-join-store"
        outer_store = f"{sj.store_name}-outer-shared-join-store"
    else:
        this_store, other_store = f"{this_join}-store", f"{other_join}-store"
        outer_store = this_join.replace(this_prefix, "KSTREAM-OUTERSHARED-", 1) + "-store"
    retention, size = windows.retention_ms(), windows.size()

    def wstore(name: str, vserde: Any) -> StoreSpec:
        return StoreSpec(
            name,
            "window",
            ks,
            vserde,
            None,
            sj.logging_enabled,
            dict(sj.topic_config),
            False,
            retention,
            size,
            True,
        )

    t = b.topology
    t.add_processor(ProcessorSpec(this_win, lambda: KStreamJoinWindow(this_store), [this_parent]))
    t.add_state_store(wstore(this_store, vs), this_win)
    t.add_processor(
        ProcessorSpec(other_win, lambda: KStreamJoinWindow(other_store), [other_parent])
    )
    t.add_state_store(wstore(other_store, ovs), other_win)
    shared: str | None = None
    if left_outer:
        shared = outer_store
    fn = joiner_with_key(joiner)
    trackers = SharedTimeTrackers()
    w = windows
    t.add_processor(
        ProcessorSpec(
            this_join,
            lambda: KStreamKStreamJoin(
                True,
                this_store,
                other_store,
                shared,
                w.before_ms,
                w.after_ms,
                w.grace_ms,
                fn,
                left_outer,
                trackers,
            ),
            [this_win],
        )
    )
    t.add_processor(
        ProcessorSpec(
            other_join,
            lambda: KStreamKStreamJoin(
                False,
                other_store,
                this_store,
                shared,
                w.before_ms,
                w.after_ms,
                w.grace_ms,
                fn,
                right_outer,
                trackers,
            ),
            [other_win],
        )
    )
    t.connect_processor_and_state_stores(this_join, this_store, other_store)
    t.connect_processor_and_state_stores(other_join, this_store, other_store)
    if shared is not None:
        raw = Serdes.ByteArray()  # the processors write raw bytes (Kafka's key/value layout)
        spec = StoreSpec(
            shared, "kv", raw, raw, None, sj.logging_enabled, dict(sj.topic_config), False
        )
        t.add_state_store(spec, this_join, other_join)
    from riverlog.streams.processors.stateless import PassThrough

    t.add_processor(ProcessorSpec(merge, PassThrough, [this_join, other_join]))
    t.add_copartition_group(this_parent, other_parent)
    return KStream(b, merge, ks, None, False)


def table_table_join(
    this: KTable,
    other: KTable,
    joiner: Callable[..., Any],
    named: Named | str | None,
    materialized: Materialized | None,
    left_outer: bool,
    right_outer: bool,
) -> KTable:
    from riverlog.streams.ktable import KTable

    b = this.builder
    given = _named(named)
    merge = b.name_or(given, "KTABLE-MERGE-")
    if left_outer:
        this.enable_sending_old_values()
    if right_outer:
        other.enable_sending_old_values()
    this_store = materialize(this)
    other_store = materialize(other)
    if not left_outer:
        kinds = ("inner", "inner")
    elif not right_outer:
        kinds = ("left", "right")
    else:
        kinds = ("outer", "outer")
    this_name = b.name_or(None if given is None else f"{given}-join-this", "KTABLE-JOINTHIS-")
    other_name = b.name_or(None if given is None else f"{given}-join-other", "KTABLE-JOINOTHER-")
    store: StoreSpec | None = None
    ks, vs = this.key_serde, None
    if materialized is not None:
        ks = materialized.key_serde or ks
        vs = materialized.value_serde
        if materialized.store_name is not None:
            store = b.kv_store_spec(materialized.store_name, materialized, ks, vs)
        else:
            store = b.kv_store_spec(b.new_store_name("KTABLE-MERGE-"), materialized, ks, vs)
    supplier = TableSupplier(KTableKTableJoinMerger, None if store is None else store.name)
    fn = joiner_with_key(joiner)
    t = b.topology
    t.add_processor(
        ProcessorSpec(
            this_name, lambda: KTableKTableJoin(kinds[0], other_store, fn, supplier), [this.name]
        )
    )
    t.add_processor(
        ProcessorSpec(
            other_name,
            lambda: KTableKTableJoin(kinds[1], this_store, reverse(fn), supplier),
            [other.name],
        )
    )
    t.connect_processor_and_state_stores(this_name, other_store)
    t.connect_processor_and_state_stores(other_name, this_store)
    t.add_processor(ProcessorSpec(merge, supplier, [this_name, other_name]))
    t.add_copartition_group(this.name, other.name)
    if store is not None:
        t.add_state_store(store, merge)
    result = KTable(b, merge, ks, vs, supplier, this, None if store is None else store.name)
    result.extra_parents.append(other)
    return result


def stream_global_join(
    stream: KStream,
    table: GlobalKTable,
    key_selector: Callable[[Any, Any], Any],
    joiner: Callable[..., Any],
    named: str | None,
    left: bool,
) -> KStream:
    """KStream-GlobalKTable join: the key selector maps each stream record to the table's key."""
    from riverlog.streams.kstream import KStream

    b = stream.builder
    name = b.name_or(named, "KSTREAM-LEFTJOIN-" if left else "KSTREAM-JOIN-")
    fn = joiner_with_key(joiner)
    store = table.store_name
    b.topology.add_processor(
        ProcessorSpec(name, lambda: KStreamKTableJoin(store, fn, left, key_selector), [stream.name])
    )
    return KStream(b, name, stream.key_serde, None, stream.repartition_required)


def _fk_name(b: Any, base: str | None, suffix: str, prefix: str) -> str:
    """Kafka's `NamedInternal.suffixWithOrElseGet`: the index is burned even for a given name."""
    generated = b.new_processor_name(prefix)
    if base is None:
        return str(generated)
    name = f"{base}{suffix}"
    b.name_or(name, prefix)  # validates the name
    return name


def foreign_key_join(
    this: KTable,
    other: KTable,
    extractor: Callable[[Any], Any],
    joiner: Callable[[Any, Any], Any],
    table_joined: TableJoined | None,
    materialized: Materialized | None,
    left: bool,
) -> KTable:
    """`this.join(other, fk_extractor, joiner)`: Kafka 3.x's nodes, names, stores and topics, in
    Kafka's order (`KTableImpl.doJoinOnForeignKey`), so generated names and indexes match."""
    from riverlog.streams.ktable import KTable
    from riverlog.streams.processors import fk_join as fk
    from riverlog.streams.topology import SinkSpec, SourceSpec

    b = this.builder
    t = b.topology
    tj = table_joined or TableJoined()
    raw = Serdes.ByteArray()
    routed = fk.RoutedSerde()
    other.enable_sending_old_values()
    this.enable_sending_old_values()  # a changed foreign key must unsubscribe the old one
    left_store = materialize(this)
    right_store = materialize(other)
    base = tj.name
    prefix = "KTABLE-FK-JOIN-"
    sub_topic = _fk_name(
        b, base, "-subscription-registration", prefix + "SUBSCRIPTION-REGISTRATION-"
    )
    sub_topic += "-topic"
    send = _fk_name(
        b, base, "-subscription-registration-processor", prefix + "SUBSCRIPTION-REGISTRATION-"
    )
    sub_sink = _fk_name(b, base, "-subscription-registration-sink", "KTABLE-SINK-")
    sub_source = _fk_name(b, base, "-subscription-registration-source", "KTABLE-SOURCE-")
    sub_store = _fk_name(b, base, "-subscription-store", prefix + "SUBSCRIPTION-STATE-STORE-")
    receive = _fk_name(b, base, "-subscription-receive", prefix + "SUBSCRIPTION-PROCESSOR-")
    join_foreign = _fk_name(
        b, base, "-subscription-join-foreign", prefix + "SUBSCRIPTION-PROCESSOR-"
    )
    foreign = _fk_name(b, base, "-foreign-join-subscription", prefix + "SUBSCRIPTION-PROCESSOR-")
    resp_topic = _fk_name(b, base, "-subscription-response", prefix + "SUBSCRIPTION-RESPONSE-")
    resp_topic += "-topic"
    resp_sink = _fk_name(b, base, "-subscription-response-sink", "KTABLE-SINK-")
    resp_source = _fk_name(b, base, "-subscription-response-source", "KTABLE-SOURCE-")
    resolver = _fk_name(
        b,
        base,
        "-subscription-response-resolver",
        prefix + "SUBSCRIPTION-RESPONSE-RESOLVER-PROCESSOR-",
    )
    out = _fk_name(b, base, "-result", prefix + "OUTPUT-")
    m = materialized or Materialized()
    queryable = m.store_name is not None
    out_store_name = m.store_name or b.new_store_name(prefix + "OUTPUT-")
    pk = fk.SerdeRef(this.key_serde, True)
    fks = fk.SerdeRef(other.key_serde, True)
    lv = fk.SerdeRef(this.value_serde, False)
    rv = fk.SerdeRef(other.value_serde, False)
    topics = (sub_topic, resp_topic)
    # 1. left updates -> subscriptions, keyed by foreign key, co-partitioned with the right table
    t.add_processor(
        ProcessorSpec(
            send, lambda: fk.SubscriptionSend(extractor, left, pk, fks, lv, *topics), [this.name]
        )
    )
    sub_part = fk.subscription_partitioner(tj.other_partitioner)
    t.add_sink(SinkSpec(sub_sink, sub_topic, None, raw, routed, sub_part, [send]))
    t.add_repartition_topic(sub_topic, None)
    t.add_source(SourceSpec(sub_source, [sub_topic], raw, raw))
    # 2. stored under CombinedKey(fk, pk); 3. answered with the right table's value
    t.add_processor(
        ProcessorSpec(
            receive, lambda: fk.SubscriptionReceive(sub_store, fks, *topics), [sub_source]
        )
    )
    t.add_state_store(StoreSpec(sub_store, "kv", raw, raw, None, True, {}, False), receive)
    t.add_processor(
        ProcessorSpec(
            join_foreign,
            lambda: fk.SubscriptionJoin(right_store, pk, rv, *topics),
            [receive],
        )
    )
    t.connect_processor_and_state_stores(join_foreign, right_store)
    # 4. right updates -> a response to each stored subscription of their key
    t.add_processor(
        ProcessorSpec(
            foreign,
            lambda: fk.ForeignTableJoin(sub_store, fks, pk, rv, *topics),
            [other.name],
        )
    )
    t.connect_processor_and_state_stores(foreign, sub_store)
    resp_part = fk.response_partitioner(tj.partitioner)
    t.add_sink(
        SinkSpec(resp_sink, resp_topic, None, raw, routed, resp_part, [join_foreign, foreign])
    )
    t.add_repartition_topic(resp_topic, None)
    t.add_source(SourceSpec(resp_source, [resp_topic], raw, raw))
    # 5. responses -> results, if the left row still has the value that was hashed
    fn = joiner_with_key(joiner)
    t.add_processor(
        ProcessorSpec(
            resolver,
            lambda: fk.ResponseJoin(
                left_store, lambda a, c: fn(None, a, c), left, pk, lv, rv, *topics
            ),
            [resp_source],
        )
    )
    t.connect_processor_and_state_stores(resolver, left_store)
    ks = m.key_serde or this.key_serde
    vs = m.value_serde
    store = b.kv_store_spec(out_store_name, m, ks, vs)
    supplier = TableSupplier(KTableKTableJoinMerger, out_store_name if queryable else None)
    t.add_processor(ProcessorSpec(out, supplier, [resolver]))
    if queryable:
        t.add_state_store(store, out)
    t.add_copartition_group(sub_source, other.name)
    t.add_copartition_group(resp_source, this.name)
    result = KTable(b, out, ks, vs, supplier, None, out_store_name if queryable else None)
    result.pending_store = None if queryable else store
    return result
