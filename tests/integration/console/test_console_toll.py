"""The console's toll lab page in a real headless Chromium, with the lab's platform in-process (broker,
PostgreSQL, Connect, SQL server, console; `up` without the streams apps): alerts posted by the HTTP
sink connector, balances from `toll.balances` and the SQL per-gantry minutes appear on the page."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
from confluent_kafka import Producer
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from riverlog.labs.toll.generator import START_MS
from riverlog.labs.toll.platform.lab import up
from riverlog.testing.broker import RunningBroker
from riverlog.testing.toll_lab import TollLabServices

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def console(broker: RunningBroker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with TollLabServices(broker.bootstrap_servers, tmp_path_factory.mktemp("toll")) as lab:
        up(lab.settings(seed=3), start_apps=False, echo=lambda _line: None)
        producer = Producer({"bootstrap.servers": broker.bootstrap_servers})
        records = [
            (
                "toll.alerts",
                "QQ-123-Z",
                {
                    "alert_type": "CLONED_PLATE",
                    "plate": "QQ-123-Z",
                    "account_id": "ACC-00009",
                    "passage_ids": ["P3-1-C1", "P3-1-C2"],
                    "detail": "plate seen 300 km/h apart",
                    "at": START_MS,
                },
            ),
            (
                "toll.balances",
                "ACC-00009",
                {"account_id": "ACC-00009", "balance_cents": 420, "updated_at": START_MS},
            ),
            (
                "toll.balances",
                "ACC-00010",
                {"account_id": "ACC-00010", "balance_cents": 9000, "updated_at": START_MS},
            ),
        ]
        for minute in range(3):
            pid = f"PB-{minute}"
            records.append(
                (
                    "toll.charges",
                    pid,
                    {
                        "passage_id": pid,
                        "plate": "QQ-123-Z",
                        "account_id": "ACC-00009",
                        "gantry_id": "A1-G1",
                        "vehicle_class": 1,
                        "amount_cents": 150 + minute,
                        "billing": "ACCOUNT",
                        "captured_at": START_MS + minute * 60_000,
                        "charged_at": START_MS + minute * 60_000 + 30,
                    },
                )
            )
        for topic, key, value in records:
            producer.produce(topic, key=key.encode(), value=json.dumps(value).encode())
        assert producer.flush(10) == 0
        assert lab.console is not None
        yield lab.console.url


def test_toll_page_shows_alerts_balances_and_gantry_charts(
    chrome: webdriver.Chrome, console: str
) -> None:
    def loaded(driver: webdriver.Chrome) -> bool:
        driver.get(f"{console}/labs/toll")
        return (
            "CLONED_PLATE" in driver.find_element(By.ID, "toll-alerts").text
            and "A1-G1" in driver.find_element(By.ID, "toll-gantries").text
            and "453" in driver.find_element(By.ID, "toll-gantries").text
        )

    WebDriverWait(chrome, 60, poll_frequency=1).until(loaded)
    assert chrome.find_element(By.TAG_NAME, "h1").text == "Toll lab"
    alerts = chrome.find_element(By.ID, "toll-alerts").text
    assert "QQ-123-Z" in alerts and "P3-1-C1, P3-1-C2" in alerts
    assert "2026-01-01T08:00:00.000Z" in alerts
    balances = chrome.find_elements(By.CSS_SELECTOR, "#toll-balances tr")
    assert [row.text.split()[:2] for row in balances[1:]] == [
        ["ACC-00009", "420"],
        ["ACC-00010", "9000"],
    ]
    assert chrome.find_element(By.ID, "toll-accounts").text == "2 accounts"
    gantry = chrome.find_element(By.XPATH, "//table[@id='toll-gantries']//tr[td[text()='A1-G1']]")
    assert gantry.text.split() == ["A1-G1", "3", "453"]
    WebDriverWait(chrome, 15).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, "#toll-revenue canvas")
    )
    WebDriverWait(chrome, 15).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, "#toll-charges canvas")
    )
    assert not chrome.find_elements(By.ID, "error")
    series = httpx.get(f"{console}/api/labs/toll/gantries?measure=revenue_cents").json()
    starts = [(START_MS + m * 60_000) / 1000 for m in range(3)]
    assert series == {"labels": ["A1-G1"], "data": [starts, [150, 151, 152]]}
