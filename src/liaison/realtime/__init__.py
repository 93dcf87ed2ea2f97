"""The real-time bus: the port (``bus``), in process by default, and its NATS JetStream
adapter (``nats_bus``). Imports nothing above the services; the node builds the bus."""
