"""Every REST route of Kafka Connect against a standalone worker on a real broker, with httpx."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from riverlog.connect.api import SourceConnector, SourceRecord, SourceTask, Task
from riverlog.connect.standalone import ConnectStandalone
from riverlog.testing.broker import RunningBroker
from riverlog.testing.waiting import wait_until


class ExplodingConnector(SourceConnector):
    """A connector whose start raises: it must be FAILED with a trace, the worker unharmed."""

    def start(self, props: dict[str, str]) -> None:
        raise RuntimeError("boom at start")

    def task_class(self) -> type[Task]:
        return ExplodingTask

    def task_configs(self, max_tasks: int) -> list[dict[str, str]]:
        return [{}]


class ExplodingTask(SourceTask):
    def start(self, props: dict[str, str]) -> None:
        pass

    def poll(self) -> list[SourceRecord] | None:
        raise RuntimeError("boom in poll")


class PollFailsConnector(ExplodingConnector):
    def start(self, props: dict[str, str]) -> None:
        pass


@pytest.fixture(scope="module")
def worker(
    broker: RunningBroker, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ConnectStandalone]:
    tmp = tmp_path_factory.mktemp("connect")
    props = {
        "bootstrap.servers": broker.bootstrap_servers,
        "key.converter": "org.apache.kafka.connect.storage.StringConverter",
        "value.converter": "org.apache.kafka.connect.storage.StringConverter",
        "offset.storage.file.filename": str(tmp / "offsets"),
        "offset.flush.interval.ms": "200",
        "listeners": "http://127.0.0.1:0",
    }
    with ConnectStandalone(props) as running:
        yield running


@pytest.fixture
def http(worker: ConnectStandalone) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=worker.url, timeout=30) as client:
        yield client


def source_config(tmp_path: Path, topic: str) -> dict[str, str]:
    path = tmp_path / "in.txt"
    path.write_text("x\ny\n")
    return {"connector.class": "FileStreamSource", "file": str(path), "topic": topic}


def state(http: httpx.Client, name: str) -> str:
    return str(http.get(f"/connectors/{name}/status").json()["connector"]["state"])


def test_root(http: httpx.Client) -> None:
    info = wait_until(lambda: (r := http.get("/").json())["kafka_cluster_id"] and r)
    assert set(info) == {"version", "commit", "kafka_cluster_id"}


def test_create_read_update_delete(
    http: httpx.Client, tmp_path: Path, make_topic: Callable[..., str]
) -> None:
    topic = make_topic()
    config = source_config(tmp_path, topic)
    r = http.post("/connectors", json={"name": "crud", "config": config})
    assert r.status_code == 201
    assert r.json() == {
        "name": "crud",
        "config": {**config, "name": "crud"},
        "tasks": [{"connector": "crud", "task": 0}],
        "type": "source",
    }
    assert http.post("/connectors", json={"name": "crud", "config": config}).status_code == 409
    assert http.get("/connectors").json() == ["crud"]
    assert http.get("/connectors/crud").json()["type"] == "source"
    assert http.get("/connectors/crud/config").json() == {**config, "name": "crud"}
    tasks = http.get("/connectors/crud/tasks").json()
    assert tasks[0]["id"] == {"connector": "crud", "task": 0}
    assert tasks[0]["config"]["task.class"].endswith("FileStreamSourceTask")
    wait_until(lambda: state(http, "crud") == "RUNNING")
    assert http.get("/connectors/crud/tasks/0/status").json()["state"] == "RUNNING"
    assert http.get("/connectors/crud/tasks/7/status").status_code == 404
    expanded = http.get("/connectors", params=[("expand", "status"), ("expand", "info")]).json()
    assert set(expanded["crud"]) == {"status", "info"}
    assert expanded["crud"]["status"]["connector"]["state"] == "RUNNING"
    # PUT on an existing connector: 200; PATCH merges (null removes)
    r = http.put("/connectors/crud/config", json={**config, "batch.size": "10"})
    assert r.status_code == 200 and r.json()["config"]["batch.size"] == "10"
    r = http.patch("/connectors/crud/config", json={"batch.size": None, "tasks.max": "1"})
    assert r.status_code == 200 and "batch.size" not in r.json()["config"]
    assert http.delete("/connectors/crud").status_code == 204
    r = http.get("/connectors/crud")
    assert r.status_code == 404 and r.json() == {
        "error_code": 404,
        "message": "Connector crud not found",
    }


def test_put_creates_with_201(
    http: httpx.Client, tmp_path: Path, make_topic: Callable[..., str]
) -> None:
    r = http.put("/connectors/via-put/config", json=source_config(tmp_path, make_topic()))
    assert r.status_code == 201
    r = http.put(
        "/connectors/via-put/config", json={**source_config(tmp_path, "t"), "name": "other"}
    )
    assert r.status_code == 400
    http.delete("/connectors/via-put")


def test_invalid_config_is_refused_naming_each_key_and_never_half_created(
    http: httpx.Client,
) -> None:
    r = http.post(
        "/connectors",
        json={
            "name": "bad",
            "config": {
                "connector.class": "FileStreamSink",
                "tasks.max": "-1",
                "errors.tolerance": "most",
            },
        },
    )
    assert r.status_code == 400
    body = r.json()
    assert body["error_code"] == 400
    assert "contains the following 4 error(s)" in body["message"]
    for key in ("tasks.max", "errors.tolerance", "topics", "topics.regex"):
        assert key in body["message"]
    assert http.get("/connectors/bad").status_code == 404
    r = http.post(
        "/connectors", json={"name": "bad2", "config": {"connector.class": "NoSuchConnector"}}
    )
    assert r.status_code == 400 and "NoSuchConnector" in r.json()["message"]
    assert (
        http.post(
            "/connectors", content=b"{not json", headers={"content-type": "application/json"}
        ).status_code
        == 400
    )


def test_initial_state_pause_resume_stop_restart(
    http: httpx.Client, tmp_path: Path, make_topic: Callable[..., str]
) -> None:
    r = http.post(
        "/connectors",
        json={
            "name": "life",
            "config": source_config(tmp_path, make_topic()),
            "initial_state": "PAUSED",
        },
    )
    assert r.status_code == 201
    wait_until(lambda: state(http, "life") == "PAUSED")
    assert http.put("/connectors/life/resume").status_code == 202
    wait_until(
        lambda: (
            state(http, "life") == "RUNNING"
            and http.get("/connectors/life/status").json()["tasks"][0]["state"] == "RUNNING"
        )
    )
    assert http.put("/connectors/life/pause").status_code == 202
    wait_until(lambda: http.get("/connectors/life/status").json()["tasks"][0]["state"] == "PAUSED")
    assert http.put("/connectors/life/resume").status_code == 202
    assert http.post("/connectors/life/restart").status_code == 204
    r = http.post("/connectors/life/restart", params={"includeTasks": "true"})
    assert r.status_code == 202
    assert (
        r.json()["connector"]["state"] == "RESTARTING"
        and r.json()["tasks"][0]["state"] == "RESTARTING"
    )
    wait_until(lambda: state(http, "life") == "RUNNING")
    assert http.post("/connectors/life/tasks/0/restart").status_code == 204
    assert http.post("/connectors/life/tasks/5/restart").status_code == 404
    assert http.post("/connectors/life/restart", params={"onlyFailed": "maybe"}).status_code == 400
    assert http.put("/connectors/life/stop").status_code == 202
    wait_until(lambda: state(http, "life") == "STOPPED")
    assert http.get("/connectors/life/status").json()["tasks"] == []
    assert http.get("/connectors/life/tasks").json() == []
    assert http.put("/connectors/life/resume").status_code == 202
    wait_until(
        lambda: (
            state(http, "life") == "RUNNING" and len(http.get("/connectors/life/tasks").json()) == 1
        )
    )
    http.delete("/connectors/life")


def test_source_offsets_only_while_stopped(
    http: httpx.Client, tmp_path: Path, make_topic: Callable[..., str]
) -> None:
    config = source_config(tmp_path, make_topic())
    http.post("/connectors", json={"name": "offs", "config": config})
    partition = {"filename": config["file"]}
    wait_until(
        lambda: (
            http.get("/connectors/offs/offsets").json()["offsets"]
            == [{"partition": partition, "offset": {"position": 4}}]
        )
    )
    r = http.patch(
        "/connectors/offs/offsets",
        json={"offsets": [{"partition": partition, "offset": {"position": 2}}]},
    )
    assert r.status_code == 400 and "STOPPED" in r.json()["message"]
    assert http.delete("/connectors/offs/offsets").status_code == 400
    http.put("/connectors/offs/stop")
    wait_until(lambda: state(http, "offs") == "STOPPED")
    r = http.patch(
        "/connectors/offs/offsets",
        json={"offsets": [{"partition": partition, "offset": {"position": 2}}]},
    )
    assert r.status_code == 200 and r.json() == {
        "message": "The offsets for this connector have been altered successfully"
    }
    assert http.get("/connectors/offs/offsets").json()["offsets"] == [
        {"partition": partition, "offset": {"position": 2}}
    ]
    r = http.delete("/connectors/offs/offsets")
    assert r.json() == {"message": "The offsets for this connector have been reset successfully"}
    assert http.get("/connectors/offs/offsets").json() == {"offsets": []}
    http.delete("/connectors/offs")


def test_sink_offsets_and_topics(
    http: httpx.Client, tmp_path: Path, make_topic: Callable[..., str], broker: RunningBroker
) -> None:
    from confluent_kafka import Producer

    topic = make_topic()
    producer = Producer({"bootstrap.servers": broker.bootstrap_servers})
    for i in range(5):
        producer.produce(topic, value=f"v{i}".encode())
    producer.flush(10)
    out = tmp_path / "out.txt"
    http.post(
        "/connectors",
        json={
            "name": "snk",
            "config": {"connector.class": "FileStreamSink", "file": str(out), "topics": topic},
        },
    )
    wait_until(lambda: out.exists() and len(out.read_text().splitlines()) == 5)
    wait_until(
        lambda: (
            http.get("/connectors/snk/offsets").json()["offsets"]
            == [
                {
                    "partition": {"kafka_topic": topic, "kafka_partition": 0},
                    "offset": {"kafka_offset": 5},
                }
            ]
        )
    )
    assert http.get("/connectors/snk/topics").json() == {"snk": {"topics": [topic]}}
    assert http.put("/connectors/snk/topics/reset").status_code == 202
    http.put("/connectors/snk/stop")
    wait_until(lambda: state(http, "snk") == "STOPPED")
    assert http.get("/connectors/snk/topics").json() == {"snk": {"topics": []}}
    r = http.patch(
        "/connectors/snk/offsets",
        json={
            "offsets": [
                {
                    "partition": {"kafka_topic": topic, "kafka_partition": 0},
                    "offset": {"kafka_offset": 3},
                }
            ]
        },
    )
    assert r.status_code == 200
    assert http.get("/connectors/snk/offsets").json()["offsets"][0]["offset"] == {"kafka_offset": 3}
    http.put("/connectors/snk/resume")
    wait_until(
        lambda: len(out.read_text().splitlines()) == 7
    )  # v3 and v4 again, from the altered offset
    http.delete("/connectors/snk")


def test_failed_start_and_failed_task_report_traces(http: httpx.Client) -> None:
    r = http.post(
        "/connectors",
        json={"name": "explodes", "config": {"connector.class": f"{__name__}.ExplodingConnector"}},
    )
    assert r.status_code == 201
    status = wait_until(
        lambda: (
            (s := http.get("/connectors/explodes/status").json())["connector"]["state"] == "FAILED"
            and s
        )
    )
    assert "boom at start" in status["connector"]["trace"]
    http.post(
        "/connectors",
        json={"name": "pollfails", "config": {"connector.class": f"{__name__}.PollFailsConnector"}},
    )
    task = wait_until(
        lambda: (
            (s := http.get("/connectors/pollfails/tasks/0/status").json()).get("state") == "FAILED"
            and s
        )
    )
    assert "boom in poll" in task["trace"]
    assert http.get("/").status_code == 200  # the worker carries on
    r = http.post(
        "/connectors/pollfails/restart", params={"includeTasks": "true", "onlyFailed": "true"}
    )
    assert r.status_code == 202
    assert (
        r.json()["connector"]["state"] == "RUNNING"
        and r.json()["tasks"][0]["state"] == "RESTARTING"
    )
    http.delete("/connectors/explodes")
    http.delete("/connectors/pollfails")


def test_plugins_config_and_validate(http: httpx.Client) -> None:
    plugins = http.get("/connector-plugins").json()
    classes = {p["class"]: p["type"] for p in plugins}
    assert classes["org.apache.kafka.connect.file.FileStreamSourceConnector"] == "source"
    assert all(t in ("source", "sink") for t in classes.values())
    everything = http.get("/connector-plugins", params={"connectorsOnly": "false"}).json()
    assert any(p["type"] == "converter" for p in everything)
    keys = http.get("/connector-plugins/FileStreamSource/config").json()
    assert {k["name"] for k in keys} == {"file", "topic", "batch.size"}
    assert http.get("/connector-plugins/Nope/config").status_code == 404
    r = http.put(
        "/connector-plugins/FileStreamSink/config/validate", json={"topics": "a", "tasks.max": "x"}
    )
    assert r.status_code == 200
    body = r.json()
    assert body["name"] == "org.apache.kafka.connect.file.FileStreamSinkConnector"
    assert body["error_count"] == 2  # tasks.max, and name (required)
    bad = {c["value"]["name"] for c in body["configs"] if c["value"]["errors"]}
    assert bad == {"tasks.max", "name"}
    assert "Common" in body["groups"]
    r = http.put(
        "/connector-plugins/FileStreamSink/config/validate",
        json={"connector.class": "FileStreamSource", "name": "x"},
    )
    assert r.status_code == 400


def test_admin_loggers(http: httpx.Client) -> None:
    loggers = http.get("/admin/loggers").json()
    assert "root" in loggers and "level" in loggers["root"]
    r = http.put("/admin/loggers/riverlog.connect.worker_tasks", json={"level": "DEBUG"})
    assert r.status_code == 200 and "riverlog.connect.worker_tasks" in r.json()
    assert http.get("/admin/loggers/riverlog.connect.worker_tasks").json()["level"] == "DEBUG"
    http.put("/admin/loggers/riverlog.connect.worker_tasks", json={"level": "WARN"})
    assert http.get("/admin/loggers/riverlog.connect.worker_tasks").json()["level"] == "WARN"
    assert http.put("/admin/loggers/x", json={}).status_code == 400
    assert http.get("/admin/loggers/no.such.logger.here").status_code == 404


def test_unknown_route_is_kafka_shaped(http: httpx.Client) -> None:
    r = http.get("/no/such/route")
    assert r.status_code == 404 and r.json()["error_code"] == 404


def test_sink_with_topics_regex(
    http: httpx.Client, tmp_path: Path, make_topic: Callable[..., str], broker: RunningBroker
) -> None:
    from confluent_kafka import Producer

    prefix = f"rx{int(time.monotonic() * 1000)}"
    topics = [make_topic(prefix=prefix), make_topic(prefix=prefix)]
    producer = Producer({"bootstrap.servers": broker.bootstrap_servers})
    for t in topics:
        producer.produce(t, value=t.encode())
    producer.flush(10)
    out = tmp_path / "out.txt"
    config = {"connector.class": "FileStreamSink", "file": str(out), "topics.regex": f"{prefix}-.*"}
    assert http.post("/connectors", json={"name": "rx", "config": config}).status_code == 201
    wait_until(lambda: out.exists() and sorted(out.read_text().splitlines()) == sorted(topics))
    assert http.get("/connectors/rx/topics").json() == {"rx": {"topics": sorted(topics)}}
    both = http.post("/connectors", json={"name": "rx2", "config": {**config, "topics": topics[0]}})
    assert both.status_code == 400 and "mutually exclusive" in both.json()["message"]
    http.delete("/connectors/rx")


def test_metrics_count_connectors_tasks_and_requests(
    worker: ConnectStandalone, http: httpx.Client, tmp_path: Path, make_topic: Callable[..., str]
) -> None:
    from riverlog.testing.scrape import scrape, value

    before = scrape(worker.url)
    assert value(before, "process_cpu_seconds_total") > 0
    worker_prefix = "kafka_connect_connect_worker_metrics_"
    config = source_config(tmp_path, make_topic())
    assert http.post("/connectors", json={"name": "metered", "config": config}).status_code == 201
    wait_until(lambda: state(http, "metered") == "RUNNING")
    after = scrape(worker.url)
    assert value(after, worker_prefix + "connector_count") == (
        value(before, worker_prefix + "connector_count") + 1
    )
    assert (
        value(after, worker_prefix + "task_count")
        == value(before, worker_prefix + "task_count") + 1
    )
    assert (
        value(
            after, "kafka_connect_connector_metrics_status", connector="metered", status="running"
        )
        == 1
    )
    posts = value(after, "kafka_connect_rest_request_total", method="POST", status="201")
    assert (
        posts == value(before, "kafka_connect_rest_request_total", method="POST", status="201") + 1
    )
    assert http.delete("/connectors/metered").status_code == 204
    gone = scrape(worker.url)
    assert value(gone, worker_prefix + "connector_count") == value(
        before, worker_prefix + "connector_count"
    )


def test_internal_task_configs_endpoint_is_distributed_only(http: httpx.Client) -> None:
    """POST /connectors/{c}/tasks is how a distributed follower hands task configs to the leader; a
    standalone worker writes its own and answers 404 with Kafka's error shape."""
    r = http.post("/connectors/any/tasks", json=[{"k": "v"}])
    assert r.status_code == 404
    assert r.json()["error_code"] == 404 and "message" in r.json()
