"""riverlog.sql: streaming SQL in ksqlDB's dialect, compiled to riverlog.streams topologies."""
