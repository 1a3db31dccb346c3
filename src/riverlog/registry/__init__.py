"""riverlog.registry: a schema registry speaking Confluent Schema Registry's REST API, stored in Kafka."""
