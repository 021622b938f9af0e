"""The API server's request handling, one module per concern."""
