"""JDBC-style source and sink connectors for PostgreSQL (psycopg 3) and SQLite, with Confluent's
`io.confluent.connect.jdbc` config keys and offset shapes."""
