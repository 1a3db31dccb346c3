"""The broker's network floor: sockets, framing, security sessions, dispatch to handlers."""
