"""One workload: the `Workload` aggregate and its events, the deployment state enum, the one
fold that both the aggregate and the projections apply, and the answers (receipts, states,
history items) built from it. Pure."""
