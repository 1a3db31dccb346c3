"""The Schemas page against a real riverlog schema registry (Confluent's REST API) in headless Chromium:
subjects listed, a subject's versions with the diff between two, compatibility set from the page.

The registry lives on main (issue 15's branch); on a branch without it this module is skipped, and
runs once both are merged."""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Iterator

import httpx
import pytest
from confluent_kafka import Producer
from fastavro import parse_schema, schemaless_writer
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.select import Select
from selenium.webdriver.support.ui import WebDriverWait

from riverlog.common.service import HttpService
from riverlog.console.app import ConsoleSettings, build_app
from riverlog.testing.broker import RunningBroker

pytestmark = pytest.mark.integration
server_module = pytest.importorskip(
    "riverlog.registry.server", reason="no schema registry here yet"
)
SUBJECT = f"console-orders-{uuid.uuid4().hex[:6]}-value"
V1 = {"type": "record", "name": "Order", "fields": [{"name": "id", "type": "long"}]}
V2 = {
    "type": "record",
    "name": "Order",
    "fields": [{"name": "id", "type": "long"}, {"name": "note", "type": "string", "default": ""}],
}


IDS: list[int] = []


@pytest.fixture(scope="module")
def registry_url(broker: RunningBroker) -> Iterator[str]:
    topic = f"_schemas-{uuid.uuid4().hex[:8]}"
    props = {
        "listeners": "http://127.0.0.1:0",
        "host.name": "127.0.0.1",
        "kafkastore.bootstrap.servers": broker.bootstrap_servers,
        "kafkastore.topic": topic,
        "schema.registry.group.id": f"{topic}-group",
        "kafkastore.timeout.ms": "10000",
    }
    server = server_module.RegistryServer(props).start()
    try:
        for schema in (V1, V2):
            answer = httpx.post(
                f"{server.url}/subjects/{SUBJECT}/versions",
                json={"schema": json.dumps(schema)},
                headers={"Content-Type": "application/vnd.schemaregistry.v1+json"},
                timeout=20,
            )
            assert answer.status_code == 200, answer.text
            IDS.append(answer.json()["id"])
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="module")
def console(broker: RunningBroker, registry_url: str) -> Iterator[str]:
    settings = ConsoleSettings(broker.bootstrap_servers, registry_url=registry_url)
    with HttpService(build_app(settings), "127.0.0.1", 0, name="console") as service:
        yield service.url


def test_subjects_versions_diff_and_compatibility(
    chrome: webdriver.Chrome, console: str, registry_url: str
) -> None:
    chrome.get(console + "/schemas")
    assert SUBJECT in chrome.find_element(By.ID, "subjects").text
    chrome.find_element(By.LINK_TEXT, SUBJECT).click()
    assert '"note"' in chrome.find_element(By.ID, "schema").text  # the latest version
    diff = chrome.find_element(By.ID, "diff").text
    assert "+++ version 2" in diff and '+      "name": "note",' in diff
    level = Select(chrome.find_element(By.NAME, "level"))
    level.select_by_visible_text("FULL")
    chrome.find_element(By.CSS_SELECTOR, "form.row button").click()
    config = httpx.get(f"{registry_url}/config/{SUBJECT}", timeout=10).json()
    assert config["compatibilityLevel"] == "FULL"


def test_browser_decodes_avro_through_the_registry(
    chrome: webdriver.Chrome, console: str, broker: RunningBroker
) -> None:
    topic = SUBJECT.removesuffix("-value")
    payload = io.BytesIO()
    schemaless_writer(payload, parse_schema(V2), {"id": 4242, "note": "decoded by the console"})
    framed = b"\x00" + IDS[-1].to_bytes(4, "big") + payload.getvalue()
    producer = Producer({"bootstrap.servers": broker.bootstrap_servers})
    producer.produce(topic, framed, key=b"avro-key")
    assert producer.flush(10) == 0
    chrome.get(f"{console}/topics/{topic}")
    WebDriverWait(chrome, 15).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, "#message-rows tr.message")
    )
    value = chrome.find_element(By.CSS_SELECTOR, "#message-rows tr.message .value").text
    assert f"AVRO schema {IDS[-1]}" in value
    assert '"id": 4242' in value and '"note": "decoded by the console"' in value
