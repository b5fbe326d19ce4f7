"""vidgate pipelines."""
