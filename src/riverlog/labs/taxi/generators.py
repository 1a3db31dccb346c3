"""flink-training's `TaxiRideGenerator` and `TaxiFareGenerator`, event for event.

Rides come out of order as the Java source emits them: each batch of five START events is shuffled with
`new Random(firstIdOfBatch - 1)`, and END events wait in a priority queue until the batch's latest
start time passes them (so a few ENDs precede their STARTs). The queue is `java.util.PriorityQueue`'s
binary heap, reproduced step for step, because rides that end at the same instant compare equal and
only the heap's own order decides which leaves first.
"""

from __future__ import annotations

from collections.abc import Iterator

from riverlog.labs.taxi.data import BEGINNING_MS, TaxiFare, TaxiRide
from riverlog.labs.taxi.javarandom import JavaRandom, java_shuffle

BATCH_SIZE = 5


class JavaPriorityQueue:
    """`java.util.PriorityQueue<TaxiRide>` with natural ordering: offer / peek / poll as the JDK does them."""

    def __init__(self) -> None:
        self._heap: list[TaxiRide] = []

    def __len__(self) -> int:
        return len(self._heap)

    def offer(self, ride: TaxiRide) -> None:
        heap = self._heap
        heap.append(ride)
        k = len(heap) - 1
        key = ride.sort_key()
        while k > 0:  # siftUp: stop at the first parent not greater
            parent = (k - 1) >> 1
            if key >= heap[parent].sort_key():
                break
            heap[k] = heap[parent]
            k = parent
        heap[k] = ride

    def peek(self) -> TaxiRide:
        return self._heap[0]

    def poll(self) -> TaxiRide:
        heap = self._heap
        result = heap[0]
        last = heap.pop()
        n = len(heap)
        if n:
            k, half, key = 0, n >> 1, last.sort_key()
            while k < half:  # siftDown: move the smaller child up while it is smaller than `last`
                child = 2 * k + 1
                right = child + 1
                if right < n and heap[child].sort_key() > heap[right].sort_key():
                    child = right
                if key <= heap[child].sort_key():
                    break
                heap[k] = heap[child]
                k = child
            heap[k] = last
        return result


def taxi_rides() -> Iterator[TaxiRide]:
    """The endless stream `TaxiRideGenerator` emits."""
    ends = JavaPriorityQueue()
    next_id = 0
    max_start = 0
    while True:
        starts = [TaxiRide.generate(next_id + i, True) for i in range(1, BATCH_SIZE + 1)]
        max_start = max(max_start, *(ride.event_time for ride in starts))
        for i in range(1, BATCH_SIZE + 1):
            ends.offer(TaxiRide.generate(next_id + i, False))
        while ends.peek().event_time <= max_start:
            yield ends.poll()
        java_shuffle(starts, JavaRandom(next_id))
        yield from starts
        next_id += BATCH_SIZE


def taxi_fares(limit_ms: int | None = None) -> Iterator[TaxiFare]:
    """`TaxiFareGenerator` (ride ids 1, 2, …), or `TaxiFareGenerator.runFor` when `limit_ms` is given."""
    ride_id = 1
    while True:
        fare = TaxiFare.generate(ride_id)
        if limit_ms is not None and fare.start_time >= limit_ms:
            return
        yield fare
        ride_id += 1


def bounded_rides(count: int) -> Iterator[TaxiRide]:
    """Rides 1..count, START and END of each, in the order the generator emits them."""
    remaining = 2 * count
    for ride in taxi_rides():
        if ride.ride_id <= count:
            yield ride
            remaining -= 1
            if remaining == 0:
                return


def rides_for_hours(hours: int) -> int:
    """How many rides start in the first `hours` hours (flink-training's `runFor(Duration.ofHours(h))`)."""
    limit_ms = BEGINNING_MS + hours * 3_600_000
    return (limit_ms - BEGINNING_MS - 1) // 20_000
