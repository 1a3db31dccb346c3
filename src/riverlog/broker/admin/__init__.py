"""Topic and config administration: creating, deleting and altering topics, and group configs."""
