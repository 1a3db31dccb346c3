"""The services `labs toll up` starts in its own process when the platform lacks them: a standalone
Connect worker, a SQL server and the console, each on the port its URL names, with its files under
the lab's data directory. They live as long as `up` runs (which it does while the apps run); `stop`
stops them in reverse start order.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from riverlog.common.processes import port_accepts
from riverlog.common.service import HttpService, parse_listener


class _Stoppable(Protocol):
    def stop(self) -> None: ...


def reachable(url: str) -> bool:
    _, host, port = parse_listener(url)
    return port_accepts(host, port)


class LocalServices:
    def __init__(self, bootstrap: str, data_dir: Path) -> None:
        self.bootstrap = bootstrap
        self.data_dir = data_dir
        self.started: list[tuple[str, _Stoppable]] = []

    def ensure(
        self,
        connect_url: str,
        sql_url: str | None,
        console_url: str | None,
        echo: Callable[[str], None] = print,
    ) -> None:
        """Start each of Connect, SQL and the console whose URL does not answer."""
        if not reachable(connect_url):
            self._connect(connect_url)
            echo(f"connect   not running: a standalone worker started here at {connect_url}")
        if sql_url and not reachable(sql_url):
            self._sql(sql_url)
            echo(f"sql       not running: a SQL server started here at {sql_url}")
        if console_url and not reachable(console_url):
            self._console(console_url, connect_url, sql_url)
            echo(f"console   not running: started here at {console_url}")

    def _connect(self, url: str) -> None:
        from riverlog.connect.standalone import ConnectStandalone

        self.data_dir.mkdir(parents=True, exist_ok=True)
        worker = ConnectStandalone(
            {
                "bootstrap.servers": self.bootstrap,
                "key.converter": "org.apache.kafka.connect.json.JsonConverter",
                "value.converter": "org.apache.kafka.connect.json.JsonConverter",
                "offset.storage.file.filename": str(self.data_dir / "connect.offsets"),
                "offset.flush.interval.ms": "5000",
                "listeners": url,
            }
        ).start()
        self.started.append(("connect", worker))

    def _sql(self, url: str) -> None:
        from riverlog.sql.server.server import SqlServer

        server = SqlServer(
            {
                "listeners": url,
                "bootstrap.servers": self.bootstrap,
                "ksql.service.id": "toll_lab_",
                "ksql.streams.state.dir": str(self.data_dir / "sql"),
            }
        )
        server.start()
        self.started.append(("sql", server))

    def _console(self, url: str, connect_url: str, sql_url: str | None) -> None:
        from riverlog.console.app import ConsoleSettings, build_app

        _, host, port = parse_listener(url)
        settings = ConsoleSettings(self.bootstrap, connect_url=connect_url, sql_url=sql_url)
        service = HttpService(build_app(settings), host, port, name="console")
        service.start()
        self.started.append(("console", service))

    def stop(self) -> None:
        for _, service in reversed(self.started):
            try:
                service.stop()
            except Exception:
                pass
        self.started.clear()
