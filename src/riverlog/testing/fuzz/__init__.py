"""Internal fuzzing kit (issue 19): valid requests of every API and version kio knows, mutated.

- `generate`: a valid request frame for any (api key, version), built from kio's schemas, with the
  position and kind of every count, length, varint, tag section and record batch in it.
- `mutate`: structure-aware corruptions of such a frame (truncations, oversized counts and lengths,
  bad varints, wrong tagged fields, corrupt record batches, unknown API keys and versions).
- `decode_worker`: decodes frames in a memory-limited worker process (a native abort kills only it).
- `socket_campaign`: garbage against a running broker process, with real clients alongside, checked.

Nothing outside tests imports this package.
"""
