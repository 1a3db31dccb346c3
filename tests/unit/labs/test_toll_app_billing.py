"""The billing app's rules through TopologyTestDriver: balances, LOW_BALANCE, UNPAID, invoices."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from riverlog.labs.toll.apps.billing import INVOICE_GRACE_MS, INVOICE_WINDOW_MS, billing_topology
from riverlog.labs.toll.generator import START_MS
from riverlog.labs.toll.model import TOPICS, Account, Payment, to_json
from riverlog.streams import Serdes
from riverlog.streams.testing import TopologyTestDriver

S, J = Serdes.String(), Serdes.Json()
MIN = 60_000
UNPAID_AFTER = 30 * MIN
DAY0 = START_MS - START_MS % INVOICE_WINDOW_MS


class Billing:
    def __init__(self, driver: TopologyTestDriver) -> None:
        self.driver = driver
        self.charges = driver.create_input_topic(TOPICS["charges"], S, J)
        self.payments = driver.create_input_topic(TOPICS["payments"], S, J)
        self.balances = driver.create_output_topic(TOPICS["balances"], S, J)
        self.alerts = driver.create_output_topic(TOPICS["alerts"], S, J)
        self.invoices = driver.create_output_topic(TOPICS["invoices"], S, J)
        accounts = driver.create_input_topic(TOPICS["accounts"], S, J)
        for n, low in ((1, 1000), (2, 500)):
            account = Account(f"ACC-{n}", f"Customer {n}", f"c{n}@example.com", low)
            accounts.pipe_input(account.account_id, to_json(account), 0)
        self.n = 0

    def top_up(self, account: str, cents: int, at: int) -> None:
        self.n += 1
        self.payments.pipe_input(account, to_json(Payment(f"PAY-{self.n}", account, cents, at)), at)

    def charge(
        self,
        account: str | None,
        cents: int,
        at: int,
        billing: str = "ACCOUNT",
        plate: str = "AB-1",
    ) -> str:
        self.n += 1
        pid = f"P{self.n}"
        value: dict[str, Any] = {
            "passage_id": pid,
            "plate": plate,
            "account_id": account,
            "gantry_id": "A-G1",
            "vehicle_class": 1,
            "amount_cents": cents,
            "billing": billing,
            "captured_at": at,
            "charged_at": at,
        }
        self.charges.pipe_input(pid, value, at)
        return pid


@pytest.fixture
def app() -> Iterator[Billing]:
    topology = billing_topology(unpaid_after_ms=UNPAID_AFTER)
    with TopologyTestDriver(topology, initial_wall_clock_time_ms=START_MS) as driver:
        yield Billing(driver)


def test_balance_is_top_ups_minus_account_charges(app: Billing) -> None:
    app.top_up("ACC-1", 5000, START_MS)
    app.charge("ACC-1", 300, START_MS + MIN)
    app.charge(None, 700, START_MS + 2 * MIN, billing="MAIL")  # not an account's
    app.charge("ACC-1", 0, START_MS + 3 * MIN, billing="EXEMPT")  # not a debit
    app.charge("ACC-2", 200, START_MS + 4 * MIN)
    app.top_up("ACC-1", 1000, START_MS + 5 * MIN)
    updates = [(kv.key, kv.value["balance_cents"]) for kv in app.balances.read_key_values_to_list()]
    assert updates == [("ACC-1", 5000), ("ACC-1", 4700), ("ACC-2", -200), ("ACC-1", 5700)]
    store = app.driver.get_key_value_store("toll-balance")
    assert store.get("ACC-1")["balance_cents"] == 5700


def test_low_balance_alerts_once_per_crossing(app: Billing) -> None:
    app.top_up("ACC-1", 1500, START_MS)
    first = app.charge("ACC-1", 600, START_MS + MIN)  # 900 < 1000: crossing
    app.charge("ACC-1", 100, START_MS + 2 * MIN)  # still low: no second alert
    app.top_up("ACC-1", 2000, START_MS + 3 * MIN)  # 2800: re-armed
    app.charge("ACC-1", 100, START_MS + 4 * MIN)  # 2700: not low
    second = app.charge("ACC-1", 2000, START_MS + 5 * MIN)  # 700: crossing again
    app.top_up("ACC-2", 600, START_MS)
    app.charge("ACC-2", 50, START_MS + MIN)  # 550 >= ACC-2's own 500 threshold
    alerts = app.alerts.read_key_values_to_list()
    assert [(kv.key, kv.value["alert_type"], kv.value["passage_ids"]) for kv in alerts] == [
        ("ACC-1", "LOW_BALANCE", [first]),
        ("ACC-1", "LOW_BALANCE", [second]),
    ]
    assert alerts[0].value["account_id"] == "ACC-1" and "900" in alerts[0].value["detail"]


def test_unpaid_after_a_negative_spell_without_top_up(app: Billing) -> None:
    app.top_up("ACC-1", 100, START_MS)
    debt = app.charge("ACC-1", 300, START_MS + MIN)  # -200 (and a LOW_BALANCE)
    more = app.charge("ACC-1", 100, START_MS + 10 * MIN)
    app.top_up("ACC-2", 100, START_MS + 10 * MIN)
    app.charge("ACC-2", 300, START_MS + 11 * MIN)  # ACC-2 negative too, but topped up in time
    app.top_up("ACC-2", 1000, START_MS + 20 * MIN)
    # the task's stream time moves with any account's records (a stream-time punctuator)
    app.top_up("ACC-2", 1, START_MS + 40 * MIN)
    app.top_up("ACC-2", 1, START_MS + 50 * MIN)
    unpaid = [a for a in app.alerts.read_values_to_list() if a["alert_type"] == "UNPAID"]
    assert len(unpaid) == 1
    assert unpaid[0]["account_id"] == "ACC-1" and unpaid[0]["passage_ids"] == [debt, more]
    assert "-300" in unpaid[0]["detail"]
    assert app.driver.get_key_value_store("toll-overdrawn").get("ACC-2") is None


def test_invoices_sum_mail_charges_per_plate_per_day_when_the_day_closes(app: Billing) -> None:
    a = app.charge(None, 200, DAY0 + 9 * 3_600_000, billing="MAIL", plate="UN-1")
    b = app.charge(None, 300, DAY0 + 15 * 3_600_000, billing="MAIL", plate="UN-1")
    c = app.charge(None, 500, DAY0 + 16 * 3_600_000, billing="MAIL", plate="VN-2")
    app.charge("ACC-1", 100, DAY0 + 17 * 3_600_000, plate="UN-1")  # an account's: not invoiced
    assert app.invoices.is_empty()  # the day is still open
    app.charge(None, 50, DAY0 + INVOICE_WINDOW_MS + INVOICE_GRACE_MS, billing="MAIL", plate="X")
    invoices = app.invoices.read_key_values_to_map()
    assert set(invoices) == {"UN-1", "VN-2"}
    assert invoices["UN-1"]["amount_cents"] == 500 and invoices["UN-1"]["passage_ids"] == [a, b]
    assert invoices["VN-2"]["passage_ids"] == [c]
    assert invoices["UN-1"]["period_start"] == DAY0
    assert invoices["UN-1"]["period_end"] == DAY0 + INVOICE_WINDOW_MS
    assert invoices["UN-1"]["invoice_id"] != invoices["VN-2"]["invoice_id"]
