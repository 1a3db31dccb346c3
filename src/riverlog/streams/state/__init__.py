"""State stores: key-value, window and session stores over a sorted bytes map (in memory or RocksDB),
with changelog logging of every write and optional record caching."""
