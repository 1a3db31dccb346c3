"""What a request handler sees: the broker's services and the request's own header."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from riverlog.broker.responses import ResponseSchema

if TYPE_CHECKING:
    from riverlog.broker.services import BrokerServices


@dataclass(slots=True)
class RequestContext:
    services: BrokerServices
    api_key: int
    api_version: int
    correlation_id: int
    client_id: str | None
    client_host: str
    schema: ResponseSchema

    @property
    def version(self) -> int:
        return self.api_version

    def build(self, class_name: str, **values: Any) -> Any:
        return getattr(self.schema, class_name)(**values)
