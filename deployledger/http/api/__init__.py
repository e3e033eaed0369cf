"""The JSON API of `deployledger serve`: the routes, the request-body reader, the problem
documents' schemas and the completed OpenAPI document. Uses the public API only."""
