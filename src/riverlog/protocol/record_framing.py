"""A framing walk over the records section of a v2 batch, without building any record.

What it checks is what Kafka's readers reject while iterating a batch (``DefaultRecordBatch``'s
record iterators and ``DefaultRecord.readFrom``, which ``LogValidator`` runs over every batch a
client writes), so a batch that passes decodes in every Kafka client:

- exactly ``count`` records fill the section: fewer bytes is "premature EOF", bytes left over is
  "records still remaining" (Kafka's "Incorrect declared batch size");
- each record: a varint length >= 0 that fits in the section; attributes (one byte, any value); a
  varlong timestamp delta; a varint offset delta; key and value, each a varint length (-1 = null)
  and that many bytes; a varint header count >= 0 and no larger than the bytes left; per header a
  varint key length >= 0, the key, a varint value length (-1 = null) and the value; and the fields
  end exactly where the length said;
- varints hold at most 5 bytes and varlongs 10 (longer encodings are malformed, as in
  ``ByteUtils``);
- riverlog's first addition: a key, value or header value length below -1 is refused. Kafka reads
  any negative length as null, but confluent-kafka consumers (librdkafka 2.16) stop for good at
  such a record (found by issue 19's socket fuzzer: the partition could not be read past it);
  every writer writes -1 for null.
- riverlog's second addition: the offset delta of record i is i. Kafka keeps an uncompressed batch's
  deltas as written and rebuilds a compressed batch whose deltas are off (for old v1 clients); every
  v2 client writes 0..n-1, and a batch that does not would give its readers wrong offsets.

Header keys are not checked as UTF-8: Kafka decodes them leniently (``new String(bytes, UTF_8)``).

The walk runs for every batch a client produces, so it is written for speed: one loop, one- and
two-byte varints inline, nothing allocated per record. It returns the smallest and largest
timestamp delta so that per-record timestamp rules can be checked on two numbers; the rare paths
that must name records (a timestamp out of range, a compacted topic's null key) call
``record_summaries`` on the walked section.

Installs compile this module with mypyc when they can (setup.py): ``record_framing.*.so`` beside
this file then shadows it. After editing it, rebuild (``pip install -e .`` or ``python setup.py
build_ext --inplace``) or delete the ``.so`` files; tests/unit/protocol/test_record_framing.py runs
the compiled module and this source side by side and fails when they disagree.
"""

from __future__ import annotations

from typing import Final

from riverlog.protocol.errors import InvalidRecordError

__all__ = ["record_summaries", "walk_records"]

_VARINT_MAX_BYTES: Final = 5
_VARLONG_MAX_BYTES: Final = 10
_MASK32: Final = 0xFFFFFFFF
_MASK64: Final = 0xFFFFFFFFFFFFFFFF
_NO_LOW: Final = 1 << 64  # above any varlong: the first record sets both bounds
_NO_HIGH: Final = -(1 << 64)


def walk_records(data: bytes, pos: int, end: int, count: int) -> tuple[int, int]:
    """Check the framing of ``count`` records in ``data[pos:end]``.

    Returns (smallest, largest) timestamp delta (``(2**64, -2**64)`` when ``count`` is 0); raises ``InvalidRecordError`` naming the first
    fault. ``data`` may extend past ``end`` (a batch inside a request): nothing past ``end`` is
    accepted as part of a record.
    """
    if count < 0:
        raise InvalidRecordError(f"Found invalid record count {count}")
    low, high = _NO_LOW, _NO_HIGH
    expected = 0  # zigzag encoding of the next offset delta (2 * index)
    try:
        for index in range(count):
            if pos >= end:
                raise InvalidRecordError(
                    f"Incorrect declared batch size, premature EOF reached at record {index}"
                )
            # Record length.
            b = data[pos]
            if b < 0x80:
                raw, pos = b, pos + 1
            elif data[pos + 1] < 0x80:
                raw, pos = (b & 0x7F) | data[pos + 1] << 7, pos + 2
            else:
                raw, pos = _varint(data, pos, end, _VARINT_MAX_BYTES, _MASK32)
            if raw & 1:
                raise InvalidRecordError(f"Invalid negative record size at record {index}")
            record_end = pos + (raw >> 1)
            if record_end > end:
                raise InvalidRecordError(
                    f"Incorrect declared batch size, premature EOF reached at record {index}"
                )
            # Attributes (ignored in v2), then the timestamp delta.
            b = data[pos + 1]
            if b < 0x80:
                delta, pos = (b >> 1) ^ -(b & 1), pos + 2
            else:
                raw, pos = _varint(data, pos + 1, record_end, _VARLONG_MAX_BYTES, _MASK64)
                delta = (raw >> 1) ^ -(raw & 1)
            if delta < low:
                low = delta
            if delta > high:
                high = delta
            # Offset delta: must be this record's index.
            b = data[pos]
            if b < 0x80:
                raw, pos = b, pos + 1
            elif data[pos + 1] < 0x80:
                raw, pos = (b & 0x7F) | data[pos + 1] << 7, pos + 2
            else:
                raw, pos = _varint(data, pos, record_end, _VARINT_MAX_BYTES, _MASK32)
            if raw != expected:
                raise InvalidRecordError(
                    f"Record {index} has offset delta {(raw >> 1) ^ -(raw & 1)}, expected {index}"
                )
            expected += 2
            # Key and value: a length (< 0 = null) and that many bytes.
            b = data[pos]
            if b < 0x80:
                raw, pos = b, pos + 1
            elif data[pos + 1] < 0x80:
                raw, pos = (b & 0x7F) | data[pos + 1] << 7, pos + 2
            else:
                raw, pos = _varint(data, pos, record_end, _VARINT_MAX_BYTES, _MASK32)
            if not raw & 1:
                pos += raw >> 1
            elif raw != 1:
                raise InvalidRecordError(_below_null("key", raw, index))
            b = data[pos]
            if b < 0x80:
                raw, pos = b, pos + 1
            elif data[pos + 1] < 0x80:
                raw, pos = (b & 0x7F) | data[pos + 1] << 7, pos + 2
            else:
                raw, pos = _varint(data, pos, record_end, _VARINT_MAX_BYTES, _MASK32)
            if not raw & 1:
                pos += raw >> 1
            elif raw != 1:
                raise InvalidRecordError(_below_null("value", raw, index))
            # Headers.
            b = data[pos]
            if b:
                pos = _headers(data, pos, record_end, index)
            else:
                pos += 1
            if pos != record_end:
                raise InvalidRecordError(
                    f"Invalid record size: record {index} declared {record_end - pos} bytes "
                    "more than its fields hold"
                    if pos < record_end
                    else f"Invalid record size: the fields of record {index} overrun its length"
                )
    except IndexError:
        raise InvalidRecordError("Found invalid record structure (truncated record)") from None
    if pos != end:
        raise InvalidRecordError(
            "Incorrect declared batch size, records still remaining after the last declared record"
        )
    return low, high


def record_summaries(data: bytes, pos: int, count: int) -> list[tuple[int, bool]]:
    """(timestamp delta, has a key) of each record of a section ``walk_records`` accepted."""
    summaries = []
    for _ in range(count):
        raw, body = _varint(data, pos, len(data), _VARINT_MAX_BYTES, _MASK32)
        record_end = body + (raw >> 1)
        raw, at = _varint(data, body + 1, record_end, _VARLONG_MAX_BYTES, _MASK64)
        delta = (raw >> 1) ^ -(raw & 1)
        _, at = _varint(data, at, record_end, _VARINT_MAX_BYTES, _MASK32)  # offset delta
        raw, at = _varint(data, at, record_end, _VARINT_MAX_BYTES, _MASK32)  # key length
        summaries.append((delta, not raw & 1))
        pos = record_end
    return summaries


def _varint(data: bytes, pos: int, limit: int, max_bytes: int, mask: int) -> tuple[int, int]:
    """Unsigned (zigzag-encoded) value of the varint at ``pos``: (raw, position after it)."""
    raw = 0
    for index in range(max_bytes):
        if pos + index >= limit:
            raise InvalidRecordError("Found invalid record structure (truncated varint)")
        b = data[pos + index]
        raw |= (b & 0x7F) << (7 * index)
        if b < 0x80:
            return raw & mask, pos + index + 1
    raise InvalidRecordError(
        f"Found invalid record structure (varint longer than {max_bytes} bytes)"
    )


def _below_null(field: str, raw: int, index: int) -> str:
    return f"Invalid {field} size {(raw >> 1) ^ -(raw & 1)} (below -1) in record {index}"


def _headers(data: bytes, pos: int, record_end: int, index: int) -> int:
    """Skip a record's headers (count varint at ``pos``); the position after them."""
    raw, pos = _varint(data, pos, record_end, _VARINT_MAX_BYTES, _MASK32)
    count = (raw >> 1) ^ -(raw & 1)
    if count < 0 or count > record_end - pos:
        raise InvalidRecordError(
            f"Found invalid number of record headers {count} in record {index}"
        )
    for _ in range(count):
        raw, pos = _varint(data, pos, record_end, _VARINT_MAX_BYTES, _MASK32)
        if raw & 1:
            raise InvalidRecordError(f"Invalid negative header key size in record {index}")
        pos += raw >> 1
        raw, pos = _varint(data, pos, record_end, _VARINT_MAX_BYTES, _MASK32)
        if not raw & 1:
            pos += raw >> 1
        elif raw != 1:
            raise InvalidRecordError(_below_null("header value", raw, index))
        if pos > record_end:
            break  # the caller reports the overrun
    return pos
