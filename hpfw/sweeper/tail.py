"""Reading a journal as it grows: only the lines appended since the last read.

Drivers sharing a sweep, and trials deciding whether to prune, read the
journal again and again; each read parses only the new complete lines, so a
long sweep does not cost a whole-file parse per trial.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from hpfw.sweeper.journal import Journal, JournalError, check_header, parse_line, trial_id


class JournalTail:
    """The header and latest record of each trial of a journal, kept up to date by ``update``."""

    def __init__(self, sweep_dir: str | Path) -> None:
        self.path = Path(sweep_dir) / Journal.FILENAME
        self._reset()

    def _reset(self) -> None:
        self.header: dict[str, Any] | None = None
        self.latest: dict[int, dict[str, Any]] = {}
        self._offset = 0
        self._lineno = 0

    def exists(self) -> bool:
        return self.path.is_file()

    def update(self) -> list[dict[str, Any]]:
        """Reads the lines added since the last call; returns their trial records, in order.

        A last line without its newline is left for the next call (it is being
        written, or its writer died and the next append repairs it).
        """
        try:
            size = os.stat(self.path).st_size
        except FileNotFoundError:
            return []
        if size < self._offset:  # rewritten (a test, or a repair of a torn tail we had read)
            self._reset()
        if size == self._offset:
            return []
        with open(self.path, "rb") as f:
            f.seek(self._offset)
            chunk = f.read(size - self._offset)
        end = chunk.rfind(b"\n") + 1
        new: list[dict[str, Any]] = []
        for line in chunk[:end].split(b"\n")[:-1]:
            self._lineno += 1
            if not line.strip():
                continue
            data = parse_line(line)
            if data is None:
                raise JournalError(f"{self.path}: line {self._lineno} is not a JSON object")
            if self.header is None:
                self.header = check_header(data, self.path, self._lineno)
            elif data.get("type") == "trial":
                self.latest[trial_id(data, self.path, self._lineno)] = data
                new.append(data)
        self._offset += end
        return new

    def records(self) -> list[dict[str, Any]]:
        """The latest record of each trial, sorted by id."""
        return [self.latest[i] for i in sorted(self.latest)]
