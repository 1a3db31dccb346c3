"""Processors of the DSL: each takes a `Record` and forwards zero or more through the task context."""
