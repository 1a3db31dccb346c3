"""The console in a real headless Chromium against a real broker: every page loads; the topics page lists
(and searches) the topics this module created; the message browser finds a record by key; a record
produced from the page is read by a real confluent-kafka consumer; the group page shows its lag, and a
confirmed offset reset changes the group's committed offsets; --read-only hides and refuses writes."""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.select import Select
from selenium.webdriver.support.ui import WebDriverWait

from riverlog.common.service import HttpService
from riverlog.console.app import ConsoleSettings, build_app
from riverlog.testing.broker import RunningBroker

pytestmark = pytest.mark.integration
RUN = uuid.uuid4().hex[:6]
TOPIC = f"console-orders-{RUN}"
OTHER = f"console-audit-{RUN}"
GROUP = f"console-group-{RUN}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningBroker, int]]:
    """A broker with two topics (200 records with keys key-0..key-199 in TOPIC's 2 partitions) and a
    group that consumed and committed 50 records of partition 0 and none of partition 1."""
    metrics = free_port()
    with RunningBroker(tmp_path_factory.mktemp("console"), metrics_port=str(metrics)) as broker:
        admin = AdminClient({"bootstrap.servers": broker.bootstrap_servers})
        futures = admin.create_topics([NewTopic(TOPIC, 2, 1), NewTopic(OTHER, 1, 1)])
        for future in futures.values():
            future.result(10)
        producer = Producer({"bootstrap.servers": broker.bootstrap_servers, "linger.ms": 5})
        for i in range(200):
            producer.produce(
                TOPIC,
                key=f"key-{i}".encode(),
                value=f'{{"order": {i}, "item": "widget"}}'.encode(),
                partition=i % 2,
                headers=[("source", b"test")],
            )
        assert producer.flush(10) == 0
        consumer = Consumer(
            {
                "bootstrap.servers": broker.bootstrap_servers,
                "group.id": GROUP,
                "enable.auto.commit": False,
            }
        )
        consumer.commit(
            offsets=[TopicPartition(TOPIC, 0, 50), TopicPartition(TOPIC, 1, 0)], asynchronous=False
        )
        consumer.close()
        yield broker, metrics


@pytest.fixture(scope="module")
def console(cluster: tuple[RunningBroker, int]) -> Iterator[str]:
    broker, metrics = cluster
    settings = ConsoleSettings(
        broker.bootstrap_servers, metrics_urls=[f"http://127.0.0.1:{metrics}/metrics"]
    )
    with HttpService(build_app(settings), "127.0.0.1", 0, name="console") as service:
        yield service.url


def wait(chrome: webdriver.Chrome, seconds: float = 15) -> WebDriverWait[webdriver.Chrome]:
    return WebDriverWait(chrome, seconds)


def committed(broker: RunningBroker) -> dict[int, int]:
    admin = AdminClient({"bootstrap.servers": broker.bootstrap_servers})
    answer = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(GROUP)])[GROUP].result(
        10
    )
    return {tp.partition: tp.offset for tp in answer.topic_partitions if tp.topic == TOPIC}


@pytest.mark.parametrize(
    ("path", "heading"),
    [
        ("/", "Overview"),
        ("/topics", "Topics"),
        ("/groups", "Consumer groups"),
        ("/connect", "Connect"),
        ("/sql", "SQL"),
        ("/schemas", "Schemas"),
    ],
)
def test_each_page_loads(chrome: webdriver.Chrome, console: str, path: str, heading: str) -> None:
    chrome.get(console + path)
    assert chrome.find_element(By.TAG_NAME, "h1").text == heading
    assert not chrome.find_elements(By.ID, "error")
    if path in ("/connect", "/sql", "/schemas"):
        assert "service not configured" in chrome.find_element(By.ID, "not-configured").text


def test_overview_counts_the_cluster_and_draws_throughput(
    chrome: webdriver.Chrome, console: str
) -> None:
    chrome.get(console + "/")
    assert chrome.find_element(By.ID, "stat-brokers").text == "1"
    assert int(chrome.find_element(By.ID, "stat-topics").text) >= 2
    assert chrome.find_element(By.ID, "stat-offline").text == "0"
    wait(chrome).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#throughput canvas"))
    wait(chrome).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#throughput-bytes canvas"))


def test_topics_page_lists_and_searches(chrome: webdriver.Chrome, console: str) -> None:
    chrome.get(console + "/topics")
    table = chrome.find_element(By.ID, "topics").text
    assert TOPIC in table and OTHER in table
    row = chrome.find_element(By.XPATH, f"//table[@id='topics']//tr[td/a[text()='{TOPIC}']]")
    assert row.find_element(By.CSS_SELECTOR, ".size").text.endswith("KiB")  # from /metrics
    search = chrome.find_element(By.ID, "topic-search")
    search.send_keys(f"audit-{RUN}")
    wait(chrome).until(lambda d: TOPIC not in d.find_element(By.ID, "topics").text)
    assert OTHER in chrome.find_element(By.ID, "topics").text


def test_message_browser_finds_a_record_by_key(chrome: webdriver.Chrome, console: str) -> None:
    chrome.get(f"{console}/topics/{TOPIC}")
    wait(chrome).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#message-rows tr.message"))
    Select(chrome.find_element(By.NAME, "partition")).select_by_value("1")
    Select(chrome.find_element(By.ID, "browse-mode")).select_by_value("offset")
    chrome.find_element(By.ID, "browse-offset").send_keys("0")
    chrome.find_element(By.ID, "browse-filter").send_keys("key-137")
    chrome.find_element(By.ID, "browse-go").click()
    wait(chrome).until(ec.text_to_be_present_in_element((By.ID, "browse-summary"), "matching"))
    rows = chrome.find_elements(By.CSS_SELECTOR, "#message-rows tr.message")
    assert len(rows) == 1
    assert rows[0].find_element(By.CSS_SELECTOR, ".key").text == "key-137"
    assert rows[0].get_attribute("data-offset") == "68"  # the 69th record of partition 1
    assert '"order": 137' in rows[0].find_element(By.CSS_SELECTOR, ".value").text  # JSON, pretty
    assert "source: test" in rows[0].text  # headers


def test_produce_from_the_page_reaches_a_real_consumer(
    chrome: webdriver.Chrome, console: str, cluster: tuple[RunningBroker, int]
) -> None:
    broker, _ = cluster
    chrome.get(f"{console}/topics/{OTHER}")
    chrome.find_element(By.CSS_SELECTOR, "#produce-panel summary").click()
    chrome.find_element(By.ID, "produce-key").send_keys("from-the-page")
    chrome.find_element(By.ID, "produce-value").send_keys("hello from chromium")
    chrome.find_element(By.ID, "produce-go").click()
    result = wait(chrome).until(lambda d: d.find_element(By.ID, "produced-result"))
    assert "offset 0" in result.text
    consumer = Consumer(
        {
            "bootstrap.servers": broker.bootstrap_servers,
            "group.id": f"reader-{RUN}",
            "enable.auto.commit": False,
        }
    )
    consumer.assign([TopicPartition(OTHER, 0, 0)])
    message = consumer.poll(10)
    consumer.close()
    assert message is not None and message.error() is None
    assert message.key() == b"from-the-page" and message.value() == b"hello from chromium"


def test_group_lag_and_confirmed_reset(
    chrome: webdriver.Chrome, console: str, cluster: tuple[RunningBroker, int]
) -> None:
    broker, _ = cluster
    chrome.get(console + "/groups")
    assert GROUP in chrome.find_element(By.ID, "groups").text
    chrome.find_element(By.LINK_TEXT, GROUP).click()
    assert chrome.find_element(By.ID, "group-lag").text == "150"  # 50 + 100 records behind
    lags = {
        row.get_attribute("data-tp"): row.find_element(By.CSS_SELECTOR, ".lag").text
        for row in chrome.find_elements(By.CSS_SELECTOR, "#lag tr[data-tp]")
    }
    assert lags == {f"{TOPIC}-0": "50", f"{TOPIC}-1": "100"}
    wait(chrome).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#lag-chart canvas"))

    Select(chrome.find_element(By.ID, "reset-to")).select_by_value("latest")
    chrome.find_element(By.ID, "reset-preview").click()
    plan = wait(chrome).until(lambda d: d.find_element(By.ID, "reset-plan")).text
    assert "100" in plan
    assert committed(broker) == {0: 50, 1: 0}  # a preview changes nothing
    chrome.find_element(By.ID, "reset-confirm").click()
    wait(chrome).until(lambda d: d.find_elements(By.ID, "message"))
    assert committed(broker) == {0: 100, 1: 100}
    assert chrome.find_element(By.ID, "group-lag").text == "0"


def test_read_only_hides_and_refuses_writes(
    chrome: webdriver.Chrome, cluster: tuple[RunningBroker, int]
) -> None:
    broker, _ = cluster
    settings = ConsoleSettings(broker.bootstrap_servers, read_only=True)
    with HttpService(build_app(settings), "127.0.0.1", 0, name="console-ro") as service:
        chrome.get(f"{service.url}/topics/{TOPIC}")
        assert not chrome.find_elements(By.ID, "produce")
        assert not chrome.find_elements(By.ID, "delete-topic")
        assert "read-only" in chrome.find_element(By.CLASS_NAME, "cluster").text
        refused = httpx.post(f"{service.url}/topics/{TOPIC}/delete", data={"confirm": TOPIC})
        assert refused.status_code == 403
    admin = AdminClient({"bootstrap.servers": broker.bootstrap_servers})
    assert TOPIC in admin.list_topics(timeout=10).topics


def test_deleting_a_topic_needs_its_name(
    chrome: webdriver.Chrome, console: str, cluster: tuple[RunningBroker, int], tmp_path: Path
) -> None:
    broker, _ = cluster
    doomed = f"console-doomed-{RUN}"
    chrome.get(console + "/topics")
    chrome.find_element(By.CSS_SELECTOR, "details.panel summary").click()
    form = chrome.find_element(By.ID, "create-topic")
    form.find_element(By.NAME, "name").send_keys(doomed)
    form.find_element(By.CSS_SELECTOR, "button").click()
    wait(chrome).until(ec.text_to_be_present_in_element((By.ID, "topic-name"), doomed))
    wrong = httpx.post(f"{console}/topics/{doomed}/delete", data={"confirm": "wrong"})
    assert wrong.status_code == 400
    chrome.find_element(By.ID, "delete-confirm").send_keys(doomed)
    chrome.execute_script("document.getElementById('delete-topic').submit()")  # past hx-confirm
    wait(chrome).until(ec.text_to_be_present_in_element((By.ID, "message"), f"deleted {doomed}"))
    admin = AdminClient({"bootstrap.servers": broker.bootstrap_servers})
    assert doomed not in admin.list_topics(timeout=10).topics


def test_live_tail_shows_new_records(
    chrome: webdriver.Chrome, console: str, cluster: tuple[RunningBroker, int]
) -> None:
    broker, _ = cluster
    chrome.get(f"{console}/topics/{TOPIC}")
    wait(chrome).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#message-rows tr.message"))
    chrome.find_element(By.ID, "tail-box").click()
    producer = Producer({"bootstrap.servers": broker.bootstrap_servers})
    producer.produce(TOPIC, b"tailed value", key=b"tailed-key", partition=0)
    assert producer.flush(10) == 0
    wait(chrome).until(
        lambda d: any(
            k.text == "tailed-key" for k in d.find_elements(By.CSS_SELECTOR, "#message-rows .key")
        )
    )


def test_group_page_shows_active_members_and_their_assignment(
    chrome: webdriver.Chrome, console: str, cluster: tuple[RunningBroker, int]
) -> None:
    broker, _ = cluster
    group = f"console-active-{RUN}"
    consumer = Consumer(
        {
            "bootstrap.servers": broker.bootstrap_servers,
            "group.id": group,
            "client.id": "console-test-client",
            "auto.offset.reset": "earliest",
        }
    )
    try:
        consumer.subscribe([OTHER])
        deadline = time.monotonic() + 30
        while not consumer.assignment() and time.monotonic() < deadline:
            consumer.poll(0.5)
        assert consumer.assignment()
        chrome.get(f"{console}/groups/{group}")
        assert chrome.find_element(By.ID, "group-state").text == "Stable"
        members = chrome.find_element(By.ID, "members").text
        assert "console-test-client" in members and f"{OTHER}-0" in members
    finally:
        consumer.close()


def test_reset_plans_to_an_offset_and_a_timestamp(console: str) -> None:
    url = f"{console}/groups/{GROUP}/reset"
    to_offset = httpx.post(url, data={"topic": TOPIC, "to": "offset", "value": "40"}, timeout=20)
    assert to_offset.status_code == 200
    assert to_offset.text.count('value="40"') >= 2  # both partitions' new offset (hidden inputs)
    to_time = httpx.post(url, data={"topic": TOPIC, "to": "timestamp", "value": "0"}, timeout=20)
    assert to_time.status_code == 200
    assert 'name="p0" value="0"' in to_time.text and 'name="p1" value="0"' in to_time.text
    no_value = httpx.post(url, data={"topic": TOPIC, "to": "offset", "value": "x"}, timeout=20)
    assert no_value.status_code == 400 and "whole number" in no_value.text


def test_configure_a_topic_from_the_page(
    chrome: webdriver.Chrome, console: str, cluster: tuple[RunningBroker, int]
) -> None:
    broker, _ = cluster
    chrome.get(f"{console}/topics/{OTHER}")
    form = chrome.find_element(By.ID, "set-config")
    form.find_element(By.NAME, "key").send_keys("retention.ms")
    form.find_element(By.NAME, "value").send_keys("3600000")
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait(chrome).until(ec.text_to_be_present_in_element((By.ID, "message"), "retention.ms"))
    row = chrome.find_element(By.XPATH, "//table[@id='config-table']//tr[td[1]='retention.ms']")
    assert "3600000" in row.text and "topic" in row.text
    admin = AdminClient({"bootstrap.servers": broker.bootstrap_servers})
    resource = ConfigResource(ConfigResource.Type.TOPIC, OTHER)
    configs = admin.describe_configs([resource])[resource].result(10)
    assert configs["retention.ms"].value == "3600000"


def test_topics_list_pages_through_many_topics(
    chrome: webdriver.Chrome, console: str, cluster: tuple[RunningBroker, int]
) -> None:
    broker, _ = cluster
    prefix = f"console-many-{RUN}"
    admin = AdminClient({"bootstrap.servers": broker.bootstrap_servers})
    futures = admin.create_topics([NewTopic(f"{prefix}-{i:02d}", 1, 1) for i in range(55)])
    for future in futures.values():
        future.result(20)

    def listed(driver: webdriver.Chrome) -> bool:  # the console caches metadata for 2 s
        driver.get(f"{console}/topics?q={prefix}")
        return "55 topics" in driver.find_element(By.ID, "topic-table").text

    wait(chrome).until(listed)
    first = chrome.find_elements(By.CSS_SELECTOR, "#topics tr td:first-child a")
    assert len(first) == 50 and first[0].text == f"{prefix}-00"
    chrome.find_element(By.LINK_TEXT, "2").click()
    second = [a.text for a in chrome.find_elements(By.CSS_SELECTOR, "#topics tr td:first-child a")]
    assert second == [f"{prefix}-{i}" for i in range(50, 55)]
