"""The service layer: `Ledger`, the facade a controller embeds, over small ports.

May import the domain and the projections; the concrete store is built by
`service.bootstrap`, the one module that imports `deployledger.store`."""
