"""All I/O, behind the service's ports: SQLite and PostgreSQL.

Sub-packages: `events` (the event store: the only code that imports eventsourcing beyond
`eventsourcing.domain`), `readmodel` (tables, queries and the projection runner),
`rebuild` (the set-based rebuild and its blue/green switch) and `tlog` (the log's tables,
its upkeep and its verification). Beside them: engines and migrations (`database`), API
tokens (`tokens`) and the translation of driver errors (`errors`). May import the
projections, the domain and the errors."""
