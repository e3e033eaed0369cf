"""The domain: wire models, the Workload aggregate, its events and the state enum. No I/O."""
