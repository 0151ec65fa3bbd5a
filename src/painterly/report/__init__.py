"""Sheets, similarity measures and the studies built on them (reproduce, sweep, leak)."""
