"""riverlog.coordinator."""
