"""FastAPI app serving the command center's stored view of the town."""
