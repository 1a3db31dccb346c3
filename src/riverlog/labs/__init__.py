"""riverlog.labs: the two labs — NYC taxi rides & fares (flink-training's exercises) and toll collection —
built on the public APIs of riverlog.streams, Connect and SQL."""
