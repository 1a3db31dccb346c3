"""ksqlDB's aggregate functions (UDAFs).

An aggregate is created for its argument types (and literal parameters, e.g. TOPK's k) and has
`init() -> state`, `add(state, *args) -> state`, `undo(state, *args) -> state` (for aggregations
over tables; `None` when the function cannot take a value back), `merge(a, b)` (session windows)
and `result(state)`. States are plain JSON-able values (lists, dicts, numbers, strings) so the
aggregation store and its changelog can hold them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from riverlog.sql import types as T
from riverlog.sql.errors import SqlTypeError

State = Any


class Udaf:
    returns: T.SqlType = T.BIGINT
    can_undo = True

    def init(self) -> State:
        return None

    def add(self, s: State, *a: Any) -> State:
        raise NotImplementedError

    def undo(self, s: State, *a: Any) -> State:
        raise NotImplementedError

    def merge(self, a: State, b: State) -> State:
        raise NotImplementedError

    def result(self, s: State) -> Any:
        return s


class Count(Udaf):
    def __init__(self, star: bool) -> None:
        self.star = star
        self.returns = T.BIGINT

    def init(self) -> State:
        return 0

    def add(self, s: State, *a: Any) -> State:
        return s + 1 if self.star or (a and a[0] is not None) else s

    def undo(self, s: State, *a: Any) -> State:
        return s - 1 if self.star or (a and a[0] is not None) else s

    def merge(self, a: State, b: State) -> State:
        return a + b


class Sum(Udaf):
    def __init__(self, t: T.SqlType) -> None:
        if not t.numeric:
            raise SqlTypeError(f"SUM does not accept {t}")
        self.returns = t
        self.t = t

    def _zero(self) -> Any:
        return Decimal(0) if self.t.base == "DECIMAL" else (0.0 if self.t.base == "DOUBLE" else 0)

    def _wrap(self, v: Any) -> Any:
        if self.t.base == "INTEGER":
            return T.wrap_int(v)
        if self.t.base == "BIGINT":
            return T.wrap_long(v)
        return v

    def init(self) -> State:
        z = self._zero()
        return str(z) if isinstance(z, Decimal) else z

    def _get(self, s: State) -> Any:
        return Decimal(s) if self.t.base == "DECIMAL" else s

    def _put(self, v: Any) -> State:
        return str(v) if isinstance(v, Decimal) else v

    def add(self, s: State, *a: Any) -> State:
        return s if a[0] is None else self._put(self._wrap(self._get(s) + a[0]))

    def undo(self, s: State, *a: Any) -> State:
        return s if a[0] is None else self._put(self._wrap(self._get(s) - a[0]))

    def merge(self, a: State, b: State) -> State:
        return self._put(self._wrap(self._get(a) + self._get(b)))

    def result(self, s: State) -> Any:
        return self._get(s)


class Avg(Udaf):
    returns = T.DOUBLE

    def init(self) -> State:
        return [0.0, 0]

    def add(self, s: State, *a: Any) -> State:
        return s if a[0] is None else [s[0] + float(a[0]), s[1] + 1]

    def undo(self, s: State, *a: Any) -> State:
        return s if a[0] is None else [s[0] - float(a[0]), s[1] - 1]

    def merge(self, a: State, b: State) -> State:
        return [a[0] + b[0], a[1] + b[1]]

    def result(self, s: State) -> Any:
        return None if s[1] == 0 else s[0] / s[1]


class MinMax(Udaf):
    can_undo = False

    def __init__(self, t: T.SqlType, is_max: bool) -> None:
        self.returns = t
        self.is_max = is_max
        self.dec = t.base == "DECIMAL"

    def add(self, s: State, *a: Any) -> State:
        v = a[0]
        if v is None:
            return s
        if s is None:
            return str(v) if self.dec else v
        cur = Decimal(s) if self.dec else s
        better = v > cur if self.is_max else v < cur
        return (str(v) if self.dec else v) if better else s

    def merge(self, a: State, b: State) -> State:
        if a is None:
            return b
        return a if b is None else self.add(a, Decimal(b) if self.dec else b)

    def result(self, s: State) -> Any:
        return Decimal(s) if self.dec and s is not None else s


class CollectList(Udaf):
    LIMIT = 1000

    def __init__(self, t: T.SqlType, distinct: bool) -> None:
        self.returns = T.array(t)
        self.distinct = distinct

    def init(self) -> State:
        return []

    def add(self, s: State, *a: Any) -> State:
        if len(s) >= self.LIMIT or (self.distinct and a[0] in s):
            return s
        return [*s, a[0]]

    def undo(self, s: State, *a: Any) -> State:
        out = list(s)
        if a[0] in out:
            out.remove(a[0])
        return out

    def merge(self, a: State, b: State) -> State:
        out = list(a)
        for x in b:
            out = self.add(out, x)
        return out


class CountDistinct(Udaf):
    def init(self) -> State:
        return []

    def add(self, s: State, *a: Any) -> State:
        v = a[0]
        return s if v is None or v in s else [*s, v]

    can_undo = False

    def merge(self, a: State, b: State) -> State:
        return a + [x for x in b if x not in a]

    def result(self, s: State) -> Any:
        return len(s)


class ByOffset(Udaf):
    """EARLIEST_BY_OFFSET / LATEST_BY_OFFSET (one value, or the first/last n as an array)."""

    can_undo = False

    def __init__(self, t: T.SqlType, latest: bool, n: int | None, ignore_nulls: bool) -> None:
        self.latest, self.n, self.ignore_nulls = latest, n, ignore_nulls
        self.returns = t if n is None else T.array(t)

    def init(self) -> State:
        return []

    def add(self, s: State, *a: Any) -> State:
        v = a[0]
        if v is None and self.ignore_nulls:
            return s
        keep = self.n or 1
        if self.latest:
            return ([*s, v])[-keep:]
        return s if len(s) >= keep else [*s, v]

    def merge(self, a: State, b: State) -> State:
        keep = self.n or 1
        both = a + b
        return both[-keep:] if self.latest else both[:keep]

    def result(self, s: State) -> Any:
        if self.n is None:
            return s[0] if s else None
        return list(s)


class Histogram(Udaf):
    returns = T.map_of(T.STRING, T.BIGINT)

    def init(self) -> State:
        return {}

    def add(self, s: State, *a: Any) -> State:
        if a[0] is None or (a[0] not in s and len(s) >= 1000):
            return s
        return {**s, a[0]: s.get(a[0], 0) + 1}

    def undo(self, s: State, *a: Any) -> State:
        if a[0] is None or a[0] not in s:
            return s
        out = dict(s)
        out[a[0]] -= 1
        if out[a[0]] <= 0:
            del out[a[0]]
        return out

    def merge(self, a: State, b: State) -> State:
        out = dict(a)
        for k, v in b.items():
            out[k] = out.get(k, 0) + v
        return out


class TopK(Udaf):
    can_undo = False

    def __init__(self, t: T.SqlType, k: int, distinct: bool) -> None:
        self.returns = T.array(t)
        self.k, self.distinct = k, distinct

    def init(self) -> State:
        return []

    def add(self, s: State, *a: Any) -> State:
        v = a[0]
        if v is None or (self.distinct and v in s):
            return s
        return sorted([*s, v], reverse=True)[: self.k]

    def merge(self, a: State, b: State) -> State:
        out = a
        for x in b:
            out = self.add(out, x)
        return out


class StddevSamp(Udaf):
    returns = T.DOUBLE

    def init(self) -> State:
        return [0, 0.0, 0.0]  # count, sum, sum of squares

    def add(self, s: State, *a: Any) -> State:
        if a[0] is None:
            return s
        x = float(a[0])
        return [s[0] + 1, s[1] + x, s[2] + x * x]

    def undo(self, s: State, *a: Any) -> State:
        if a[0] is None:
            return s
        x = float(a[0])
        return [s[0] - 1, s[1] - x, s[2] - x * x]

    def merge(self, a: State, b: State) -> State:
        return [a[0] + b[0], a[1] + b[1], a[2] + b[2]]

    def result(self, s: State) -> Any:
        n, total, sq = s
        if n < 2:
            return 0.0
        var = (sq - total * total / n) / (n - 1)
        return math.sqrt(max(var, 0.0))


class Correlation(Udaf):
    returns = T.DOUBLE

    def init(self) -> State:
        return [0, 0.0, 0.0, 0.0, 0.0, 0.0]  # n, sx, sy, sxx, syy, sxy

    def add(self, s: State, *a: Any) -> State:
        if a[0] is None or a[1] is None:
            return s
        x, y = float(a[0]), float(a[1])
        return [s[0] + 1, s[1] + x, s[2] + y, s[3] + x * x, s[4] + y * y, s[5] + x * y]

    def undo(self, s: State, *a: Any) -> State:
        if a[0] is None or a[1] is None:
            return s
        x, y = float(a[0]), float(a[1])
        return [s[0] - 1, s[1] - x, s[2] - y, s[3] - x * x, s[4] - y * y, s[5] - x * y]

    def merge(self, a: State, b: State) -> State:
        return [x + y for x, y in zip(a, b, strict=True)]

    def result(self, s: State) -> Any:
        n, sx, sy, sxx, syy, sxy = s
        if n < 2:
            return float("nan")
        cov = sxy - sx * sy / n
        vx, vy = sxx - sx * sx / n, syy - sy * sy / n
        if vx <= 0 or vy <= 0:
            return float("nan")
        return cov / math.sqrt(vx * vy)


@dataclass(frozen=True)
class AggregateFunction:
    name: str
    description: str
    make: Callable[[list[T.SqlType], list[Any], bool], Udaf]


def _arg(types: list[T.SqlType], i: int, name: str) -> T.SqlType:
    if len(types) <= i:
        raise SqlTypeError(f"{name} expects at least {i + 1} argument(s)")
    return types[i]


def _by_offset(latest: bool) -> Callable[[list[T.SqlType], list[Any], bool], Udaf]:
    def make(types: list[T.SqlType], lits: list[Any], star: bool) -> Udaf:
        n = int(lits[1]) if len(lits) > 1 and lits[1] is not None else None
        ignore = bool(lits[2]) if len(lits) > 2 and lits[2] is not None else True
        return ByOffset(_arg(types, 0, "BY_OFFSET"), latest, n, ignore)

    return make


AGGREGATES: dict[str, AggregateFunction] = {
    f.name: f
    for f in [
        AggregateFunction(
            "COUNT",
            "Counts rows (COUNT(*)) or non-NULL values.",
            lambda t, lits, s: Count(s or not t),
        ),
        AggregateFunction("SUM", "Sums the values.", lambda t, lits, s: Sum(_arg(t, 0, "SUM"))),
        AggregateFunction("AVG", "The average of the values.", lambda t, lits, s: Avg()),
        AggregateFunction(
            "MIN", "The least value.", lambda t, lits, s: MinMax(_arg(t, 0, "MIN"), False)
        ),
        AggregateFunction(
            "MAX", "The greatest value.", lambda t, lits, s: MinMax(_arg(t, 0, "MAX"), True)
        ),
        AggregateFunction(
            "COLLECT_LIST",
            "Every value as an array.",
            lambda t, lits, s: CollectList(_arg(t, 0, "COLLECT_LIST"), False),
        ),
        AggregateFunction(
            "COLLECT_SET",
            "Distinct values as an array.",
            lambda t, lits, s: CollectList(_arg(t, 0, "COLLECT_SET"), True),
        ),
        AggregateFunction(
            "COUNT_DISTINCT", "The number of distinct values.", lambda t, lits, s: CountDistinct()
        ),
        AggregateFunction("EARLIEST_BY_OFFSET", "The earliest value(s).", _by_offset(False)),
        AggregateFunction("LATEST_BY_OFFSET", "The latest value(s).", _by_offset(True)),
        AggregateFunction(
            "HISTOGRAM", "Counts of each distinct value.", lambda t, lits, s: Histogram()
        ),
        AggregateFunction(
            "TOPK",
            "The k greatest values.",
            lambda t, lits, s: TopK(_arg(t, 0, "TOPK"), int(lits[1]), False),
        ),
        AggregateFunction(
            "TOPKDISTINCT",
            "The k greatest distinct values.",
            lambda t, lits, s: TopK(_arg(t, 0, "TOPKDISTINCT"), int(lits[1]), True),
        ),
        AggregateFunction(
            "STDDEV_SAMP", "The sample standard deviation.", lambda t, lits, s: StddevSamp()
        ),
        AggregateFunction(
            "STDDEV_SAMPLE", "The sample standard deviation.", lambda t, lits, s: StddevSamp()
        ),
        AggregateFunction(
            "CORRELATION", "Pearson correlation of two columns.", lambda t, lits, s: Correlation()
        ),
    ]
}
