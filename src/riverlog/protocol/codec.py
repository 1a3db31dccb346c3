"""Request/response headers and bodies on the wire, using kio's schema classes for bodies.

Produce requests and Produce/Fetch responses, the hot path, have specialised codecs instead
(``produce_request``, ``produce_response``, ``fetch_response``), tested against kio.

A request frame is ``header + body``; header layouts (Kafka's RequestHeader.json):

- v1 (non-flexible versions): api_key int16, api_version int16, correlation_id int32,
  client_id nullable int16-length string.
- v2 (flexible versions): v1 followed by a tagged-field section. ``client_id`` keeps the int16
  string format even here, so everything up to the tags reads the same for any api key/version.

A response frame is ``header + body``: header v0 is correlation_id int32; v1 (flexible versions)
adds a tagged-field section. ApiVersions is the exception: its response header is always v0, so a
client that does not know the broker's versions can still read it.

Decisions (Kafka's behaviour, followed here):
- Unknown tagged fields are skipped, in headers and bodies (kio's native reader refuses them; see
  ``riverlog.protocol.tagged`` for the fallback).
- Bytes left after the body are ignored: Kafka's ``RequestContext.parseRequest`` reads the message
  and does not look at what remains in the frame.
- Any failure while reading a body is an invalid request (Kafka wraps every Throwable from the
  parser in ``InvalidRequestException``); the broker then closes the connection. That includes a
  Rust panic inside kio (pyo3 raises it as a BaseException).
- An array claiming more items than the bytes left is refused before kio sees it
  (``riverlog.protocol.prescan``), as Kafka's generated readers refuse it: kio's native reader
  allocates for the count first, and a failed allocation aborts the whole process.
- Invalid UTF-8 in client_id is replaced, not rejected (Java's String decoding does the same).
- Request header v0 (ControlledShutdown v0 only) is not supported: kio has no such API any more.
"""

from __future__ import annotations

import functools
import io
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from kio.index import load_request_schema, load_response_schema
from kio.schema.api_versions.v0.response import ApiVersion, ApiVersionsResponse
from kio.schema.errors import ErrorCode
from kio.schema.index import api_key_map, schema_name_map
from kio.serial import entity_reader, entity_writer
from kio.static.primitive import i16
from kio.static.protocol import RequestPayload, ResponsePayload

from riverlog.protocol import fetch_response, produce_request, produce_response
from riverlog.protocol.errors import InvalidRequestError, UnsupportedVersionError
from riverlog.protocol.header import RequestHeaderInfo
from riverlog.protocol.prescan import prescan
from riverlog.protocol.tagged import lenient_entity_reader, skip_tagged_fields
from riverlog.protocol.wire import Chunk

__all__ = [
    "API_VERSIONS_KEY",
    "DecodedRequest",
    "DecodedResponse",
    "RequestHeaderInfo",
    "api_versions_v0_error",
    "decode_request",
    "decode_request_header",
    "decode_response",
    "encode_request",
    "encode_response",
    "known_version_range",
    "read_entity",
    "request_schema",
    "response_header_version",
    "response_schema",
]

API_VERSIONS_KEY: Final = 18
PRODUCE_KEY: Final = 0

_HEADER_FIXED = struct.Struct(">hhih")  # api key, api version, correlation id, client id length
_INT32 = struct.Struct(">i")
_NO_TAGGED_FIELDS: Final = b"\x00"
# Exceptions that stop the interpreter rather than report bad bytes: never turned into a refusal.
_INTERPRETER_EXITS: Final = (KeyboardInterrupt, SystemExit, GeneratorExit)


# Decoded request: slotted but not frozen (one is built for every request).
@dataclass(slots=True)
class DecodedRequest:
    """A request header with its body: a kio request entity, or for Produce v3-12 a
    `produce_request.ProduceRequest` (the specialised hot-path decoder)."""

    header: RequestHeaderInfo
    body: Any


@dataclass(frozen=True, slots=True)
class DecodedResponse:
    """A response's correlation id with its body as a kio response entity."""

    correlation_id: int
    body: Any


# --- schemas ------------------------------------------------------------------------------------


# kio's versions per api key are contiguous ranges (checked by the tests).
_VERSION_RANGES: Final = {
    key: (min(schema_name_map[name]), max(schema_name_map[name]))
    for key, name in api_key_map.items()
}


def known_version_range(api_key: int) -> tuple[int, int] | None:
    """(min, max) versions kio has schemas for, or None for an unknown api key."""
    return _VERSION_RANGES.get(api_key)


def request_schema(api_key: int, api_version: int) -> type[RequestPayload] | None:
    """kio's request class for (key, version), or None when kio has none."""
    if not _is_known(api_key, api_version):
        return None
    return _load_request_schema(api_key, api_version)


def response_schema(api_key: int, api_version: int) -> type[ResponsePayload] | None:
    """kio's response class for (key, version), or None when kio has none."""
    if not _is_known(api_key, api_version):
        return None
    return _load_response_schema(api_key, api_version)


def _is_known(api_key: int, api_version: int) -> bool:
    known = _VERSION_RANGES.get(api_key)
    return known is not None and known[0] <= api_version <= known[1]


# Bounded by the set of schemas kio ships, since callers check _is_known first.
_load_request_schema = functools.cache(load_request_schema)
_load_response_schema = functools.cache(load_response_schema)


@functools.lru_cache(maxsize=1024)  # bounded: clients choose these numbers
def _request_is_flexible(api_key: int, api_version: int) -> bool:
    # Flexibility never goes away in later versions, so a version above the newest kio knows is
    # flexible when that newest one is (this is how a newer client's ApiVersions header parses).
    known = known_version_range(api_key)
    if known is None or api_version < known[0]:
        return False
    schema = _load_request_schema(api_key, min(api_version, known[1]))
    return bool(schema.__header_schema__.__flexible__)


@functools.lru_cache(maxsize=1024)  # bounded: clients choose these numbers
def response_header_version(api_key: int, api_version: int) -> int:
    """0 or 1: the response header layout for (key, version); ApiVersions always uses 0."""
    if api_key == API_VERSIONS_KEY:
        return 0
    schema = response_schema(api_key, api_version)
    if schema is None:
        return 0
    return 1 if schema.__flexible__ else 0


# --- requests -----------------------------------------------------------------------------------


def decode_request_header(
    frame_bytes: bytes | bytearray | memoryview,
) -> tuple[RequestHeaderInfo, int]:
    """The request header at the start of a frame, and the offset where the body begins."""
    if len(frame_bytes) < _HEADER_FIXED.size:
        raise InvalidRequestError(f"request header truncated: {len(frame_bytes)} bytes")
    api_key, api_version, correlation_id, id_length = _HEADER_FIXED.unpack_from(frame_bytes, 0)
    pos = _HEADER_FIXED.size
    client_id: str | None = None
    if id_length >= 0:
        if pos + id_length > len(frame_bytes):
            raise InvalidRequestError("request header truncated inside client_id")
        client_id = str(frame_bytes[pos : pos + id_length], "utf-8", "replace")
        pos += id_length
    elif id_length != -1:
        raise InvalidRequestError(f"negative client_id length {id_length}")
    header = RequestHeaderInfo(api_key, api_version, correlation_id, client_id)
    if _request_is_flexible(api_key, api_version):
        if pos < len(frame_bytes) and frame_bytes[pos] == 0:  # no tags: the usual header
            return header, pos + 1
        try:
            pos += skip_tagged_fields(frame_bytes, pos)
        except Exception as exc:
            raise InvalidRequestError(f"bad tagged fields in request header: {exc}") from exc
    return header, pos


def decode_request(
    frame_bytes: bytes | bytearray | memoryview, *, specialised: bool = True
) -> DecodedRequest:
    """Decode a whole request frame (without its size prefix).

    Produce v3-12 is read by its specialised decoder (`produce_request.ProduceRequest`, records left
    as views of the frame) unless `specialised` is False; everything else is a kio entity.
    Raises ``UnsupportedVersionError`` (carrying the header) when kio has no schema for the
    request's (api key, version) and ``InvalidRequestError`` when the bytes are malformed.
    """
    header, offset = decode_request_header(frame_bytes)
    version = header.api_version
    if (
        specialised
        and header.api_key == PRODUCE_KEY
        and produce_request.MIN_VERSION <= version <= produce_request.MAX_VERSION
    ):
        return DecodedRequest(
            header, produce_request.decode_produce_request(version, frame_bytes, offset)
        )
    schema = request_schema(header.api_key, version)
    if schema is None:
        raise UnsupportedVersionError(header)
    return DecodedRequest(header, read_entity(schema, frame_bytes, offset))


def encode_request(correlation_id: int, client_id: str | None, request: Any) -> bytes:
    """A framed request (size prefix included); header v2 for flexible versions, else v1."""
    schema = type(request)
    buffer = _start_frame()
    id_bytes = None if client_id is None else client_id.encode()
    buffer.write(
        _HEADER_FIXED.pack(
            schema.__api_key__,
            schema.__version__,
            correlation_id,
            -1 if id_bytes is None else len(id_bytes),
        )
    )
    if id_bytes is not None:
        buffer.write(id_bytes)
    if schema.__header_schema__.__flexible__:
        buffer.write(_NO_TAGGED_FIELDS)
    entity_writer(schema)(buffer, request)
    return _finish_frame(buffer)


# --- responses ----------------------------------------------------------------------------------


# Hot-path responses with their own encoders (DESIGN.md: Produce and Fetch only), by the plain
# response class a handler builds: (api key, body encoder).
_SPECIALISED: Final[dict[type[Any], tuple[int, Callable[[int, Any], list[Chunk]]]]] = {
    produce_response.ProduceResponse: (0, produce_response.encode_produce_response),
    fetch_response.FetchResponse: (1, fetch_response.encode_fetch_response),
}


def encode_response(correlation_id: int, api_key: int, api_version: int, response: Any) -> bytes:
    """A framed response (size prefix included) for the request it answers.

    `response` is a kio response entity of exactly (api_key, api_version), or one of the plain,
    version-independent responses that have a specialised encoder (`produce_response.ProduceResponse`,
    `fetch_response.FetchResponse`), which writes what `api_version` has of it.
    """
    specialised = _SPECIALISED.get(type(response))
    if specialised is not None:
        return _encode_specialised(correlation_id, api_key, api_version, response, *specialised)
    schema = type(response)
    if schema.__api_key__ != api_key or schema.__version__ != api_version:
        raise ValueError(
            f"{schema.__qualname__} is api {schema.__api_key__} v{schema.__version__},"
            f" not api {api_key} v{api_version}"
        )
    buffer = _start_frame()
    buffer.write(_INT32.pack(correlation_id))
    if response_header_version(api_key, api_version) == 1:
        buffer.write(_NO_TAGGED_FIELDS)
    entity_writer(schema)(buffer, response)
    return _finish_frame(buffer)


def _encode_specialised(
    correlation_id: int,
    api_key: int,
    api_version: int,
    response: Any,
    encoder_key: int,
    encode_body: Callable[[int, Any], list[Chunk]],
) -> bytes:
    if encoder_key != api_key:
        raise ValueError(f"{type(response).__qualname__} is api {encoder_key}, not api {api_key}")
    body = encode_body(api_version, response)
    header = _INT32.pack(correlation_id)
    if response_header_version(api_key, api_version) == 1:
        header += _NO_TAGGED_FIELDS
    size = len(header) + sum(map(len, body))
    return b"".join([_INT32.pack(size), header, *body])


def decode_response(
    frame_bytes: bytes | bytearray | memoryview, api_key: int, api_version: int
) -> DecodedResponse:
    """Decode a response frame (without its size prefix) to the request (key, version) sent."""
    schema = response_schema(api_key, api_version)
    if schema is None:
        raise ValueError(f"no schema for api {api_key} v{api_version}")
    if len(frame_bytes) < _INT32.size:
        raise InvalidRequestError("response header truncated")
    (correlation_id,) = _INT32.unpack_from(frame_bytes, 0)
    offset = _INT32.size
    if response_header_version(api_key, api_version) == 1:
        try:
            offset += skip_tagged_fields(frame_bytes, offset)
        except Exception as exc:
            raise InvalidRequestError(f"bad tagged fields in response header: {exc}") from exc
    return DecodedResponse(correlation_id, read_entity(schema, frame_bytes, offset))


def api_versions_v0_error(correlation_id: int, supported: list[tuple[int, int, int]]) -> bytes:
    """A framed ApiVersions v0 response with UNSUPPORTED_VERSION and the given (key, min, max).

    Kafka answers an ApiVersions request of a version it does not know this way (in v0 layout,
    which every client can read); since KIP-511 Kafka lists only ApiVersions' own range, so the
    client retries with the highest version both sides know.
    """
    response = ApiVersionsResponse(
        error_code=ErrorCode.unsupported_version,
        api_keys=tuple(
            ApiVersion(api_key=i16(key), min_version=i16(low), max_version=i16(high))
            for key, low, high in supported
        ),
    )
    return encode_response(correlation_id, API_VERSIONS_KEY, 0, response)


# --- shared -------------------------------------------------------------------------------------


def read_entity(schema: type[Any], buf: bytes | bytearray | memoryview, offset: int) -> Any:
    """Read one kio entity at ``offset``; unknown tagged fields are skipped.

    Raises ``InvalidRequestError`` for any malformed bytes; never lets kio's native reader see an
    array count it cannot allocate for (see ``riverlog.protocol.prescan``).
    """
    try:
        if prescan(schema, buf, offset) is not None:
            value, _size = entity_reader(schema)(buf, offset)
        else:  # an unknown tagged field, which kio's native reader refuses
            value, _size = lenient_entity_reader(schema)(buf, offset)
    except KeyError:
        # Not expected once the prescan has passed (it finds the same unknown tags); kept so a
        # difference between the two walks costs a slower read, not a closed connection.
        value = _read_lenient(schema, buf, offset)
    except _INTERPRETER_EXITS:
        raise
    except BaseException as exc:
        # kio's native reader turns a Rust panic into pyo3's PanicException, a BaseException.
        raise InvalidRequestError(f"malformed {schema.__qualname__}: {exc!r}") from exc
    return value


def _read_lenient(schema: type[Any], buf: bytes | bytearray | memoryview, offset: int) -> Any:
    try:
        value, _size = lenient_entity_reader(schema)(buf, offset)
    except _INTERPRETER_EXITS:
        raise
    except BaseException as exc:
        raise InvalidRequestError(f"malformed {schema.__qualname__}: {exc!r}") from exc
    return value


def _start_frame() -> io.BytesIO:
    buffer = io.BytesIO()
    buffer.write(b"\x00\x00\x00\x00")  # size prefix, patched by _finish_frame
    return buffer


def _finish_frame(buffer: io.BytesIO) -> bytes:
    data = buffer.getbuffer()
    _INT32.pack_into(data, 0, len(data) - 4)
    del data
    return buffer.getvalue()
