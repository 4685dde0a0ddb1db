"""Pure ASGI middleware for the whole server."""
