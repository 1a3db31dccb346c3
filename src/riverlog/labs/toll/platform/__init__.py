"""Everything around the toll lab's streams apps: PostgreSQL (systems of record and sink targets), the
Connect connectors, the SQL monitoring statements, feeding the generator's output in, and `up`/`down`."""
