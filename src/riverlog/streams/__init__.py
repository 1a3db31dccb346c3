"""riverlog.streams: Kafka Streams' model and semantics in Python, on any Kafka-protocol cluster."""
