"""riverlog.cli."""
