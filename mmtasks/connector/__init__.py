"""The exchange connector: gRPC server over the simulated exchange, and the sync client."""
