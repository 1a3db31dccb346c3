"""riverlog.cluster."""
