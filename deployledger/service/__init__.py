"""The service layer: `Ledger`, the facade a controller embeds, over two small ports."""
