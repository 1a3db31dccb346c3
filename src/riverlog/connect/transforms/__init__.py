"""Single Message Transforms and predicates (Kafka's `org.apache.kafka.connect.transforms`)."""
