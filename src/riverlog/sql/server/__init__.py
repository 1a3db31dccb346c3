"""The ksqlDB-compatible server: config, command topic, query runtime and REST API."""
