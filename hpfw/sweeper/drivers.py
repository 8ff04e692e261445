"""Several drivers on one sweep: the sweep's lock, and each driver's proof of life.

Everything lives in ``<sweep dir>/.hpfw/``. ``sweep.lock`` serialises what
drivers do to the journal (read its tail, ask, append), so two drivers never
hand out the same trial. Each driver holds ``drivers/<id>.lock`` for as long
as it runs; the kernel drops the lock when the process dies, even by SIGKILL,
so another driver can tell a dead driver's running trials (orphans) from a
live one's and run them again.

Hand-written over ``fcntl.flock``, as ``hpfw.trainer.device`` claims devices:
about sixty lines, and it needs to know what a library hides (the lock of a
*dead* process must be detectable, and threads of one process must exclude
each other too). On NFS, Linux implements ``flock`` with POSIX byte-range
locks, which NFSv4 (and lockd for v3) share between machines; those do not
exclude threads of one process, so a ``threading.Lock`` does that.
"""

from __future__ import annotations

import fcntl
import os
import secrets
import socket
import threading
from pathlib import Path

STATE_DIR = ".hpfw"  # <sweep dir>/.hpfw: sweep.lock, drivers/
_LIVE: set[str] = set()  # drivers of this process (POSIX locks cannot see their own)


class SweepLock:
    """Exclusive access to a sweep's journal: one thread of one process at a time."""

    def __init__(self, sweep_dir: str | Path) -> None:
        self.path = Path(sweep_dir) / STATE_DIR / "sweep.lock"
        self._thread = threading.RLock()
        self._fd: int | None = None
        self._depth = 0

    def __enter__(self) -> SweepLock:
        self._thread.acquire()
        if self._depth == 0:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
            except BaseException:
                os.close(fd)
                self._thread.release()
                raise
            self._fd = fd
        self._depth += 1
        return self

    def __exit__(self, *exc: object) -> None:
        self._depth -= 1
        if self._depth == 0 and self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
        self._thread.release()


class Driver:
    """This process's membership of a sweep, from ``start`` to ``stop``."""

    def __init__(self, sweep_dir: str | Path) -> None:
        self.folder = Path(sweep_dir) / STATE_DIR / "drivers"
        host = socket.gethostname().split(".")[0] or "host"
        self.id = f"{host}-{os.getpid()}-{secrets.token_hex(3)}"
        self._handle: int | None = None

    def _path(self, driver_id: str) -> Path:
        return self.folder / f"{driver_id}.lock"

    def start(self) -> None:
        """Takes this driver's lock; held until ``stop`` or the process ends."""
        self.folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(self._path(self.id), os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a fresh id: nobody else holds it
        self._handle = fd
        _LIVE.add(self.id)

    def stop(self) -> None:
        if self._handle is None:
            return
        _LIVE.discard(self.id)
        self._path(self.id).unlink(missing_ok=True)
        fcntl.flock(self._handle, fcntl.LOCK_UN)
        os.close(self._handle)
        self._handle = None

    def alive(self, driver_id: str | None) -> bool:
        """Whether the driver ``driver_id`` still runs (``None``, an old journal's: no)."""
        if driver_id is None:
            return False
        if driver_id in _LIVE:
            return True
        try:
            fd = os.open(self._path(driver_id), os.O_RDWR)
        except FileNotFoundError:
            return False  # it stopped cleanly, or never ran on this file system
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)  # also drops the lock if we just took it
        return False

    def others(self) -> list[str]:
        """The ids of the other drivers of this sweep that are alive now."""
        if not self.folder.is_dir():
            return []
        found = [p.stem for p in self.folder.glob("*.lock") if p.stem != self.id]
        return [d for d in found if self.alive(d)]
