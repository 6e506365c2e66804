"""Reading and writing JSON Lines files, plain or gzip-compressed."""

from __future__ import annotations

import gzip
import io
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import TracebackType
from typing import IO, Any

__all__ = ["JsonlWriter", "LineReader"]

_GZIP_MAGIC = b"\x1f\x8b"


class LineReader:
    """Iterate over the raw lines of a JSONL file (gzip detected by its magic bytes).

    ``progress`` tells how many bytes of the file on disk have been consumed.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.size = self.path.stat().st_size
        self._raw: IO[bytes] | None = None

    @property
    def progress(self) -> int:
        return self._raw.tell() if self._raw is not None and not self._raw.closed else self.size

    def __iter__(self) -> Iterator[tuple[int, bytes]]:
        """Yield ``(line_number, line_bytes)``, skipping blank lines; 1-based numbers."""
        with self.path.open("rb") as raw:
            self._raw = raw
            compressed = raw.read(2) == _GZIP_MAGIC
            raw.seek(0)
            lines: Iterable[bytes] = (
                io.BufferedReader(gzip.GzipFile(fileobj=raw, mode="rb"), 1 << 20)
                if compressed
                else raw
            )
            for number, line in enumerate(lines, start=1):
                line = line.rstrip(b"\r\n")
                if line.strip():
                    yield number, line


class JsonlWriter:
    """Append JSON objects to a JSONL file, one per line (gzip if the name ends in .gz)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.count = 0
        self._file: IO[str] = (
            gzip.open(self.path, "wt", encoding="utf-8")  # noqa: SIM115 - closed by close()
            if self.path.suffix == ".gz"
            else self.path.open("w", encoding="utf-8")
        )

    def write(self, record: dict[str, Any] | str) -> None:
        line = record if isinstance(record, str) else json.dumps(record, ensure_ascii=False)
        self._file.write(line)
        self._file.write("\n")
        self.count += 1

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> JsonlWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
