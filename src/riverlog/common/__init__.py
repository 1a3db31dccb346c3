"""Shared by the client-side packages (streams, connect, registry, sql, console): config declared as
data (`configdef`) and the ASGI-service lifecycle (`service`). Imports nothing from the server side."""
