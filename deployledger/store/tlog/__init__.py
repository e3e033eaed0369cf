"""The tamper-evident log kept beside the read model: its tree tables (`tree`), bringing it up
to date and reading leaves (`access`), recomputing it from the events (`verify`), and the
port the service sees (`book`)."""
