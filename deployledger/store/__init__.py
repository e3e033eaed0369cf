"""All I/O: the event store, the read-model tables and queries, the projection runner,
rebuild, engines and migrations, and the translation of driver errors."""
