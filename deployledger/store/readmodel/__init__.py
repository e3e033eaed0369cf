"""The read model: its tables (SQLAlchemy Core), the queries behind every read, the projection
runner that applies events exactly once, and the object the service sees (`model`)."""
