"""How fast a client may go (``rates:``): token buckets, kept by each process on its own.

- **Per webhook source**, in requests and in bytes: a source may post ``requests_per_second``
  notifications and ``bytes_per_second`` of bodies on average, and bursts of ``burst`` of each
  (a registry catching up after an outage sends hundreds at once: they pass). Over it, the
  request is answered 429 with ``Retry-After`` before its body is read: the registry retries
  later and nothing is lost.
- **Per client address, failed authentications** (a wrong or missing token on the API, a
  webhook, ``/metrics`` or the console's sign-in; a webhook posted to a source that does not
  exist): ``per_minute`` of them. Once they are spent, that address is answered 429 before its
  credentials are even looked at, the right ones too, until the bucket has refilled: guessing
  tokens goes no faster than the limit.

The buckets live in the memory of each process: with N processes behind one address a source
may go N times as fast (the limits are there to keep one process responsive, which they do per
process). The addresses remembered are bounded (``ADDRESSES``): the least recently seen are
forgotten first, and a forgotten address starts with a full bucket.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from receiver.config.limits import Rates

#: Client addresses whose failed authentications are remembered at once, at most.
ADDRESSES = 10_000


@dataclass(slots=True)
class Bucket:
    """``capacity`` tokens, refilled at ``rate`` per second."""

    rate: float
    capacity: float
    tokens: float
    at: float

    def wait(self, amount: float, now: float) -> float:
        """Seconds until ``amount`` tokens are there (0: they are now)."""
        self._refill(now)
        missing = min(amount, self.capacity) - self.tokens
        return max(0.0, missing / self.rate)

    def take(self, amount: float, now: float) -> None:
        """Spend ``amount`` tokens (the bucket may go below zero: a body larger than it was
        told is paid for by the next requests)."""
        self._refill(now)
        self.tokens -= amount

    def _refill(self, now: float) -> None:
        self.tokens = min(self.capacity, self.tokens + (now - self.at) * self.rate)
        self.at = now


class Throttle:
    """The buckets of one process; ``now`` tells the time in seconds (monotonic)."""

    def __init__(self, rates: Rates, *, now: Callable[[], float] = time.monotonic) -> None:
        self._rates = rates
        self._now = now
        self._requests: dict[str, Bucket] = {}
        self._bytes: dict[str, Bucket] = {}
        self._failures: OrderedDict[str, Bucket] = OrderedDict()

    def source_wait(self, source: str, size: int | None) -> float:
        """Seconds ``source`` must wait before posting a body of ``size`` bytes (None: not
        told yet); 0 when it may post now, which it is then charged for."""
        per = self._rates.per_source
        burst = per.burst.total_seconds()
        now = self._now()
        requests = self._bucket(self._requests, source, per.requests_per_second, burst, now)
        volume = self._bucket(self._bytes, source, per.bytes_per_second, burst, now)
        wait = max(requests.wait(1, now), volume.wait(size or 0, now))
        if wait == 0:
            requests.take(1, now)
            volume.take(size or 0, now)
        return wait

    def source_read(self, source: str, size: int) -> None:
        """Charge ``source`` for a body of ``size`` bytes that did not say its size first."""
        now = self._now()
        per = self._rates.per_source
        bucket = self._bucket(
            self._bytes, source, per.bytes_per_second, per.burst.total_seconds(), now
        )
        bucket.take(size, now)

    def auth_wait(self, address: str) -> float:
        """Seconds before ``address`` may try credentials again (0: it may now)."""
        bucket = self._failures.get(address)
        return 0.0 if bucket is None else bucket.wait(1, self._now())

    def auth_failed(self, address: str) -> None:
        """Count a failed authentication of ``address``."""
        now = self._now()
        per_minute = self._rates.failed_auth_per_address.per_minute
        bucket = self._failures.pop(address, None) or Bucket(
            rate=per_minute / 60, capacity=per_minute, tokens=per_minute, at=now
        )
        bucket.take(1, now)
        self._failures[address] = bucket
        while len(self._failures) > ADDRESSES:
            self._failures.popitem(last=False)

    @staticmethod
    def _bucket(
        buckets: dict[str, Bucket], key: str, rate: float, burst: float, now: float
    ) -> Bucket:
        found = buckets.get(key)
        if found is None:
            capacity = rate * burst
            found = buckets[key] = Bucket(rate=rate, capacity=capacity, tokens=capacity, at=now)
        return found
