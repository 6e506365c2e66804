"""Customer messages from the worker reach a real SMTP server exactly once.

The worker runs with the shipped rules against the test broker, Redis and an aiosmtpd
server on loopback. Its apologies and delay notices are compared with the actions an
independent replay of the same file decides: every decided email arrives, once (by
its Message-ID, derived from the action id), even when the worker is killed with
SIGKILL mid-stream and started again, when the SMTP server is down for a while, and
when a second worker joins and the partitions are rebalanced mid-stream.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from cxstream.config import Settings
from cxstream.decoding import EventDecoder
from cxstream.delivery_settings import SmtpSettings
from cxstream.detection_setup import action_planner, detection_stage
from cxstream.engine import Engine, EngineOptions
from cxstream.generator import GeneratorConfig, generate_lines, write_jsonl
from cxstream.memory_store import MemoryStateStore
from cxstream.notify.mail import EmailComposer
from cxstream.producing import produce_files
from cxstream.replay import Replayer
from cxstream.rules import load_rules
from cxstream.worker_process import WorkerProcess
from tests.integration.worker_settings import worker_test_settings
from tests.servers.smtp import SmtpServer

pytestmark = [pytest.mark.integration, pytest.mark.slow]

RULES = Path(__file__).resolve().parents[2] / "rules"
EMAIL_TYPES = {"apology_email", "delay_notice"}


def _settings(kafka: str, redis_url: str, smtp: SmtpServer) -> Settings:
    return worker_test_settings(
        kafka,
        redis_url,
        retry_initial_s=0.2,
        rules_dir=RULES,
        smtp=SmtpSettings(
            host=smtp.host, port=smtp.port, security="none", from_address="service@shop.test"
        ),
    )


async def _expected_emails(path: Path, settings: Settings, out: Path) -> dict[str, dict[str, Any]]:
    rules = load_rules(RULES)
    store = MemoryStateStore()
    replayer = Replayer(
        Engine(store, EngineOptions.from_settings(settings)),
        EventDecoder(),
        batch_size=700,
        stage=detection_stage(settings, store, rule_set=rules),
        planner=action_planner(settings, store, rules),
    )
    await replayer.run([path], out)
    actions = [json.loads(line) for line in (out / "actions.jsonl").read_text().splitlines()]
    composer = EmailComposer(settings.smtp)  # type: ignore[arg-type]
    return {composer.message_id(a["action_id"]): a for a in actions if a["type"] in EMAIL_TYPES}


def _wait_for_mail(smtp: SmtpServer, expected: int, timeout: float, worker: WorkerProcess) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len({m["Message-ID"] for m in smtp.messages()}) >= expected:
            time.sleep(3.0)  # let any duplicate arrive before judging
            return
        time.sleep(0.5)
    raise AssertionError(
        f"{len(smtp.messages())} of {expected} messages arrived\n{worker.log_tail()}"
    )


async def test_every_decided_email_arrives_once_through_a_crash_and_an_smtp_outage(
    kafka_bootstrap: str, redis_url: str, tmp_path: Path
) -> None:
    with SmtpServer() as smtp:
        settings = _settings(kafka_bootstrap, redis_url, smtp)
        path = tmp_path / "events.jsonl"
        write_jsonl(generate_lines(GeneratorConfig(days=1, seed=41, orders_per_day=2500)), path)
        expected = await _expected_emails(path, settings, tmp_path / "replay")
        assert len(expected) > 20

        smtp.stop()  # down while the first emails are decided
        worker = WorkerProcess(settings, tmp_path, "one").start()
        produced = await produce_files([path], settings)
        assert produced.total > 0
        second: WorkerProcess | None = None
        try:
            worker.wait_until(lambda s: s.get("actions_decided", 0) > 10, 120, "actions decided")
            await asyncio.sleep(3.0)  # the dispatcher retries against the closed port
            smtp.start()
            for _ in range(300):  # until the first messages arrive, 60 s at most
                if smtp.messages():
                    break
                await asyncio.sleep(0.2)
            worker.kill()  # mid-delivery
            second = WorkerProcess(settings, tmp_path, "two").start()
            _wait_for_mail(smtp, len(expected), 240, second)
        finally:
            worker.stop()
            if second is not None:
                second.stop()

        # A SIGKILL can land after the SMTP server accepted a message and before its
        # delivery was recorded: the messages being sent at that moment (at most one per
        # SMTP connection) may come again, with the same Message-ID, which mail systems
        # show once. Nothing else may come twice.
        assert settings.smtp is not None
        _assert_once(smtp, expected, in_flight_at_kill=settings.smtp.max_connections)
        for message in smtp.messages():
            assert message.is_multipart()
            kinds = {part.get_content_type() for part in message.walk()}
            assert {"text/plain", "text/html"} <= kinds


def _assert_once(
    smtp: SmtpServer, expected: dict[str, dict[str, Any]], in_flight_at_kill: int = 0
) -> None:
    received = Counter(m["Message-ID"] for m in smtp.messages())
    repeated = {mid: n for mid, n in received.items() if n > 1}
    assert len(repeated) <= in_flight_at_kill, repeated
    assert all(n == 2 for n in repeated.values()), repeated
    assert set(received) == set(expected)


async def test_two_workers_in_a_rebalance_still_send_each_email_once(
    kafka_bootstrap: str, redis_url: str, tmp_path: Path
) -> None:
    with SmtpServer() as smtp:
        settings = _settings(kafka_bootstrap, redis_url, smtp)
        path = tmp_path / "events.jsonl"
        write_jsonl(generate_lines(GeneratorConfig(days=1, seed=43, orders_per_day=2500)), path)
        expected = await _expected_emails(path, settings, tmp_path / "replay")
        assert len(expected) > 20

        one = WorkerProcess(settings, tmp_path, "one").start()
        two: WorkerProcess | None = None
        try:
            one.wait_until(lambda s: s.get("ready", False), 60, "worker ready")
            await produce_files([path], settings)
            one.wait_until(lambda s: s.get("actions_decided", 0) > 10, 120, "actions decided")
            two = WorkerProcess(settings, tmp_path, "two").start()  # rebalance mid-stream
            _wait_for_mail(smtp, len(expected), 240, two)
        finally:
            one.stop()
            if two is not None:
                two.stop()
        _assert_once(smtp, expected)
