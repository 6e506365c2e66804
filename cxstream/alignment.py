"""Event-time alignment of feedback with the logistics and customer streams.

Feedback is joined with its order's state and its customer's profile. The worker
consumes the three topics independently, so after a backlog it may read feedback
days ahead (in event time) of the logistics events that explain it. To give the
same join as a replay in event-time order, feedback is held back while a
reference stream that still has unread data is behind the feedback's ``ts``; it is
released as soon as every lagging reference stream has passed it, when the
reference streams stop making progress for ``max_idle_s`` (wall clock), or when
more than ``max_held`` events are waiting. A caught-up (lag 0) stream holds an event
back for at most ``caught_up_grace_s``: in a live stream the logistics event that
precedes a feedback event in event time may simply not have been fetched yet, and a
short wait lets it arrive (as Kafka Streams' ``max.task.idle.ms`` does).

Held events of one input stream are released strictly in the order they arrived
(a prefix at a time), so positions within a stream are processed in order.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Generic, TypeVar

from cxstream.clock import Clock, SystemClock
from cxstream.decoding import Envelope

if TYPE_CHECKING:
    from cxstream.config import Settings

__all__ = ["EventTimeAligner"]

T = TypeVar("T")


class EventTimeAligner(Generic[T]):
    """Holds back events of ``held_kinds`` until the reference streams catch up.

    ``lag(stream)`` says how many records of a stream are still unread (``None`` if
    unknown); a stream with unknown lag counts as lagging. Each envelope travels
    with an opaque ``token`` (the driver's handle for acknowledging it).

    >>> from cxstream.clock import ManualClock
    >>> aligner = EventTimeAligner(lambda s: 0, clock=ManualClock())
    >>> aligner.offer([]), aligner.held
    ([], 0)
    """

    def __init__(
        self,
        lag: Callable[[str], int | None],
        *,
        held_kinds: frozenset[str] = frozenset({"feedback"}),
        max_idle_s: float = 2.0,
        caught_up_grace_s: float = 0.5,
        max_held: int = 200_000,
        clock: Clock | None = None,
    ) -> None:
        self.lag = lag
        self.held_kinds = held_kinds
        self.max_idle_s = max_idle_s
        self.caught_up_grace_s = caught_up_grace_s
        self.max_held = max_held
        self.clock = clock or SystemClock()
        self._stream_time: dict[str, float] = {}
        self._reference_streams: set[str] = set()
        self._held: dict[str, deque[tuple[float, float, Envelope, T]]] = {}
        self._count = 0
        self._last_progress = self.clock.monotonic()

    @classmethod
    def from_settings(
        cls, settings: Settings, lag: Callable[[str], int | None], *, clock: Clock | None = None
    ) -> EventTimeAligner[T]:
        """The worker's aligner: ``join_hold_s`` and ``join_grace_s`` from ``settings``."""
        return cls(
            lag,
            max_idle_s=settings.join_hold_s,
            caught_up_grace_s=settings.join_grace_s,
            clock=clock,
        )

    @property
    def held(self) -> int:
        return self._count

    def held_streams(self) -> set[str]:
        """The streams that have events waiting here."""
        return {stream for stream, queue in self._held.items() if queue}

    def expect(self, streams: Iterable[str]) -> None:
        """Declare reference streams assigned to this worker (they may not have data yet)."""
        self._reference_streams.update(streams)

    def forget(self, streams: Iterable[str]) -> list[T]:
        """Streams were revoked: stop waiting for them and give back the tokens of held
        events that came from them (they will be read again by the new owner)."""
        dropped: list[T] = []
        for stream in set(streams):
            self._reference_streams.discard(stream)
            self._stream_time.pop(stream, None)
            queue = self._held.pop(stream, None)
            if queue:
                dropped.extend(token for _, _, _, token in queue)
                self._count -= len(queue)
        return dropped

    def _horizons(self) -> tuple[float, float]:
        """Event time up to which every lagging reference stream has been read, and up to
        which every caught-up one has."""
        lagging = caught_up = float("inf")
        for stream in self._reference_streams:
            lag = self.lag(stream)
            time = self._stream_time.get(stream, float("-inf"))
            if lag is not None and lag <= 0:
                caught_up = min(caught_up, time)
            else:
                lagging = min(lagging, time)
        return lagging, caught_up

    def offer(self, items: Iterable[tuple[Envelope, T]]) -> list[tuple[Envelope, T]]:
        """Add a batch; return what may be processed now (reference events first, in
        arrival order, then released held events)."""
        ready: list[tuple[Envelope, T]] = []
        now = self.clock.monotonic()
        if not self._count:
            self._last_progress = now  # idleness counts from when something starts waiting
        progressed = False
        for env, token in items:
            ts = env.event.ts.timestamp()
            if env.event.kind in self.held_kinds:
                queue = self._held.get(env.stream)
                if queue is None:
                    queue = self._held[env.stream] = deque()
                queue.append((ts, now, env, token))
                self._count += 1
                continue
            self._reference_streams.add(env.stream)
            if ts > self._stream_time.get(env.stream, float("-inf")):
                self._stream_time[env.stream] = ts
                progressed = True
            ready.append((env, token))
        if progressed:
            self._last_progress = now
        if not self._count:
            return ready
        idle = now - self._last_progress >= self.max_idle_s
        lagging, caught_up = (float("inf"), float("inf")) if idle else self._horizons()
        graced = now - self.caught_up_grace_s
        for queue in self._held.values():
            while queue:
                ts, arrived = queue[0][0], queue[0][1]
                due = ts <= lagging and (ts <= caught_up or arrived <= graced)
                if not due and self._count <= self.max_held:
                    break
                _, _, env, token = queue.popleft()
                self._count -= 1
                ready.append((env, token))
        return ready

    def release_all(self) -> list[tuple[Envelope, T]]:
        out = [(env, token) for queue in self._held.values() for _, _, env, token in queue]
        self._held.clear()
        self._count = 0
        return out
