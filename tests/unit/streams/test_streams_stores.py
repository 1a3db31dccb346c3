"""State stores against simple models (hypothesis): key-value, window and session stores, in memory
and on RocksDB, with and without the record cache, random flushes included."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from riverlog.streams.records import RecordContext, Window, Windowed
from riverlog.streams.serdes import IntegerSerde, StringSerde
from riverlog.streams.state.bytes_map import InMemoryBytesMap, RocksBytesMap
from riverlog.streams.state.layered import LayeredBytesStore
from riverlog.streams.state.stores import (
    SessionStore,
    TimestampedKeyValueStore,
    TimestampedWindowStore,
)

CTX = RecordContext(0, [], "t", 0, 0)
keys = st.sampled_from(["", "a", "a\x00", "ab", "b", "ba", "c", "zz"])
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _layer(name: str, kind, persistent: bool, cache: int, logged: list) -> LayeredBytesStore:
    inner = RocksBytesMap(Path(tempfile.mkdtemp()) / name) if persistent else InMemoryBytesMap()
    return LayeredBytesStore(name, inner, kind.to_changelog, lambda *a: logged.append(a), cache)


kv_ops = st.lists(
    st.one_of(
        st.tuples(st.just("put"), keys, st.integers(0, 9)),
        st.tuples(st.just("delete"), keys, st.just(0)),
        st.tuples(st.just("flush"), st.just(""), st.just(0)),
    ),
    max_size=40,
)


@SETTINGS
@given(ops=kv_ops, persistent=st.booleans(), cache=st.sampled_from([0, 200, 1 << 20]))
def test_key_value_store_matches_a_dict(ops, persistent: bool, cache: int) -> None:
    logged: list = []
    store = TimestampedKeyValueStore(
        "kv",
        _layer("kv", TimestampedKeyValueStore, persistent, cache, logged),
        StringSerde(),
        IntegerSerde(),
        "t",
        lambda: CTX,
    )
    model: dict[str, int] = {}
    for op, k, v in ops:
        if op == "put":
            store.put(k, v, 7)
            model[k] = v
        elif op == "delete":
            assert store.delete(k) == model.pop(k, None)
        else:
            store.flush()
    assert [(kv.key, kv.value) for kv in store.all()] == sorted(
        model.items(), key=lambda kv: kv[0].encode()
    )
    assert [(kv.key, kv.value) for kv in store.reverse_all()] == sorted(
        model.items(), key=lambda kv: kv[0].encode(), reverse=True
    )
    for lo, hi in [("a", "b"), ("", "a\x00"), ("b", "zz")]:
        expect = [
            (k, v)
            for k, v in sorted(model.items(), key=lambda kv: kv[0].encode())
            if lo.encode() <= k.encode() <= hi.encode()
        ]
        assert [(kv.key, kv.value) for kv in store.range(lo, hi)] == expect
    for k in ["a", "b", "nope"]:
        assert store.get(k) == model.get(k)
    # the changelog replays to the same contents
    store.flush()
    replica = TimestampedKeyValueStore(
        "kv",
        _layer("kv2", TimestampedKeyValueStore, False, 0, []),
        StringSerde(),
        IntegerSerde(),
        "t",
        lambda: CTX,
    )
    for _name, ck, cv, ts in logged:
        replica.restore(ck, cv, ts)
    assert list(replica.all()) == list(store.all())


win_ops = st.lists(
    st.one_of(
        st.tuples(st.just("put"), keys, st.integers(0, 12), st.integers(0, 9)),
        st.tuples(st.just("flush"), st.just(""), st.just(0), st.just(0)),
    ),
    max_size=40,
)


@SETTINGS
@given(ops=win_ops, persistent=st.booleans(), cache=st.sampled_from([0, 1 << 20]))
def test_window_store_matches_a_model(ops, persistent: bool, cache: int) -> None:
    size, step = 50_000, 40_000  # windows spread over several 60 s segments
    store = TimestampedWindowStore(
        "w",
        _layer("w", TimestampedWindowStore, persistent, cache, []),
        StringSerde(),
        IntegerSerde(),
        "t",
        lambda: CTX,
        10**9,
        window_size_ms=size,
    )
    model: dict[tuple[str, int], int] = {}
    for op, k, slot, v in ops:
        if op == "put":
            store.put(k, v, slot * step, slot)
            model[(k, slot * step)] = v
        else:
            store.flush()
    for k in ["a", "a\x00", "b", "nope"]:
        expect = sorted(
            (s, v) for (kk, s), v in model.items() if kk == k and 40_000 <= s <= 400_000
        )
        assert [(kv.key, kv.value) for kv in store.fetch(k, 40_000, 400_000)] == expect
        assert [(kv.key, kv.value) for kv in store.backward_fetch(k, 40_000, 400_000)] == expect[
            ::-1
        ]
        for s in (0, 40_000):
            assert store.fetch(k, s) == model.get((k, s))
    got = sorted(
        (kv.key.key, kv.key.window.start, kv.key.window.end, kv.value)
        for kv in store.fetch_all(0, 10**6)
    )
    assert got == sorted((k, s, s + size, v) for (k, s), v in model.items())
    assert sorted(
        (kv.key.key, kv.key.window.start) for kv in store.fetch("a", "b", 0, 10**6)
    ) == sorted((k, s) for (k, s) in model if b"a" <= k.encode() <= b"b")


session_ops = st.lists(
    st.one_of(
        st.tuples(st.just("put"), keys, st.integers(0, 10), st.integers(0, 3), st.integers(1, 9)),
        st.tuples(st.just("remove"), keys, st.integers(0, 10), st.integers(0, 3), st.just(0)),
        st.tuples(st.just("flush"), st.just(""), st.just(0), st.just(0), st.just(0)),
    ),
    max_size=40,
)


@SETTINGS
@given(ops=session_ops, persistent=st.booleans(), cache=st.sampled_from([0, 1 << 20]))
def test_session_store_matches_a_model(ops, persistent: bool, cache: int) -> None:
    unit = 30_000
    store = SessionStore(
        "s",
        _layer("s", SessionStore, persistent, cache, []),
        StringSerde(),
        IntegerSerde(),
        "t",
        lambda: CTX,
        10**9,
    )
    model: dict[tuple[str, int, int], int] = {}
    for op, k, start_slot, length, v in ops:
        start, end = start_slot * unit, (start_slot + length) * unit
        if op == "put":
            store.put(Windowed(k, Window(start, end)), v)
            model[(k, start, end)] = v
        elif op == "remove":
            store.remove(Windowed(k, Window(start, end)))
            model.pop((k, start, end), None)
        else:
            store.flush()
    for k in ["a", "ab", "nope"]:
        for earliest_end, latest_start in [(0, 10**9), (3 * unit, 5 * unit), (9 * unit, 0)]:
            expect = sorted(
                ((e, s), v)
                for (kk, s, e), v in model.items()
                if kk == k and e >= earliest_end and s <= latest_start
            )
            got = [
                ((kv.key.window.end, kv.key.window.start), kv.value)
                for kv in store.find_sessions(k, earliest_end, latest_start)
            ]
            assert got == expect  # ordered by session end, then start
        assert [kv.value for kv in store.fetch(k)] == [
            v for _, v in sorted(((e, s), v) for (kk, s, e), v in model.items() if kk == k)
        ]
