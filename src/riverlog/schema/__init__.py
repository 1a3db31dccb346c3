"""Client-side schemas: Kafka-compatible primitive serdes, schema formats (Avro, JSON Schema, Protobuf)
with Confluent's wire format, and the compatibility rules the registry applies. No server imports."""
