"""The NAB runner is deterministic and writes one scored CSV per input file."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest

from cxstream.nab import main, run_nab

NAB_DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "nab" / "data"
FILES = ["realAdExchange/exchange-2_cpc_results.csv", "realTraffic/speed_7578.csv"]


def synthetic(path: Path, n: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["timestamp", "value"])
        for i in range(n):
            day, minute = divmod(i * 5, 1440)
            w.writerow([f"2014-07-{1 + day:02d} {minute // 60:02d}:{minute % 60:02d}:00", i % 17])


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    for rel in FILES:
        src = NAB_DATA / rel
        if src.is_file():
            (data / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(src, data / rel)
        else:
            synthetic(data / rel, 1200)
    return data


def test_run_nab_is_deterministic(data_dir: Path, tmp_path: Path) -> None:
    a = run_nab(data_dir, tmp_path / "a", seed=0)
    b = run_nab(data_dir, tmp_path / "b", seed=0)
    assert a.files == b.files == 2
    for rel in FILES:
        out_a = (tmp_path / "a" / rel).read_text()
        assert out_a == (tmp_path / "b" / rel).read_text()
        rows = list(csv.DictReader(out_a.splitlines()))
        src = list(csv.DictReader((data_dir / rel).read_text().splitlines()))
        assert [r["timestamp"] for r in rows] == [r["timestamp"] for r in src]
        assert all(0.0 <= float(r["anomaly_score"]) <= 1.0 for r in rows)
    lines = sum(len((data_dir / rel).read_text().splitlines()) - 1 for rel in FILES)
    assert a.rows == lines


def test_main_writes_results(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([str(data_dir), "--out", str(tmp_path / "r")]) == 0
    assert "2 files" in capsys.readouterr().out
    assert (tmp_path / "r" / FILES[1]).is_file()


def test_run_nab_without_csv_fails(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        run_nab(tmp_path, tmp_path / "out")
