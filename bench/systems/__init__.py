"""One module per system under test. Each HTTP system exposes serve(bundle) -> Endpoint."""
