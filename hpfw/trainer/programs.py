"""The process's caches of compiled programs: each program compiled once, whoever asks for it.

Trials side by side in threads (``hpfw.trainer.groups``) ask for the same
program at once: one thread compiles it, the others wait for it instead of
compiling it again, and exactly one of them reports the compile
(``Program.first_use``). The trainer's programs (``hpfw.trainer.compiled``) and the
language model's evaluation programs (``hpfw.lm.evaluate``) each keep one
``ProgramCache``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
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


class ProgramCache(Generic[P]):
    """Programs by key, each compiled on first request; safe to share between threads.

    One program compiles at a time; callers wait for it, then find it cached.
    Compiles are not run concurrently because a compile learns whether JAX's
    persistent cache served it by counting process-wide cache events
    (``hpfw.trainer.device.cache_hits``). ``compile_count`` counts the programs
    this cache compiled (tests read it and may ``reset_compile_count``).
    """

    def __init__(self) -> None:
        self._programs: dict[Hashable, P] = {}
        self._compiling = threading.Lock()  # held while a program compiles
        self.compile_count = 0

    def get(self, key: Hashable, compile_program: Callable[[], P]) -> P:
        """The program under ``key``; ``compile_program()`` builds it if none is cached.

        If compiling raises, nothing is cached and the next caller tries again.
        """
        program = self._programs.get(key)
        if program is not None:
            return program
        with self._compiling:
            program = self._programs.get(key)
            if program is None:
                program = compile_program()
                self._programs[key] = program
                self.compile_count += 1
        return program

    def __contains__(self, key: Hashable) -> bool:
        return key in self._programs

    def __len__(self) -> int:
        return len(self._programs)

    def reset_compile_count(self) -> None:
        """Start counting compiles from zero (the cached programs stay)."""
        with self._compiling:
            self.compile_count = 0
