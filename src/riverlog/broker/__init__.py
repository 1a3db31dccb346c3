"""riverlog.broker."""
