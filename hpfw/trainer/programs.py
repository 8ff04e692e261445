"""The process's caches of compiled programs: each compiled once, several at a time, some ahead.

Trials side by side in threads (``hpfw.trainer.groups``) ask for the same
program at once: one thread compiles it, the others wait for it instead of
compiling it again, and exactly one of them reports the compile
(``Program.first_use``). Different programs compile at the same time, up to
``parallel`` at once (XLA compiles without holding the GIL, so on a CPU each
compile takes a core), and ``prefetch`` starts a compile in the background
while other work goes on. The trainer's programs (``hpfw.trainer.compiled``)
and the language model's evaluation programs (``hpfw.lm.evaluate``) each keep
one ``ProgramCache``.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Hashable
from concurrent.futures import Future, wait
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar


@dataclass
class Program:
    """A compiled program and what it cost to build."""

    run: Callable[..., Any]
    compile_seconds: float
    _unreported: bool = field(default=True, init=False, repr=False)
    _lock: threading.Lock = field(
        default_factory=threading.Lock, init=False, repr=False, compare=False
    )

    def first_use(self) -> bool:
        """True for exactly one caller, the first: the trial that reports the compile."""
        with self._lock:
            first, self._unreported = self._unreported, False
        return first


P = TypeVar("P", bound=Program)


def default_parallel() -> int:
    """Compiles at once: one per core this process may use."""
    return max(1, len(os.sched_getaffinity(0)))


class ProgramCache(Generic[P]):
    """Programs by key, each compiled on first request; safe to share between threads.

    ``get`` compiles in the calling thread (or waits for the thread already
    compiling that key); ``prefetch`` compiles in a background thread.
    ``compile_count`` counts the programs this cache compiled (tests read it
    and may ``reset_compile_count``); ``compile_log`` lists ``(key, seconds)``
    of every compile, which the cost model reads.
    """

    def __init__(self, parallel: int | None = None) -> None:
        self._programs: dict[Hashable, P] = {}
        self._pending: dict[Hashable, Future[P]] = {}
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(parallel or default_parallel())
        self.compile_count = 0
        self.compile_log: list[tuple[Hashable, float]] = []

    def get(self, key: Hashable, compile_program: Callable[[], P]) -> P:
        """The program under ``key``; ``compile_program()`` builds it if none is cached.

        If compiling raises, nothing is cached: the callers waiting for it get
        the error, and the next caller tries again.
        """
        program = self._programs.get(key)
        if program is not None:
            return program
        future, owner = self._claim(key)
        if owner:
            self._compile(key, compile_program, future)
        return future.result()

    def prefetch(self, key: Hashable, compile_program: Callable[[], P]) -> None:
        """Starts compiling ``key`` in a background thread unless it is cached or compiling."""
        if key in self._programs:
            return
        future, owner = self._claim(key)
        if owner:
            thread = threading.Thread(
                target=self._compile,
                args=(key, compile_program, future),
                name="hpfw-compile",
                daemon=True,  # a sweep that ends does not wait for a compile it will not use
            )
            thread.start()

    def _claim(self, key: Hashable) -> tuple[Future[P], bool]:
        """The future of ``key``'s compile, and whether the caller is to run it."""
        with self._lock:
            if key in self._programs:
                done: Future[P] = Future()
                done.set_result(self._programs[key])
                return done, False
            if key in self._pending:
                return self._pending[key], False
            future: Future[P] = Future()
            self._pending[key] = future
            return future, True

    def _compile(self, key: Hashable, compile_program: Callable[[], P], future: Future[P]) -> None:
        try:
            with self._slots:
                program = compile_program()
        except BaseException as error:
            with self._lock:
                del self._pending[key]
            future.set_exception(error)
            return
        with self._lock:
            self._programs[key] = program
            del self._pending[key]
            self.compile_count += 1
            self.compile_log.append((key, program.compile_seconds))
        future.set_result(program)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._programs

    def __len__(self) -> int:
        return len(self._programs)

    def wait(self, key: Hashable) -> None:
        """Returns once ``key`` is not compiling: compiled, failed, or never asked for."""
        with self._lock:
            future = self._pending.get(key)
        if future is not None:
            wait([future])

    def compiling(self, key: Hashable) -> bool:
        return key in self._pending

    def reset_compile_count(self) -> None:
        """Start counting compiles from zero (the cached programs stay)."""
        with self._lock:
            self.compile_count = 0
