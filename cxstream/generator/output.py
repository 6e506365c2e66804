"""The generator's output: the event stream, raw lines with malformed ones, JSON Lines files."""

from __future__ import annotations

import gzip
import json
import random
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, TextIO

from cxstream.generator.config import GeneratorConfig
from cxstream.generator.simulation import Simulation

__all__ = ["generate_events", "generate_lines", "write_jsonl"]


def generate_events(config: GeneratorConfig) -> Iterator[dict[str, Any]]:
    """Yield contract events (JSON-ready dicts, ts as ISO 8601 with Z) in event-time order.

    ``ts`` never decreases. Every event has a unique ``event_id`` except the
    deliberate duplicates (``config.duplicate_rate``), which follow their original
    immediately with identical content. Malformed lines (``config.invalid_rate``)
    are not events and only appear in :func:`generate_lines`. Each yielded dict is
    fresh; callers may keep or modify it.
    """
    return Simulation(config).run()


_MALFORMED_KINDS = ("truncated", "missing", "bad_ts", "bad_value", "not_object", "garbage")


def _malformed(event: dict[str, Any], n: int, rng: random.Random) -> str:
    """A broken line derived from ``event``, as a faulty upstream might send it."""
    bad = dict(event)
    bad["event_id"] = f"x{n:09d}"
    kind = _MALFORMED_KINDS[int(rng.random() * len(_MALFORMED_KINDS))]
    if kind == "truncated":
        text = json.dumps(bad, ensure_ascii=False, separators=(",", ":"))
        return text[: max(1, len(text) // 2)]
    if kind == "missing":
        bad.pop("customer_id", None)
        bad.pop("order_id", None)
    elif kind == "bad_ts":
        bad["ts"] = "yesterday evening"
    elif kind == "bad_value":
        if bad.get("kind") == "feedback":
            bad["score"] = 11 if rng.random() < 0.5 else "ten"
        elif bad.get("kind") == "logistics":
            bad["type"] = "teleported"
        else:
            bad["contact_opt_out"] = "maybe"
    elif kind == "not_object":
        return json.dumps([bad.get("kind"), bad["event_id"]])
    else:
        return "<html><body>502 Bad Gateway</body></html>"
    return json.dumps(bad, ensure_ascii=False, separators=(",", ":"))


def generate_lines(config: GeneratorConfig) -> Iterator[dict[str, Any] | str]:
    """The stream of :func:`generate_events` plus malformed raw lines (``invalid_rate``).

    Malformed lines are strings (write them verbatim with :func:`write_jsonl`); each
    follows the event it was derived from, so parseable timestamps stay in order.
    The valid events are exactly those of :func:`generate_events` for the same config.
    """
    rate = config.invalid_rate
    rng = random.Random(f"{config.seed}:invalid")
    n = 0
    for event in generate_events(config):
        if rate and rng.random() < rate:
            n += 1
            line = _malformed(event, n, rng)
            yield event
            yield line
        else:
            yield event


def _write_lines(handle: TextIO, items: Iterable[dict[str, Any] | str]) -> int:
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    count = 0
    chunk: list[str] = []
    for item in items:
        chunk.append(item if isinstance(item, str) else dumps(item))
        if len(chunk) >= 2048:
            chunk.append("")
            handle.write("\n".join(chunk))
            count += len(chunk) - 1
            chunk = []
    if chunk:
        chunk.append("")
        handle.write("\n".join(chunk))
        count += len(chunk) - 1
    return count


def write_jsonl(events: Iterable[dict[str, Any] | str], path: Path) -> int:
    """Write events as JSON Lines (gzip if ``path`` ends with ``.gz``); return lines written.

    ``str`` items are written verbatim as one line each (malformed lines).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.name.endswith(".gz"):
        with gzip.open(path, "wt", encoding="utf-8", compresslevel=6, newline="\n") as gz:
            return _write_lines(gz, events)
    with path.open("w", encoding="utf-8", newline="\n") as fh:
        return _write_lines(fh, events)
