"""riverlog.testing."""
