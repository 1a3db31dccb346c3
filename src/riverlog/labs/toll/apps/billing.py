"""The billing app: charges and payments in; balances, balance alerts and invoices out.

Sub-topology 1, keyed by account id:

    toll.charges (ACCOUNT ones, re-keyed by account id through the `toll-debits` repartition topic)
      merged with toll.payments (top-ups, keyed by account id, event time = paid_at)
      -> left join toll.accounts (KTable `toll-accounts`: the account's low_balance_cents)
      -> balance (Processor API, stores `toll-balance` and `toll-overdrawn`):
         balance += top-up / -= charge, each change written to toll.balances;
         LOW_BALANCE when a charge takes the balance from at least low_balance_cents to below it
         (once per crossing: a top-up back to the threshold re-arms it);
         UNPAID when the balance has stayed negative for UNPAID_AFTER_MS of event time without a
         top-up bringing it back to zero or more (checked by a stream-time punctuator, once per
         overdrawn spell; the alert lists the charges made while negative)

Sub-topology 2, keyed by plate: MAIL charges re-keyed by plate (`toll-invoices` repartition topic),
summed per plate in one-day tumbling windows (grace INVOICE_GRACE_MS), suppressed until the window
closes, written once to toll.invoices.

Invariants: a balance is exactly the sum of the account's top-ups minus its ACCOUNT charges, because
each charge and payment record is applied once (exactly_once_v2: the store changelog, the outputs and
the input offsets commit in one transaction); `toll-overdrawn` holds an entry exactly while the
account's balance is negative.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from riverlog.labs.toll.apps.charging import alert
from riverlog.labs.toll.apps.inputs import ReferenceJsonSerde, payment_time, reference_time
from riverlog.labs.toll.model import BILLING_ACCOUNT, BILLING_MAIL, TOPICS
from riverlog.streams import (
    Branched,
    Consumed,
    Grouped,
    KeyValue,
    Materialized,
    Processor,
    ProcessorContext,
    Produced,
    PunctuationType,
    Record,
    Repartitioned,
    Serdes,
    Stores,
    StreamsBuilder,
    Suppressed,
    TimeWindows,
    Topology,
    Windowed,
)

BALANCE_STORE = "toll-balance"
OVERDRAWN_STORE = "toll-overdrawn"
UNPAID_AFTER_MS = 60 * 60_000  # negative for an hour of event time without a top-up
UNPAID_CHECK_MS = 60_000
MAX_LISTED_CHARGES = 50
DEFAULT_LOW_BALANCE_CENTS = 1000  # for an account not (yet) in toll.accounts
INVOICE_WINDOW_MS = 24 * 3_600_000
INVOICE_GRACE_MS = 3_600_000


class BalanceProcessor(Processor):
    """Applies top-ups and ACCOUNT charges to the balance table; raises LOW_BALANCE and UNPAID.

    Input values: `{"kind": "topup"|"debit", "amount_cents", "ref", "plate", "low_balance_cents"}`.
    Output values: `{"balance": {...}}` for toll.balances, `{"alert": {...}}` for toll.alerts.
    """

    def __init__(self, unpaid_after_ms: int = UNPAID_AFTER_MS) -> None:
        self.unpaid_after_ms = unpaid_after_ms

    def init(self, context: ProcessorContext) -> None:
        super().init(context)
        self.balances = context.get_state_store(BALANCE_STORE)
        self.overdrawn = context.get_state_store(OVERDRAWN_STORE)
        context.schedule(
            timedelta(milliseconds=UNPAID_CHECK_MS), PunctuationType.STREAM_TIME, self.check_unpaid
        )

    def process(self, record: Record) -> None:
        account, event, at = record.key, record.value, record.timestamp
        if account is None or event is None:
            return
        state = self.balances.get(account) or {"balance_cents": 0, "low": False}
        before = state["balance_cents"]
        amount = int(event["amount_cents"])
        after = before + amount if event["kind"] == "topup" else before - amount
        threshold = int(event["low_balance_cents"])
        # 1. the balance table and its output topic
        low = state["low"]
        if event["kind"] == "debit" and not low and after < threshold <= before:
            low = True
            detail = f"balance {after} cents is below the account's {threshold} cents"
            self._alert(
                record, alert("LOW_BALANCE", event["plate"], account, [event["ref"]], detail, at)
            )
        elif after >= threshold:
            low = False  # back above the threshold: the next crossing alerts again
        self.balances.put(account, {"balance_cents": after, "low": low})
        balance = {"account_id": account, "balance_cents": after, "updated_at": at}
        self.context.forward(record.with_value({"balance": balance}))
        # 2. the overdrawn spell UNPAID watches
        if after >= 0:
            if before < 0:
                self.overdrawn.delete(account)
        elif event["kind"] == "debit":
            spell = self.overdrawn.get(account) or {"since": at, "refs": [], "alerted": False}
            if len(spell["refs"]) < MAX_LISTED_CHARGES:
                spell["refs"].append(event["ref"])
            spell["plate"] = event["plate"]
            self.overdrawn.put(account, spell)

    def check_unpaid(self, now: int) -> None:
        """Stream-time punctuator: UNPAID for every spell older than unpaid_after_ms, once."""
        due = [
            kv
            for kv in self.overdrawn.all()
            if not kv.value["alerted"] and now - kv.value["since"] >= self.unpaid_after_ms
        ]
        for kv in due:
            account, spell = kv.key, kv.value
            balance = (self.balances.get(account) or {"balance_cents": 0})["balance_cents"]
            minutes = (now - spell["since"]) // 60_000
            detail = f"balance {balance} cents, negative for {minutes} min without a top-up"
            record = Record(account, None, now)
            self._alert(
                record, alert("UNPAID", spell.get("plate"), account, spell["refs"], detail, now)
            )
            self.overdrawn.put(account, {**spell, "alerted": True})

    def _alert(self, record: Record, value: dict[str, Any]) -> None:
        self.context.forward(record.with_value({"alert": value}))


class BalanceSupplier:
    def __init__(self, unpaid_after_ms: int = UNPAID_AFTER_MS) -> None:
        self.unpaid_after_ms = unpaid_after_ms

    def get(self) -> BalanceProcessor:
        return BalanceProcessor(self.unpaid_after_ms)

    def stores(self) -> list[Any]:
        s, j = Serdes.String(), Serdes.Json()
        return [
            Stores.key_value_store_builder(Stores.in_memory_key_value_store(BALANCE_STORE), s, j),
            Stores.key_value_store_builder(Stores.in_memory_key_value_store(OVERDRAWN_STORE), s, j),
        ]


def _topup(payment: dict[str, Any]) -> list[dict[str, Any]]:
    amount = payment.get("amount_cents")
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        return []  # not a top-up: ignored (payments are top-ups by contract)
    return [
        {"kind": "topup", "amount_cents": amount, "ref": payment.get("payment_id"), "plate": None}
    ]


def _with_threshold(event: dict[str, Any], account: dict[str, Any] | None) -> dict[str, Any]:
    low = None if account is None else account.get("low_balance_cents")
    event["low_balance_cents"] = DEFAULT_LOW_BALANCE_CENTS if low is None else low
    return event


def _invoice(key: Windowed[str], total: dict[str, Any]) -> KeyValue[str, dict[str, Any]]:
    start, end = key.window.start, key.window.end
    day = start // INVOICE_WINDOW_MS
    invoice = {
        "invoice_id": f"INV-{key.key}-{day}",
        "plate": key.key,
        "amount_cents": total["amount_cents"],
        "passage_ids": total["passage_ids"],
        "period_start": start,
        "period_end": end,
    }
    return KeyValue(key.key, invoice)


def billing_topology(unpaid_after_ms: int = UNPAID_AFTER_MS) -> Topology:
    s, j = Serdes.String(), Serdes.Json()
    b = StreamsBuilder()
    ref = ReferenceJsonSerde()
    accounts = b.table(
        TOPICS["accounts"],
        Consumed.with_(s, ref, reference_time),
        Materialized.as_("toll-accounts").with_key_serde(s).with_value_serde(ref),
    )
    charges = b.stream(TOPICS["charges"], Consumed.with_(s, j))
    debits = (
        charges.filter(lambda _k, c: c is not None and c.get("billing") == BILLING_ACCOUNT)
        .map(
            lambda pid, c: KeyValue(
                c["account_id"],
                {
                    "kind": "debit",
                    "amount_cents": c["amount_cents"],
                    "ref": pid,
                    "plate": c["plate"],
                },
            )
        )
        .repartition(Repartitioned.with_(s, j).with_name("toll-debits"))
    )
    topups = b.stream(TOPICS["payments"], Consumed.with_(s, j, payment_time)).flat_map_values(
        lambda p: [] if p is None else _topup(p)
    )
    outputs = (
        debits.merge(topups)
        .left_join(accounts, _with_threshold)
        .process(BalanceSupplier(unpaid_after_ms), named="toll-balance-processor")
        .split("toll-billing-")
        .branch(lambda _k, v: "balance" in v, Branched.as_("balance"))
        .default_branch(Branched.as_("alert"))
    )
    outputs["toll-billing-balance"].map_values(lambda v: v["balance"]).to(
        TOPICS["balances"], Produced.with_(s, j)
    )
    outputs["toll-billing-alert"].map_values(lambda v: v["alert"]).to(
        TOPICS["alerts"], Produced.with_(s, j)
    )
    # invoices: MAIL charges per plate per UTC day, final results only
    (
        charges.filter(lambda _k, c: c is not None and c.get("billing") == BILLING_MAIL)
        .select_key(lambda _k, c: c["plate"])
        .group_by_key(Grouped.with_(s, j).with_name("toll-invoices"))
        .windowed_by(
            TimeWindows.of_size_and_grace(
                timedelta(milliseconds=INVOICE_WINDOW_MS), timedelta(milliseconds=INVOICE_GRACE_MS)
            )
        )
        .aggregate(
            lambda: {"amount_cents": 0, "passage_ids": []},
            lambda _plate, c, total: {
                "amount_cents": total["amount_cents"] + c["amount_cents"],
                "passage_ids": [*total["passage_ids"], c["passage_id"]],
            },
            Materialized.as_("toll-invoice-totals").with_key_serde(s).with_value_serde(j),
        )
        .suppress(Suppressed.until_window_closes(Suppressed.BufferConfig.unbounded()))
        .to_stream()
        .map(_invoice)
        .to(TOPICS["invoices"], Produced.with_(s, j))
    )
    return b.build()
