"""The broker's data floor: hosted partitions, replication, and the one door for reads (FetchManager)."""
