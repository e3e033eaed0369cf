"""Projections: events in, read-model rows out, with the runner that applies them exactly once."""
