"""End-to-end throughput benchmark: cxstream worker vs. a bare Faust agent, plus replay speed.

One run, on one broker and one pre-produced stream (``--days`` of the synthetic
shop from :mod:`cxstream.generator`, ~26k events per day):

a) ``bench.bare_faust``: a Faust app that only deserialises the values into
   ``faust.Record`` models and counts them; events/s from its first to its last event.
b) the cxstream worker (``python -m cxstream worker``) doing all of its work (decode,
   validate, dedup, order state, segment counters in Redis); events/s from the first
   to the last event it has fully processed, read from its ``/stats/`` page, and its
   Redis round trips per event.

Both consume the same topics with consumer groups of their own, one after the other.
Then it measures Redis memory per segment series (and per order and per event id)
from the worker's keys, and the events/s of ``cxstream replay`` over the same file
(``--store embedded`` and ``--store memory``, pinned to one core when ``taskset`` is
available). Figures are printed as a table and as one JSON line; the targets are only
compared against, never asserted.

Run: ``python -m bench.throughput --days 8 --seed 7 [--repeat 3]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
import tempfile
import time
import uuid
from pathlib import Path
from types import FrameType
from typing import Any

import redis

from bench.memory import MemoryReport, measure_memory
from bench.report import build_report, print_report
from bench.steps import BenchError, Round, delete_prefix, run_bare, run_replay, run_worker
from cxstream.config import Settings, TopicNames
from cxstream.embedded import EmbeddedKafka, EmbeddedRedis
from cxstream.generator import GeneratorConfig, generate_events, write_jsonl
from cxstream.producing import produce_files
from cxstream.worker_process import WorkerProcessError

__all__ = ["main"]


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.throughput", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--days", type=int, default=8, help="days of synthetic events (8 ≈ 210k)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=1, help="runs of (a) and (b); medians")
    parser.add_argument("--kafka", default=None, help="external broker host:port (else embedded)")
    parser.add_argument("--redis-url", default=None, help="external Redis URL (else embedded)")
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--skip-bare", action="store_true", help="do not run the Faust baseline")
    parser.add_argument("--skip-replay", action="store_true", help="do not time cxstream replay")
    parser.add_argument("--no-pin", action="store_true", help="do not pin replay to one core")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per step")
    parser.add_argument(
        "--profile-worker",
        type=Path,
        default=None,
        help="record the worker with py-spy into this file (.svg, .json speedscope, else raw); "
        "sampling slows the worker, so do not quote the figures of such a run",
    )
    parser.add_argument(
        "--rules",
        type=lambda value: Path(value).resolve(),  # the worker runs in a directory of its own
        default=None,
        help="run the worker (and the replays) with this rules directory, e.g. rules/",
    )
    parser.add_argument("--json-out", type=Path, default=None, help="also write the report here")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    run_id = uuid.uuid4().hex[:8]
    try:
        with contextlib.ExitStack() as stack:
            work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="cxbench-")))
            if args.kafka:
                broker = args.kafka
            else:
                _say("starting embedded Kafka-compatible broker")
                broker = stack.enter_context(EmbeddedKafka()).bootstrap
            if args.redis_url:
                redis_url = args.redis_url
            else:
                _say("starting embedded Redis")
                redis_url = stack.enter_context(EmbeddedRedis()).url
            client = redis.Redis.from_url(redis_url, decode_responses=True)
            stack.callback(client.close)
            topics = TopicNames(
                feedback=f"bench-{run_id}.feedback",
                logistics=f"bench-{run_id}.logistics",
                customers=f"bench-{run_id}.customers",
                deadletter=f"bench-{run_id}.deadletter",
            )
            settings = Settings(
                broker=broker,
                redis_url=redis_url,
                partitions=args.partitions,
                topics=topics,
                rules_dir=args.rules,
            )
            return _run(args, run_id, work, settings, client)
    except KeyboardInterrupt:
        _say("interrupted; stopped every process this run started")
        return 130
    except (BenchError, WorkerProcessError) as exc:
        _say(f"failed: {exc}")
        return 1


def _run(
    args: argparse.Namespace,
    run_id: str,
    work: Path,
    settings: Settings,
    client: redis.Redis,
) -> int:
    path = work / "events.jsonl"
    _say(f"generating {args.days} days of events (seed {args.seed})")
    write_jsonl(generate_events(GeneratorConfig(days=args.days, seed=args.seed)), path)
    _say(f"producing to {settings.broker} ({settings.partitions} partitions per topic)")
    started = time.perf_counter()
    produced = asyncio.run(produce_files([path], settings))
    events = sum(produced.sent.values())
    _say(f"produced {events} events in {time.perf_counter() - started:.1f}s: {produced.sent}")
    if produced.dead_lettered:
        _say(f"{produced.dead_lettered} lines could not be routed (dead-letter topic)")

    rounds: list[Round] = []
    prefixes: list[str] = []
    memory: MemoryReport | None = None
    try:
        for i in range(1, args.repeat + 1):
            bare: tuple[float, float, float] | None = None
            if not args.skip_bare:
                _say(f"[{i}/{args.repeat}] (a) bare Faust agent")
                bare = run_bare(settings, events, f"bench-{run_id}-bare-{i}", work, args.timeout)
                _say(f"    {bare[0]:,.0f} events/s over {bare[1]:.2f}s")
            _say(f"[{i}/{args.repeat}] (b) cxstream worker")
            prefix = f"bench{run_id}r{i}"
            prefixes.append(prefix)
            result = run_worker(
                settings,
                events,
                f"bench-{run_id}-cx-{i}",
                prefix,
                work,
                args.timeout,
                client,
                args.profile_worker if i == args.repeat else None,
            )
            if bare is not None:
                result.bare_eps, result.bare_elapsed_s, result.bare_cpu_s = bare
            rounds.append(result)
            _say(
                f"    {result.cx_eps:,.0f} events/s over {result.cx_elapsed_s:.2f}s, "
                f"{result.round_trips} round trips in {result.batches} batches"
            )
            if i == args.repeat:
                _say("measuring Redis memory of the worker's keys")
                memory = measure_memory(client, prefix, settings)
            delete_prefix(client, prefix)
    finally:
        for prefix in prefixes:
            with contextlib.suppress(redis.RedisError):
                delete_prefix(client, prefix)
    assert memory is not None

    replays: dict[str, dict[str, Any]] = {}
    if not args.skip_replay:
        for store in ("embedded", "memory"):
            _say(f"cxstream replay --store {store}")
            replays[store] = run_replay(
                path, store, work, not args.no_pin, args.timeout, args.rules
            )
            _say(f"    {replays[store]['line']}")

    report = build_report(events, args.days, args.seed, rounds, memory, replays, settings)
    report["calls_per_command"] = dict(
        sorted(rounds[-1].redis_calls.items(), key=lambda kv: -kv[1])
    )
    print_report(report, rounds)
    if args.json_out is not None:
        args.json_out.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
