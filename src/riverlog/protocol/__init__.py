"""riverlog.protocol: the Kafka wire protocol as pure functions of bytes (no I/O).

- ``framing``: size-prefixed frames in and out of a byte stream (sans-IO ``FrameDecoder``, which the
  transport may write into directly; ``BufferPool`` of reusable large-frame buffers).
- ``codec``: request/response headers and kio-typed bodies; ApiVersions fallbacks.
- ``tagged``: tagged-field handling, including a reader that skips unknown tags.
- ``prescan``: a walk over a body before kio's native reader reads it, refusing array counts above
  the bytes left (kio would reserve memory for them first, and an allocation failure aborts).
- ``produce_request``: the Produce request as plain types with a specialised decoder (field for field
  what kio reads, records left as views of the frame), used by ``codec.decode_request``.
- ``produce_response`` / ``fetch_response``: plain hot-path response types with specialised encoders
  (byte for byte what kio writes), used by ``codec.encode_response``; ``wire``: their primitives.
- ``records``: record batch v2 headers, CRC, in-place patches, decoding and building.
- ``compression``: gzip/snappy/lz4/zstd as Kafka's Java clients write them.
- ``varint``: zigzag varints used inside records.
- ``errors``: the ``ProtocolError`` tree.
"""
