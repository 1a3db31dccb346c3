"""riverlog.metadata."""
