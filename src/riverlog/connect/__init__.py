"""riverlog.connect: a Kafka Connect-compatible connector runtime (workers, herders, REST, connectors)."""
