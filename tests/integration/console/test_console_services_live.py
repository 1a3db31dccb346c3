"""The console's Connect and SQL pages in a real headless Chromium against riverlog's own running
Connect worker and SQL server (and a real broker): a connector created from the form built from its
plugin's config definition (a bad value shown next to its field), running with its per-task record
counters (from the worker's /metrics), paused, resumed and deleted from the page, its records read
back with confluent-kafka; a sink connector's read/put counters; a stream created, listed and queried
(push query rows shown as a table) and a persistent query listed, from the SQL editor."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from confluent_kafka import Consumer, Producer
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.select import Select
from selenium.webdriver.support.ui import WebDriverWait

from riverlog.common.service import HttpService
from riverlog.connect.standalone import ConnectStandalone
from riverlog.console.app import ConsoleSettings, build_app
from riverlog.sql.server.server import SqlServer
from riverlog.testing.broker import RunningBroker

pytestmark = pytest.mark.integration
RUN = uuid.uuid4().hex[:6]
SOURCE_CLASS = "org.apache.kafka.connect.file.FileStreamSourceConnector"
SINK_CLASS = "org.apache.kafka.connect.file.FileStreamSinkConnector"


@pytest.fixture(scope="module")
def worker(
    broker: RunningBroker, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ConnectStandalone]:
    tmp = tmp_path_factory.mktemp("console-connect")
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


@pytest.fixture(scope="module")
def sql_server(
    broker: RunningBroker, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SqlServer]:
    server = SqlServer(
        {
            "listeners": "http://127.0.0.1:0",
            "bootstrap.servers": broker.bootstrap_servers,
            "ksql.service.id": f"console_{RUN}_",
            "ksql.streams.state.dir": str(tmp_path_factory.mktemp("console-sql")),
            "ksql.streams.auto.offset.reset": "earliest",
            "ksql.streams.commit.interval.ms": "200",
            "ksql.streams.cache.max.bytes.buffering": "0",
        }
    )
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def console(
    broker: RunningBroker, worker: ConnectStandalone, sql_server: SqlServer
) -> Iterator[str]:
    settings = ConsoleSettings(
        broker.bootstrap_servers, connect_url=worker.url, sql_url=sql_server.url
    )
    with HttpService(build_app(settings), "127.0.0.1", 0, name="console") as service:
        yield service.url


def wait(chrome: webdriver.Chrome, seconds: float = 30) -> WebDriverWait[webdriver.Chrome]:
    return WebDriverWait(chrome, seconds)


def connector_row(chrome: webdriver.Chrome, name: str) -> Any:
    return chrome.find_element(By.XPATH, f"//table[@id='connectors']//tr[td[1][text()='{name}']]")


def reload_until(chrome: webdriver.Chrome, url: str, check: Any, timeout: float = 30.0) -> Any:
    """Load `url` again until `check(chrome)` is truthy (Connect's status and counters move on
    their own)."""
    deadline = time.monotonic() + timeout
    while True:
        chrome.get(url)
        try:
            found = check(chrome)
        except Exception:
            found = None
        if found:
            return found
        assert time.monotonic() < deadline, f"{url}: condition not met in {timeout} s"
        time.sleep(0.5)


def counter(chrome: webdriver.Chrome, name: str, label: str) -> int | None:
    cells = connector_row(chrome, name).find_elements(
        By.CSS_SELECTOR, f".task[data-task='0'] .counter[data-counter='{label}']"
    )
    return int(cells[0].text) if cells else None


def read_values(broker: RunningBroker, topic: str, count: int) -> list[bytes]:
    consumer = Consumer(
        {
            "bootstrap.servers": broker.bootstrap_servers,
            "group.id": f"check-{RUN}-{topic}",
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe([topic])
    values: list[bytes] = []
    deadline = time.monotonic() + 30
    try:
        while len(values) < count and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is not None and message.error() is None:
                values.append(message.value())
    finally:
        consumer.close()
    return values


def test_a_connector_made_from_the_form_runs_with_task_counters(
    chrome: webdriver.Chrome, console: str, broker: RunningBroker, tmp_path: Path
) -> None:
    name, topic = f"lines-{RUN}", f"lines-{RUN}"
    source_file = tmp_path / "lines.txt"
    source_file.write_text("".join(f"line {i}\n" for i in range(25)))

    chrome.get(console + "/connect")
    assert chrome.find_element(By.TAG_NAME, "h1").text == "Connect"
    Select(chrome.find_element(By.NAME, "plugin")).select_by_visible_text(SOURCE_CLASS)
    chrome.find_element(By.XPATH, "//form[@action='/connect']//button[text()='Configure']").click()
    form = wait(chrome).until(lambda d: d.find_element(By.ID, "connector-form"))
    form.find_element(By.NAME, "name").send_keys(name)
    form.find_element(By.NAME, "cfg:file").send_keys(str(source_file))
    form.find_element(By.NAME, "cfg:topic").send_keys("two,topics")  # one topic only
    form.find_element(By.XPATH, ".//button[text()='Create']").click()
    field = wait(chrome).until(lambda d: d.find_element(By.NAME, "cfg:topic"))
    errors = field.find_elements(By.XPATH, "following-sibling::div[@class='error']")
    assert errors and errors[0].text  # the plugin's validation message, next to the field
    assert not chrome.find_elements(By.XPATH, f"//table[@id='connectors']//td[text()='{name}']")

    field.clear()
    field.send_keys(topic)
    chrome.find_element(By.XPATH, "//form[@id='connector-form']//button[text()='Create']").click()
    wait(chrome).until(lambda d: f"created {name}" in d.find_element(By.ID, "message").text)
    assert reload_until(chrome, console + "/connect", lambda d: counter(d, name, "polled") == 25)
    row = connector_row(chrome, name)
    assert "RUNNING" in row.text and "#0 RUNNING" in row.text
    assert reload_until(chrome, console + "/connect", lambda d: counter(d, name, "written") == 25)
    assert read_values(broker, topic, 25)[:2] == [b"line 0", b"line 1"]

    # pause, resume and (confirmed) delete from the page
    connector_row(chrome, name).find_element(By.XPATH, ".//button[text()='pause']").click()
    assert reload_until(
        chrome, console + "/connect", lambda d: "PAUSED" in connector_row(d, name).text
    )
    connector_row(chrome, name).find_element(By.XPATH, ".//button[text()='resume']").click()
    assert reload_until(
        chrome, console + "/connect", lambda d: "#0 RUNNING" in connector_row(d, name).text
    )
    row = connector_row(chrome, name)
    row.find_element(By.NAME, "confirm").send_keys(name)
    row.find_element(By.XPATH, ".//button[text()='delete']").click()
    wait(chrome).until(lambda d: f"delete {name}" in d.find_element(By.ID, "message").text)
    assert not chrome.find_elements(By.XPATH, f"//table[@id='connectors']//td[text()='{name}']")


def test_a_sink_connector_shows_read_and_put_counters(
    chrome: webdriver.Chrome,
    console: str,
    broker: RunningBroker,
    worker: ConnectStandalone,
    tmp_path: Path,
) -> None:
    name, topic = f"dump-{RUN}", f"dump-in-{RUN}"
    producer = Producer({"bootstrap.servers": broker.bootstrap_servers})
    for i in range(12):
        producer.produce(topic, f"event {i}".encode())
    assert producer.flush(30) == 0
    out = tmp_path / "out.txt"
    chrome.get(f"{console}/connect?plugin={SINK_CLASS}")
    form = wait(chrome).until(lambda d: d.find_element(By.ID, "connector-form"))
    form.find_element(By.NAME, "name").send_keys(name)
    form.find_element(By.NAME, "cfg:file").send_keys(str(out))
    form.find_element(By.NAME, "cfg:topics").send_keys(topic)
    form.find_element(By.XPATH, ".//button[text()='Create']").click()
    wait(chrome).until(lambda d: f"created {name}" in d.find_element(By.ID, "message").text)
    assert reload_until(chrome, console + "/connect", lambda d: counter(d, name, "put") == 12)
    assert counter(chrome, name, "read") == 12
    scraped = httpx.get(worker.url + "/metrics").text  # Kafka Connect's metric names
    assert (
        f'kafka_connect_sink_task_metrics_sink_record_read_total{{connector="{name}",task="0"}} 12.0'
        in scraped
    )
    deadline = time.monotonic() + 30
    while out.read_text().count("\n") < 12 if out.exists() else True:
        assert time.monotonic() < deadline, "the sink never wrote its file"
        time.sleep(0.3)
    assert out.read_text().splitlines()[0] == "event 0"


def run_sql(chrome: webdriver.Chrome, statement: str) -> str:
    """Run `statement` from the editor; the result htmx puts under it (waits for a new one)."""
    chrome.execute_script("document.getElementById('sql-result').innerHTML = ''")
    editor = chrome.find_element(By.ID, "sql-editor")
    editor.clear()
    editor.send_keys(statement)
    chrome.find_element(By.ID, "sql-run").click()
    return str(wait(chrome).until(lambda d: d.find_element(By.ID, "sql-result").text))


def test_the_sql_editor_creates_lists_and_queries_streams(
    chrome: webdriver.Chrome, console: str, broker: RunningBroker
) -> None:
    stream, topic = f"CLICKS_{RUN.upper()}", f"clicks-{RUN}"
    chrome.get(console + "/sql")
    assert chrome.find_element(By.TAG_NAME, "h1").text == "SQL"
    answer = run_sql(
        chrome,
        f"CREATE STREAM {stream} (USER_ID STRING KEY, PAGE STRING) "
        f"WITH (kafka_topic='{topic}', value_format='JSON', partitions=1);",
    )
    assert "Stream created" in answer
    producer = Producer({"bootstrap.servers": broker.bootstrap_servers})
    for user, page in (("u1", "/home"), ("u2", "/cart"), ("u1", "/pay")):
        producer.produce(topic, key=user.encode(), value=f'{{"PAGE": "{page}"}}'.encode())
    assert producer.flush(30) == 0

    run_sql(chrome, f"SELECT USER_ID, PAGE FROM {stream} EMIT CHANGES LIMIT 3;")
    table = wait(chrome).until(lambda d: d.find_element(By.ID, "sql-rows"))
    rows = [
        [td.text for td in tr.find_elements(By.TAG_NAME, "td")]
        for tr in table.find_elements(By.TAG_NAME, "tr")[1:]
    ]
    assert rows == [["u1", "/home"], ["u2", "/cart"], ["u1", "/pay"]]
    assert [th.text for th in table.find_elements(By.TAG_NAME, "th")] == ["USER_ID", "PAGE"]

    answer = run_sql(
        chrome,
        f"CREATE STREAM {stream}_PAY AS SELECT * FROM {stream} WHERE PAGE = '/pay' EMIT CHANGES;",
    )
    assert "SUCCESS" in answer or "Created query" in answer
    chrome.get(console + "/sql")
    assert stream in chrome.find_element(By.ID, "sql-streams").text
    assert f"{stream}_PAY" in chrome.find_element(By.ID, "sql-streams").text
    assert f"{stream}_PAY" in chrome.find_element(By.ID, "sql-queries").text.upper()
    assert read_values(broker, f"{stream}_PAY", 1) == [b'{"PAGE":"/pay"}']

    error = run_sql(chrome, "SELEKT nonsense;")
    assert error  # the server's error, shown inline
    assert chrome.find_elements(By.CSS_SELECTOR, "#sql-result .error")
