"""The Redis key layout, designed for Redis Cluster from the start.

Keys that one transactional update touches share a hash tag, so they live in one
slot on a cluster:

* per input partition ``p`` (the Kafka partition of the event key):
  ``{prefix}:{p<p>}:seen:<yyyymmdd>`` (set of event ids), ``{prefix}:{p<p>}:order:<id>``
  (JSON string), ``{prefix}:{p<p>}:cust:<id>`` (JSON string), ``{prefix}:{p<p>}:batchseq``
  (batch counter), ``{prefix}:{p<p>}:journal`` (committed, not yet applied counter
  contributions by batch number) and ``{prefix}:{p<p>}:commits`` (commit tokens);
* per segment series ``s``: ``{prefix}:{s:<s>}:agg:<bucket>`` (hash of counters),
  ``{prefix}:{s:<s>}:wm`` (last applied batch number per partition), ``{prefix}:{s:<s>}:buckets``
  (sorted set of bucket numbers);
* per detection owner partition ``o``: ``{prefix}:{o<o>}:late`` (hash of event id to the
  note of a possibly late event, :mod:`cxstream.late_events`);
* ``{prefix}:series`` (hash of series id to its dimensions).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

__all__ = ["KeyLayout"]


@dataclass(frozen=True, slots=True)
class KeyLayout:
    """Builds every Redis key cxstream uses, under one prefix.

    >>> keys = KeyLayout("cx")
    >>> keys.order(3, "o-1")
    'cx:{p3}:order:o-1'
    >>> keys.aggregate("country=DE", 12)
    'cx:{s:country=DE}:agg:12'
    """

    prefix: str = "cx"

    def seen(self, partition: int, day: date) -> str:
        return f"{self.prefix}:{{p{partition}}}:seen:{day:%Y%m%d}"

    def order(self, partition: int, order_id: str) -> str:
        return f"{self.prefix}:{{p{partition}}}:order:{order_id}"

    def customer(self, partition: int, customer_id: str) -> str:
        return f"{self.prefix}:{{p{partition}}}:cust:{customer_id}"

    def batch_counter(self, partition: int) -> str:
        return f"{self.prefix}:{{p{partition}}}:batchseq"

    def journal(self, partition: int) -> str:
        return f"{self.prefix}:{{p{partition}}}:journal"

    def commit_tokens(self, partition: int) -> str:
        return f"{self.prefix}:{{p{partition}}}:commits"

    def aggregate(self, series: str, bucket: int) -> str:
        return f"{self.prefix}:{{s:{series}}}:agg:{bucket}"

    def watermarks(self, series: str) -> str:
        return f"{self.prefix}:{{s:{series}}}:wm"

    def buckets(self, series: str) -> str:
        return f"{self.prefix}:{{s:{series}}}:buckets"

    def late(self, owner: int) -> str:
        return f"{self.prefix}:{{o{owner}}}:late"

    def series_index(self) -> str:
        return f"{self.prefix}:series"
