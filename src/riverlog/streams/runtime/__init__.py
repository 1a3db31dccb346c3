"""The streams runtime: KafkaStreams, stream threads, tasks on Kafka, restoration, EOS."""
