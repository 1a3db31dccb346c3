"""The coordinator runtimes (groups, transactions) over their internal topics, on one base runtime."""
