"""Byte layouts the runtime shares with Kafka Connect: ConnectProtocol V0 metadata/assignment, offset
keys, and the file source's line splitting."""

from __future__ import annotations

import struct

from riverlog.connect.file import _split_lines
from riverlog.connect.group import Assignment, decode_metadata, encode_metadata, round_robin
from riverlog.connect.offsets import key_bytes, value_bytes


def test_metadata_v0_layout() -> None:
    raw = encode_metadata("http://w1:8083", 42)
    assert raw == struct.pack(">hh", 0, 14) + b"http://w1:8083" + struct.pack(">q", 42)
    assert decode_metadata(raw) == ("http://w1:8083", 42)


def test_assignment_v0_round_trip_and_connector_marker() -> None:
    a = Assignment(0, "m-1", "http://w1:8083", 7, ["c1"], [("c1", 0), ("c2", 3)])
    raw = a.encode()
    assert raw.startswith(struct.pack(">hh", 0, 0) + struct.pack(">h", 3) + b"m-1")
    back = Assignment.decode(raw)
    assert back == a


def test_round_robin_deals_connectors_then_tasks() -> None:
    out = round_robin(
        ["b", "a"], ["x", "y", "z"], [("x", 0), ("x", 1)], lambda m: Assignment(0, "a", "u", 0)
    )
    assert out["a"].connectors == ["x", "z"] and out["b"].connectors == ["y"]
    assert out["a"].tasks == [("x", 0)] and out["b"].tasks == [("x", 1)]


def test_offset_key_and_value_bytes_are_kafkas() -> None:
    assert key_bytes("src", {"filename": "/tmp/a b.txt"}) == b'["src",{"filename":"/tmp/a b.txt"}]'
    assert value_bytes({"position": 12}) == b'{"position":12}'
    assert value_bytes(None) is None


def test_file_lines_split_on_lf_crlf_and_cr_and_wait_for_partial() -> None:
    lines, used = _split_lines(b"a\nb\r\nc\rd", 10)
    assert lines == [(b"a", 2), (b"b", 3), (b"c", 2)] and used == 7
    lines, used = _split_lines(b"x\r", 10)  # a CR at the end may be half of CRLF: wait
    assert lines == [] and used == 0
    lines, _ = _split_lines(b"1\n2\n3\n", 2)
    assert [line for line, _ in lines] == [b"1", b"2"]


def test_cooperative_assignment_v1_round_trip() -> None:
    from riverlog.connect.group import CooperativeAssignment, decode_metadata_v1, encode_metadata_v1

    a = CooperativeAssignment(
        0, "m-1", "http://w1:8083", 9, [("c", -1), ("c", 0)], [("d", 1)], 1500
    )
    assert CooperativeAssignment.decode(a.encode()) == a
    assert decode_metadata_v1(encode_metadata_v1("http://w2:8083", 4, [("c", 2)])) == (
        "http://w2:8083",
        4,
        [("c", 2)],
    )


def test_cooperative_assignor_keeps_work_holds_lost_work_then_deals_it() -> None:
    from riverlog.connect.group import CooperativeAssignor

    assignor = CooperativeAssignor(max_delay_ms=1000)
    work = [("c", -1), ("c", 0), ("c", 1), ("c", 2)]
    assigned, revoked, delay = assignor.assign({"a": [], "b": [], "x": []}, work, now=0.0)
    assert sorted(w for ws in assigned.values() for w in ws) == sorted(work) and delay == 0
    owned = {m: list(ws) for m, ws in assigned.items()}
    # x dies: its work is held (not reassigned) while the delay runs; a and b keep theirs untouched
    survivors = {"a": owned["a"], "b": owned["b"]}
    assigned, revoked, delay = assignor.assign(survivors, work, now=1.0)
    assert assigned == {"a": [], "b": []} and revoked == {"a": [], "b": []} and 0 < delay <= 1000
    assigned, _, delay = assignor.assign(survivors, work, now=1.5)
    assert assigned == {"a": [], "b": []} and delay > 0
    # the delay is over: x's work goes to the least loaded survivor
    assigned, _, delay = assignor.assign(survivors, work, now=2.5)
    assert delay == 0 and sorted(w for ws in assigned.values() for w in ws) == sorted(owned["x"])
    # work no longer configured, or owned twice, is revoked
    _, revoked, _ = assignor.assign(
        {"a": [("c", 0), ("gone", -1)], "b": [("c", 0)]}, [("c", 0)], now=3.0
    )
    assert revoked == {"a": [("gone", -1)], "b": [("c", 0)]}


def test_cooperative_assignor_moves_running_work_to_a_joining_member() -> None:
    from riverlog.connect.group import CooperativeAssignor

    assignor = CooperativeAssignor(max_delay_ms=1000)
    work = [("c", -1)] + [("c", i) for i in range(6)]
    assigned, _, _ = assignor.assign({"a": [], "b": []}, work, now=0.0)
    owned = {m: list(ws) for m, ws in assigned.items()}
    # "new" joins owning nothing: the members above the even share give up their excess
    assigned, revoked, delay = assignor.assign({**owned, "new": []}, work, now=1.0)
    assert delay == 0 and assigned == {"a": [], "b": [], "new": []}
    moved = [w for ws in revoked.values() for w in ws]
    assert moved and all(t != -1 for _, t in moved)  # one connector for three members: it stays
    # they rejoin without it; the next round deals it to the new member
    after = {m: [w for w in ws if w not in moved] for m, ws in owned.items()}
    assigned, revoked, delay = assignor.assign({**after, "new": []}, work, now=1.1)
    assert delay == 0 and not any(revoked.values())
    assert sorted(assigned["new"]) == sorted(moved) and assigned["a"] == assigned["b"] == []
    tasks = {m: [w for w in after[m] if w[1] != -1] for m in after}
    assert sorted(len(ws) for ws in (*tasks.values(), assigned["new"])) == [2, 2, 2]
    # balanced now: a further round moves nothing
    final = {**after, "new": assigned["new"]}
    assigned, revoked, _ = assignor.assign(final, work, now=1.2)
    assert not any(assigned.values()) and not any(revoked.values())


def test_cooperative_assignor_gives_a_joiner_its_floor_share() -> None:
    from riverlog.connect.group import CooperativeAssignor

    # four tasks on two members; a third joins: it lacks floor(4/3) = 1 task, one is moved to it
    owned = {"a": [("c", -1), ("c", 1), ("c", 3)], "b": [("c", 0), ("c", 2)], "new": []}
    work = [("c", -1)] + [("c", i) for i in range(4)]
    assignor = CooperativeAssignor(max_delay_ms=1000, previous=set(work))
    _, revoked, _ = assignor.assign(owned, work, now=0.0)
    moved = [w for ws in revoked.values() for w in ws]
    assert len(moved) == 1 and moved[0][1] != -1
    after = {m: [w for w in ws if w not in moved] for m, ws in owned.items()}
    assigned, _, _ = assignor.assign(after, work, now=0.1)
    assert assigned["new"] == moved
