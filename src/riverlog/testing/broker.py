"""An in-process broker for tests: starts on a free port in a background thread, in well under a second.

    with RunningBroker(tmp_path) as broker:
        Producer({"bootstrap.servers": broker.bootstrap_servers})

The broker runs its own event loop (uvloop) in a daemon thread, so it works from synchronous tests and
from tests that run their own asyncio loop.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Mapping
from concurrent.futures import Future
from pathlib import Path
from types import TracebackType

import uvloop

from riverlog.broker.config import BrokerConfig
from riverlog.cluster.node import BrokerNode


class RunningBroker:
    def __init__(
        self, data_dir: Path, config: Mapping[str, str] | None = None, **settings: str
    ) -> None:
        """`settings` are Kafka config names with `_` for `.`; `config` takes names as they are
        (for names that hold underscores, such as `listener.name.sasl_ssl.ssl.client.auth`)."""
        overrides = {
            "listeners": "PLAINTEXT://127.0.0.1:0",
            "log.dirs": str(data_dir),
            "group.initial.rebalance.delay.ms": "0",
            "log.flush.offset.checkpoint.interval.ms": "60000",
            "metrics.port": "0",  # tests ask for a port (0 here means off) when they want metrics
        }
        overrides.update({k.replace("_", "."): v for k, v in settings.items()})
        overrides.update(config or {})
        self.config = BrokerConfig.load(None, overrides, environ={})
        self.node: BrokerNode | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def bootstrap_servers(self) -> str:
        assert self.node is not None, "broker not started"
        return f"127.0.0.1:{self.node.port}"

    def listener_port(self, name: str) -> int:
        """The bound port of a named listener (`SSL`, `SASL_SSL`...)."""
        assert self.node is not None, "broker not started"
        return self.node.ports[name.upper()]

    def bootstrap(self, listener: str) -> str:
        return f"127.0.0.1:{self.listener_port(listener)}"

    @property
    def port(self) -> int:
        assert self.node is not None
        return self.node.port

    def start(self) -> RunningBroker:
        ready: Future[None] = Future()
        self._loop = uvloop.new_event_loop()

        def run() -> None:
            assert self._loop is not None
            asyncio.set_event_loop(self._loop)
            self.node = BrokerNode(self.config)
            try:
                self._loop.run_until_complete(self.node.start())
            except BaseException as exc:
                ready.set_exception(exc)
                return
            ready.set_result(None)
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, name="riverlog-broker", daemon=True)
        self._thread.start()
        ready.result(timeout=30)
        return self

    def stop(self) -> None:
        if self._loop is None or self.node is None:
            return
        node, loop = self.node, self._loop
        asyncio.run_coroutine_threadsafe(node.stop(), loop).result(timeout=30)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=30)
        loop.close()
        self._loop = None

    def restart(self) -> RunningBroker:
        """Stop cleanly and start again on the same data (a new port)."""
        self.stop()
        assert self.node is not None
        self.config.explicit["listeners"] = ",".join(
            f"{listener.name}://{listener.host}:{self.node.ports[listener.name]}"
            for listener in self.node.plan.listeners
        )
        self.config = BrokerConfig.load(None, self.config.explicit, environ={})
        return self.start()

    def __enter__(self) -> RunningBroker:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
