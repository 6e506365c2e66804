"""The command line as a user runs it: generate, replay, produce, config, nab."""

from __future__ import annotations

import asyncio
import gzip
import json
import shutil
import uuid
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer
from click.testing import CliRunner

from cxstream.cli import main
from cxstream.partitioning import partition_for

NAB = Path(__file__).resolve().parents[3] / "shared" / "nab" / "data"


def run(*args: str, env: dict[str, str] | None = None) -> str:
    result = CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_generate_then_replay_writes_the_contract_outputs(tmp_path: Path) -> None:
    events = tmp_path / "day.jsonl.gz"
    assert "wrote" in run("generate", "--days", "1", "--seed", "3", "--out", str(events))
    with gzip.open(events, "rt") as f:
        lines = f.read().splitlines()
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"kind": "feedback", "score": 11}\nnot json\n')

    out = tmp_path / "out"
    printed = run("replay", str(events), str(bad), "--out", str(out), "--store", "memory")
    summary = json.loads((out / "summary.json").read_text())
    assert summary["events_read"] == len(lines) + 2
    assert summary["rejected"] == 2
    assert summary["accepted"] + summary["duplicates"] == len(lines)
    assert f"rejected {summary['rejected']}" in printed

    dead = [json.loads(x) for x in (out / "deadletter.jsonl").read_text().splitlines()]
    assert [(d["file"], d["line"]) for d in dead] == [(str(bad), 1), (str(bad), 2)]
    assert "score" in dead[0]["error"]
    assert dead[1]["raw"] == "not json"

    figures = [json.loads(x) for x in (out / "figures.jsonl").read_text().splitlines()]
    shop = [f for f in figures if f["series"] == "all"]
    assert shop
    assert all(f["segment"] == {} for f in shop)
    answers = {e["event_id"] for e in map(json.loads, lines) if e["kind"] == "feedback"}
    assert sum(f["responses"] for f in shop) == len(answers)  # repeated ids counted once
    assert {f["segment"].get("country") for f in figures} >= {"DE", "FR", "NL"}


def test_replay_on_an_embedded_redis_gives_the_in_process_figures(tmp_path: Path) -> None:
    events = tmp_path / "day.jsonl"
    run("generate", "--days", "1", "--seed", "4", "--orders-per-day", "800", "--out", str(events))
    run("replay", str(events), "--out", str(tmp_path / "mem"), "--store", "memory")
    run("replay", str(events), "--out", str(tmp_path / "emb"), "--store", "embedded")
    mem = (tmp_path / "mem" / "figures.jsonl").read_text()
    assert mem
    assert mem == (tmp_path / "emb" / "figures.jsonl").read_text()


def test_config_masks_secrets_and_reads_files(tmp_path: Path) -> None:
    path = tmp_path / "cx.yaml"
    path.write_text("partitions: 12\nredis_password: hunter2\n")
    shown = json.loads(run("config", "--config", str(path), env={"CXSTREAM_KEY_PREFIX": "shop1"}))
    assert shown["partitions"] == 12
    assert shown["key_prefix"] == "shop1"
    assert "hunter2" not in json.dumps(shown)


@pytest.mark.integration
def test_produce_sends_each_kind_to_its_topic_keyed_by_order(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    uid = uuid.uuid4().hex[:10]
    env = {
        "CXSTREAM_BROKER": kafka_bootstrap,
        "CXSTREAM_PARTITIONS": "4",
        "CXSTREAM_TOPICS__FEEDBACK": f"{uid}.feedback",
        "CXSTREAM_TOPICS__LOGISTICS": f"{uid}.logistics",
        "CXSTREAM_TOPICS__CUSTOMERS": f"{uid}.customers",
        "CXSTREAM_TOPICS__DEADLETTER": f"{uid}.deadletter",
    }
    events = tmp_path / "events.jsonl"
    run("generate", "--days", "1", "--seed", "5", "--orders-per-day", "200", "--out", str(events))
    with events.open("a") as f:
        f.write("{broken\n")
    printed = run("produce", str(events), env=env)
    assert f"{uid}.deadletter: 1" in printed

    async def consume(topic: str) -> list[tuple[bytes | None, bytes, int]]:
        consumer = AIOKafkaConsumer(
            topic, bootstrap_servers=kafka_bootstrap, auto_offset_reset="earliest"
        )
        await consumer.start()
        out: list[tuple[bytes | None, bytes, int]] = []
        try:
            for _ in range(20):
                batch = await consumer.getmany(timeout_ms=300)
                records = [r for rs in batch.values() for r in rs]
                if not records and out:
                    break
                out.extend((r.key, r.value, r.partition) for r in records)
        finally:
            await consumer.stop()
        return out

    logistics = asyncio.run(consume(f"{uid}.logistics"))
    assert logistics
    for key, value, partition in logistics:
        event = json.loads(value)
        assert key == event["order_id"].encode()
        assert partition == partition_for(event["order_id"], 4)
    feedback = asyncio.run(consume(f"{uid}.feedback"))
    assert all(json.loads(v)["kind"] == "feedback" for _, v, _ in feedback)
    dead = asyncio.run(consume(f"{uid}.deadletter"))
    assert len(dead) == 1
    assert json.loads(dead[0][1])["raw"] == "{broken"


@pytest.mark.skipif(not NAB.is_dir(), reason="the NAB corpus is not beside the repository")
def test_nab_writes_one_scored_csv_per_series(tmp_path: Path) -> None:
    data = tmp_path / "data" / "realKnownCause"
    data.mkdir(parents=True)
    shutil.copy(NAB / "realKnownCause" / "nyc_taxi.csv", data)
    run("nab", str(tmp_path / "data"), "--out", str(tmp_path / "results"))
    rows = (tmp_path / "results" / "realKnownCause" / "nyc_taxi.csv").read_text().splitlines()
    assert rows[0] == "timestamp,value,anomaly_score"
    source = (data / "nyc_taxi.csv").read_text().splitlines()
    assert len(rows) == len(source)
    assert all(0.0 <= float(r.rsplit(",", 1)[1]) <= 1.0 for r in rows[1:])
