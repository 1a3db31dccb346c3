"""The fuzz kit's generator and mutator, and the null-array bug its first socket run found.

The generator must build a valid request (kio decodes it) for every API and version kio knows, and
its slot map must point at what it says; the mutator must be deterministic per seed and exercise
every mutation kind. The bug: kio's native reader reads a non-nullable array sent as null (count
-1, or 0 in a compact array) as None, and WriteTxnMarkers' handler then failed iterating it
("'NoneType' object is not iterable"); Kafka's generated readers refuse such a request
("non-nullable field was serialized as null"), and now the prescan does too.
"""

from __future__ import annotations

import random
import struct
from collections import Counter

import pytest
from kio.index import load_request_schema

from riverlog.protocol.codec import decode_request
from riverlog.protocol.errors import InvalidRequestError, UnsupportedVersionError
from riverlog.testing.fuzz.generate import all_request_apis, generate
from riverlog.testing.fuzz.mutate import MUTATIONS, mutate


def header(api_key: int, version: int, *, flexible: bool) -> bytes:
    return struct.pack(">hhih", api_key, version, 1, 2) + b"fz" + (b"\x00" if flexible else b"")


def test_every_api_and_version_kio_knows_is_generated_valid() -> None:
    rng = random.Random(3)
    apis = all_request_apis()
    assert len(apis) > 250  # every request schema kio ships
    for api_key, version in apis:
        for _ in range(2):
            frame = generate(rng, api_key, version)
            # Produce v3-12 decodes to riverlog's own view; kio's reader must take it too.
            decoded = decode_request(bytes(frame.data), specialised=False)
            assert isinstance(decoded.body, load_request_schema(api_key, version))
            assert decode_request(bytes(frame.data)).header.api_key == api_key


def test_slots_point_at_counts_lengths_and_batches() -> None:
    rng = random.Random(4)
    frame = generate(rng, 0, 9)  # Produce v9: compact arrays, compact strings, records
    kinds = Counter(slot.kind for slot in frame.slots)
    assert kinds["compact_count"] >= 1 and kinds["tags"] >= 2
    for slot in frame.slots:
        if slot.kind == "records":
            assert frame.data[slot.start + 16] == 2  # the batch's magic byte


def test_mutations_are_deterministic_and_all_used() -> None:
    corpus = [generate(random.Random(5), *api) for api in all_request_apis()]
    runs = []
    for _ in range(2):
        rng = random.Random(6)
        runs.append([mutate(rng, rng.choice(corpus)) for _ in range(3000)])
    assert runs[0] == runs[1]
    used = Counter(name for _, names in runs[0] for name in names)
    assert set(used) == set(MUTATIONS)


def test_mutated_frames_decode_or_are_refused_in_this_process() -> None:
    # Bounded counts make this safe in-process (the worker-process campaign is the long run).
    corpus = [generate(random.Random(7), *api) for api in all_request_apis()]
    rng = random.Random(8)
    outcomes: Counter[str] = Counter()
    for _ in range(3000):
        data, _names = mutate(rng, rng.choice(corpus))
        try:
            decode_request(data)
            outcomes["decoded"] += 1
        except InvalidRequestError:
            outcomes["invalid"] += 1
        except UnsupportedVersionError:
            outcomes["unsupported"] += 1
    assert outcomes["invalid"] > outcomes["decoded"] > 0


NULL_ARRAYS = {
    # The frame the socket fuzzer found (WriteTxnMarkers v1: markers, a compact array, null).
    "write txn markers v1, markers null": header(27, 1, flexible=True) + b"\x00\x00",
    # A legacy array of structs, null.
    "offset commit v2, topics null": header(8, 2, flexible=False)
    + struct.pack(">h", 1)
    + b"g"
    + struct.pack(">ih", -1, 0)
    + struct.pack(">q", -1)
    + struct.pack(">i", -1),
    # A legacy array of primitives, null (OffsetFetch v1: one topic, partition_indexes null).
    "offset fetch v1, partition indexes null": header(9, 1, flexible=False)
    + struct.pack(">h", 1)
    + b"g"
    + struct.pack(">ih", 1, 1)
    + b"t"
    + struct.pack(">i", -1),
    # A compact array of fixed-size flexible structs (the prescan's one-slice path), null.
    "fetch v12, partitions null": header(1, 12, flexible=True)
    + struct.pack(">iiiibii", -1, 500, 1, 1 << 20, 0, 0, -1)
    + b"\x02\x02t\x00\x00"
    + b"\x01\x01\x00",
}


@pytest.mark.parametrize("name", sorted(NULL_ARRAYS))
def test_a_non_nullable_array_sent_as_null_is_refused(name: str) -> None:
    with pytest.raises(InvalidRequestError, match="non-nullable array"):
        decode_request(NULL_ARRAYS[name])


def test_a_nullable_array_sent_as_null_still_decodes() -> None:
    # Metadata v4 topics is nullable (null: every topic).
    body = struct.pack(">i", -1) + b"\x01"
    assert decode_request(header(3, 4, flexible=False) + body).body.topics is None
    # Metadata v12 too, compact.
    assert decode_request(header(3, 12, flexible=True) + b"\x00\x01\x00\x00").body.topics is None
