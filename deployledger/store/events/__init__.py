"""The event store: workload aggregates in and out of eventsourcing, our recorders, the bulk
append, and every use of a library internal (`compat`). The only package that imports
eventsourcing beyond `eventsourcing.domain`."""
