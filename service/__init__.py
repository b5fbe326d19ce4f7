"""vidgate service."""
