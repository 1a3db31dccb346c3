"""What the network floor knows of a handler: the `Handler` protocol a handler module satisfies, the
`HandlerSpec` naming one in the table (riverlog.broker.handlers.HANDLERS), and the answers it returns.

A handler module is a `Handler`: its API (`API_KEY`, `MIN_VERSION`, `MAX_VERSION`), its request type
(`REQUEST`, a view from `riverlog.protocol.messages.<api>`, or for Produce the codec's own typed
request) and `async def handle(ctx, request) -> answer | None`, the answer a view of the response or
one of the specialised codec's plain responses (Produce, Fetch). The dispatcher turns kio's decoded
body into the view and the view into kio's class for the client's version (riverlog.protocol.views).
Defined here, below the handlers, so the dispatcher never imports a handler module.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Protocol, TypeVar

from riverlog.protocol.fetch_response import FetchResponse
from riverlog.protocol.produce_response import ProduceResponse
from riverlog.protocol.views import Message

if TYPE_CHECKING:
    from riverlog.broker.network.context import RequestContext

Answer = Message | ProduceResponse | FetchResponse
RequestT = TypeVar("RequestT")
HANDLER_PACKAGE = "riverlog.broker.handlers"


class Handler(Protocol[RequestT]):
    """A handler module, as the dispatcher calls it."""

    @property
    def API_KEY(self) -> int: ...

    @property
    def MIN_VERSION(self) -> int: ...

    @property
    def MAX_VERSION(self) -> int: ...

    @property
    def REQUEST(self) -> type[RequestT] | None: ...

    async def handle(self, ctx: RequestContext, request: RequestT) -> Answer | None: ...


@dataclass(frozen=True, slots=True)
class HandlerSpec:
    """A handler module by name, with the API it serves; the module is imported by `load`."""

    # The handler modules' own constant names, so the dispatcher reads a spec and a module alike.
    name: str
    API_KEY: int
    MIN_VERSION: int
    MAX_VERSION: int

    def load(self) -> ModuleType:
        return importlib.import_module(f"{HANDLER_PACKAGE}.{self.name}")
