"""Projections: events in, read-model row changes out. Pure: no SQL, no I/O."""
