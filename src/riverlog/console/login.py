"""Logging in to the console (`riverlog console --login`): each user's own Kafka identity.

With `--login`, the console holds no Kafka identity of its own. A user signs in with a SASL user
name and password (the mechanism is the console's `sasl.mechanism` setting: PLAIN, SCRAM-SHA-256 or
SCRAM-SHA-512); the console opens that user's own clients (AdminClient, browsing consumer, producer)
with those credentials and checks them with one Metadata request. Every page is then answered with
the user's clients, so the broker's authorizer decides what the user sees: Metadata leaves out the
topics the principal may not describe, ListGroups the groups, and a denied action shows Kafka's error.

State: `Sessions` maps an unguessable token (the `riverlog_console_session` cookie: HttpOnly,
SameSite=Strict, so other sites cannot post forms with it) to the user's `Console`. Sessions live in
memory only; a session idle for IDLE_S, or the oldest beyond MAX_SESSIONS, is closed with its
clients. Passwords are kept only inside the user's librdkafka clients, never logged or rendered.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

if TYPE_CHECKING:
    from riverlog.console.app import Console, ConsoleSettings

COOKIE = "riverlog_console_session"
IDLE_S = 1800.0
MAX_SESSIONS = 64
MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
OPEN_PATHS = ("/login", "/logout", "/static/")


class LoginFailed(Exception):
    """The broker refused the credentials (or could not be reached); shown on the login page."""


def login_settings_error(client_config: dict[str, str]) -> str | None:
    """Why `--login` cannot work with these client settings (None when it can)."""
    protocol = client_config.get("security.protocol", "PLAINTEXT").upper()
    if not protocol.startswith("SASL_"):
        return (
            "--login needs a SASL listener: pass --command-config security.protocol=SASL_SSL "
            "(or SASL_PLAINTEXT)"
        )
    mechanism = mechanism_of(client_config)
    if mechanism not in MECHANISMS:
        return f"--login supports sasl.mechanism {', '.join(MECHANISMS)}, not {mechanism}"
    return None


def mechanism_of(client_config: dict[str, str]) -> str:
    raw = client_config.get("sasl.mechanism") or client_config.get("sasl.mechanisms") or "PLAIN"
    return raw.upper()


@dataclass
class Session:
    user: str
    console: Console
    last_used: float


class Sessions:
    """Signed-in users and their consoles (see the module docstring)."""

    def __init__(
        self, settings: ConsoleSettings, make_console: Callable[[ConsoleSettings], Console]
    ) -> None:
        self.settings = settings
        self.make_console = make_console
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    def login(self, user: str, password: str) -> str:
        """Open the user's clients and check the credentials; the new session's token (blocking)."""
        if not user or not password:
            raise LoginFailed("enter a user name and a password")
        client_config = {
            **self.settings.client_config,
            "sasl.mechanism": mechanism_of(self.settings.client_config),
            "sasl.username": user,
            "sasl.password": password,
        }
        client_config.pop("sasl.mechanisms", None)
        console = self.make_console(replace(self.settings, client_config=client_config))
        try:
            console.kafka.check_login()
        except Exception as exc:
            console.close()
            raise LoginFailed(str(exc)) from None
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._sessions[token] = Session(user, console, time.monotonic())
            stale = self._maybe_expire()
        self._close(stale)
        return token

    def get(self, token: str | None) -> Session | None:
        if not token:
            return None
        with self._lock:
            stale = self._maybe_expire()
            session = self._sessions.get(token)
            if session is not None:
                session.last_used = time.monotonic()
        self._close(stale)
        return session

    def logout(self, token: str | None) -> None:
        with self._lock:
            session = self._sessions.pop(token or "", None)
        self._close([session] if session else [])

    def close(self) -> None:
        with self._lock:
            sessions, self._sessions = list(self._sessions.values()), {}
        self._close(sessions)

    def _maybe_expire(self) -> list[Session]:
        """Drop idle sessions and the oldest beyond MAX_SESSIONS; call with the lock held."""
        now = time.monotonic()
        stale = [t for t, s in self._sessions.items() if now - s.last_used > IDLE_S]
        by_age = sorted(self._sessions, key=lambda t: self._sessions[t].last_used)
        stale += by_age[: max(0, len(self._sessions) - MAX_SESSIONS)]
        return [s for t in set(stale) if (s := self._sessions.pop(t, None)) is not None]

    @staticmethod
    def _close(sessions: list[Session]) -> None:
        for session in sessions:
            session.console.close()


class LoginGate:
    """Every page but the login page needs a session: without one, a page request is sent to
    /login (an htmx request is told to go there with HX-Redirect). With one, the request carries
    the user's console in `request.state.console` and the user name in `request.state.user`."""

    def __init__(self, app: ASGIApp, sessions: Sessions) -> None:
        self.app = app
        self.sessions = sessions

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(OPEN_PATHS):
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        session = self.sessions.get(request.cookies.get(COOKIE))
        if session is None:
            response: Response = RedirectResponse("/login", status_code=303)
            if request.headers.get("hx-request"):
                response = Response(status_code=200, headers={"HX-Redirect": "/login"})
            await response(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        state["console"] = session.console
        state["user"] = session.user
        await self.app(scope, receive, send)
