"""A datagen source (Confluent's `io.confluent.kafka.connect.datagen.DatagenConnector` keys): quickstart
data sets — `users`, `pageviews`, `orders` — so labs and the console have live data without external
systems.

Deterministic: record *n* of a task is drawn from a generator seeded with (`random.seed`, task, n), so the
same seed gives the same records, and a restarted task resumes at its stored `current.iteration` with the
very records it would have produced. Rate-limited: after each record the task sleeps a seeded random time
up to `max.interval` ms (0: as fast as possible); `iterations` caps the count (-1: unbounded).
Source partition `{"task.id": <n>}`, offset `{"random.seed": s, "current.iteration": n, "task.generation": 0}`.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from typing import Any

from riverlog.common.configdef import ConfigDef, Importance, Type, one_of
from riverlog.connect import data as d
from riverlog.connect.api import SourceConnector, SourceRecord, SourceTask, Task, partition_key
from riverlog.connect.data import Schema, SchemaBuilder, Struct

QUICKSTARTS = ("users", "pageviews", "orders")

USERS = (
    SchemaBuilder.struct()
    .name("ksql.users")
    .field("registertime", d.INT64_SCHEMA)
    .field("userid", d.STRING_SCHEMA)
    .field("regionid", d.STRING_SCHEMA)
    .field("gender", d.STRING_SCHEMA)
    .build()
)
PAGEVIEWS = (
    SchemaBuilder.struct()
    .name("ksql.pageviews")
    .field("viewtime", d.INT64_SCHEMA)
    .field("userid", d.STRING_SCHEMA)
    .field("pageid", d.STRING_SCHEMA)
    .build()
)
ADDRESS = (
    SchemaBuilder.struct()
    .name("ksql.address")
    .field("city", d.STRING_SCHEMA)
    .field("state", d.STRING_SCHEMA)
    .field("zipcode", d.INT64_SCHEMA)
    .build()
)
ORDERS = (
    SchemaBuilder.struct()
    .name("ksql.orders")
    .field("ordertime", d.INT64_SCHEMA)
    .field("orderid", d.INT32_SCHEMA)
    .field("itemid", d.STRING_SCHEMA)
    .field("orderunits", d.FLOAT64_SCHEMA)
    .field("address", ADDRESS)
    .build()
)
_BASE_TIME = 1_487_715_775_521


def _users(rng: random.Random, n: int) -> tuple[str, Struct]:
    user = f"User_{rng.randint(1, 9)}"
    s = (
        Struct(USERS)
        .put("registertime", _BASE_TIME + rng.randint(0, 10_000_000_000))
        .put("userid", user)
    )
    s.put("regionid", f"Region_{rng.randint(1, 9)}").put(
        "gender", rng.choice(("MALE", "FEMALE", "OTHER"))
    )
    return user, s


def _pageviews(rng: random.Random, n: int) -> tuple[str, Struct]:
    s = (
        Struct(PAGEVIEWS)
        .put("viewtime", n + 1)
        .put("userid", f"User_{rng.randint(1, 9)}")
        .put("pageid", f"Page_{rng.randint(1, 99)}")
    )
    return str(n + 1), s


def _orders(rng: random.Random, n: int) -> tuple[str, Struct]:
    city, state = rng.choice(
        (("City_1", "State_1"), ("City_2", "State_2"), ("City_3", "State_3"), ("City_4", "State_4"))
    )
    address = (
        Struct(ADDRESS)
        .put("city", city)
        .put("state", state)
        .put("zipcode", rng.randint(10000, 99999))
    )
    s = (
        Struct(ORDERS)
        .put("ordertime", _BASE_TIME + n * 1000 + rng.randint(0, 999))
        .put("orderid", n)
    )
    s.put("itemid", f"Item_{rng.randint(1, 999)}").put(
        "orderunits", round(rng.uniform(0.1, 10.0), 4)
    ).put("address", address)
    return str(n), s


GENERATORS: dict[str, tuple[Schema, Callable[[random.Random, int], tuple[str, Struct]]]] = {
    "users": (USERS, _users),
    "pageviews": (PAGEVIEWS, _pageviews),
    "orders": (ORDERS, _orders),
}

CONFIG_DEF = (
    ConfigDef()
    .define("kafka.topic", Type.STRING, None, None, Importance.HIGH, "Topic to write to")
    .define(
        "max.interval", Type.LONG, 500, None, Importance.HIGH, "Max interval between messages (ms)"
    )
    .define(
        "iterations",
        Type.INT,
        -1,
        None,
        Importance.HIGH,
        "Number of messages to send from each task, or less than 1 for unlimited",
    )
    .define(
        "quickstart",
        Type.STRING,
        "users",
        one_of(*QUICKSTARTS, case_sensitive=False),
        Importance.HIGH,
        "Name of quickstart to use",
    )
    .define(
        "random.seed",
        Type.LONG,
        None,
        None,
        Importance.LOW,
        "Numeric seed for generating random data. Two connectors started with the same seed will deterministically produce the same data.",
    )
    .define(
        "schema.keyfield",
        Type.STRING,
        "",
        None,
        Importance.LOW,
        "Name of field to use as the message key",
    )
    .define(
        "schema.filename",
        Type.STRING,
        "",
        None,
        Importance.LOW,
        "Not supported: Avro schema files (use quickstart)",
    )
    .define(
        "schema.string",
        Type.STRING,
        "",
        None,
        Importance.LOW,
        "Not supported: Avro schema strings (use quickstart)",
    )
)


class DatagenConnector(SourceConnector):
    config_def = CONFIG_DEF

    def validate(self, props: Any) -> dict[str, list[str]]:
        errors = super().validate(props)
        if not props.get("kafka.topic"):
            errors["kafka.topic"].append(
                'Missing required configuration "kafka.topic" which has no default value.'
            )
        for key in ("schema.filename", "schema.string"):
            if props.get(key):
                errors[key].append(f"{key} is not supported by riverlog's datagen: use quickstart")
        return errors

    def start(self, props: dict[str, str]) -> None:
        self.props = dict(props)

    def task_class(self) -> type[Task]:
        return DatagenTask

    def task_configs(self, max_tasks: int) -> list[dict[str, str]]:
        return [{**self.props, "task.id": str(i)} for i in range(max_tasks)]


class DatagenTask(SourceTask):
    def start(self, props: dict[str, str]) -> None:
        cfg = CONFIG_DEF.parse(
            {k: v for k, v in props.items() if k in CONFIG_DEF}, allow_unknown=True
        )
        self.topic = cfg["kafka.topic"]
        self.max_interval = int(cfg["max.interval"])
        self.iterations = int(cfg["iterations"])
        self.seed = (
            cfg["random.seed"]
            if cfg["random.seed"] is not None
            else random.SystemRandom().randint(0, 2**31)
        )
        self.task_id = int(props.get("task.id", "0"))
        self.schema, self.generate = GENERATORS[cfg["quickstart"].lower()]
        self.partition = {"task.id": self.task_id}
        stored = self.context.offset_storage_reader.offsets([self.partition]).get(
            partition_key(self.partition)
        )
        self.count = int(stored.get("current.iteration", 0)) if stored else 0
        if stored and stored.get("random.seed") is not None and cfg["random.seed"] is None:
            self.seed = int(stored["random.seed"])
        self._stop = threading.Event()

    def poll(self) -> list[SourceRecord] | None:
        if 0 < self.iterations <= self.count:
            self._stop.wait(1.0)
            return None
        n = self.count
        rng = random.Random(f"{self.seed}:{self.task_id}:{n}")
        key, value = self.generate(rng, n)
        self.count += 1
        offset = {"random.seed": self.seed, "current.iteration": self.count, "task.generation": 0}
        record = SourceRecord(
            self.topic,
            None,
            d.STRING_SCHEMA,
            key,
            self.schema,
            value,
            None,
            (),
            self.partition,
            offset,
        )
        if self.max_interval > 0:
            self._stop.wait(rng.random() * self.max_interval / 1000)
        return [record]

    def stop(self) -> None:
        self._stop.set()
