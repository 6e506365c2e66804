"""Which segment series each owner partition watches, kept up to date incrementally.

The store's series index only grows (a series, once seen, stays listed). The detection
stage asks, for each owner partition, for the series it owns; grouping the whole index
again on every call would cost time proportional to all series ever seen, on every
batch. :class:`SeriesDirectory` groups each series once, when it first appears.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from cxstream.checkpoints import owner_of

__all__ = ["SeriesDirectory"]


class SeriesDirectory:
    """Series by owner partition (see :func:`~cxstream.checkpoints.owner_of`), only
    those for which ``keep(dims)`` holds (default: all).

    >>> directory = SeriesDirectory(partitions=8)
    >>> directory.update({"a": {"country": "DE"}, "b": {"country": "FR"}})
    2
    >>> directory.update({"a": {"country": "DE"}, "b": {"country": "FR"}})
    0
    >>> directory.owned(owner_of({"country": "DE"}, 8))
    {'a': {'country': 'DE'}}
    """

    def __init__(
        self, partitions: int, keep: Callable[[Mapping[str, str]], bool] | None = None
    ) -> None:
        self.partitions = partitions
        self.keep = keep
        self._owner: dict[str, int] = {}
        self._by_owner: dict[int, dict[str, Mapping[str, str]]] = {}

    def __len__(self) -> int:
        return len(self._owner)

    def update(self, series: Mapping[str, Mapping[str, str]]) -> int:
        """Take in the series of ``series`` not seen before; returns how many were new."""
        if len(series) == len(self._owner):
            return 0  # the index only grows: same size, same series
        if len(series) < len(self._owner):  # the index was emptied (e.g. a flushed Redis)
            self._owner.clear()
            self._by_owner.clear()
        new = 0
        for sid, dims in series.items():
            if sid in self._owner:
                continue
            new += 1
            owner = self._owner[sid] = owner_of(dims, self.partitions)
            if self.keep is None or self.keep(dims):
                self._by_owner.setdefault(owner, {})[sid] = dims
        return new

    def owned(self, owner: int) -> dict[str, Mapping[str, str]]:
        """The kept series of ``owner`` (a view: do not change it)."""
        return self._by_owner.get(owner, {})
