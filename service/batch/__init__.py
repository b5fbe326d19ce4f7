"""Batch processing of video archives: sources, records, local and server runners, HTML report."""
