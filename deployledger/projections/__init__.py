"""Projections: events in, read-model row changes out. Pure: no SQL, no I/O.

May import the domain; never the store, the service or an I/O library."""
