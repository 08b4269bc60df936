"""Python ``logging`` for the ``swe-dagger`` command: one stderr handler, a level from ``-v``/``-q``.

Libraries log every HTTP request and lock at INFO (``httpx``, ``httpcore``, ``urllib3``, ``filelock``, ...); between
the progress bars those lines are noise, so they stay at WARNING unless ``-vv`` asks for everything. The handler
writes to whatever ``sys.stderr`` is when a record arrives: while rich's live display runs that is its proxy, which
prints the line above the bars instead of through them.
"""

from __future__ import annotations

import logging
import sys

NOISY = ("httpx", "httpcore", "urllib3", "filelock", "docker", "huggingface_hub", "datasets", "matplotlib", "PIL")
"""Loggers held at WARNING below ``-vv`` (they log each request, lock or font lookup at INFO/DEBUG)."""

LEVELS = {-1: logging.ERROR, 0: logging.WARNING, 1: logging.INFO, 2: logging.DEBUG}
"""Verbosity (``-v`` count minus ``-q`` count, clamped) → the root level."""

_FORMAT = "%(levelname)s %(name)s: %(message)s"


class _CurrentStderr(logging.StreamHandler):
    """A stream handler bound to the current ``sys.stderr`` at each record, not the one at setup."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


def setup_logging(verbosity: int = 0) -> int:
    """Configure the root logger for ``verbosity`` (``-q`` = -1: errors only; 0: warnings; ``-v``: info;
    ``-vv``: debug, the noisy libraries included); returns the root level. Called again, it replaces its own
    handler and keeps any other (a test's capture). Called before the libraries load, it makes their
    ``logging.basicConfig(level=INFO)`` a no-op (the root logger has a handler by then)."""
    level = LEVELS[max(-1, min(2, verbosity))]
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _CurrentStderr)]:
        root.removeHandler(old)
    handler = _CurrentStderr()
    handler.setFormatter(logging.Formatter(_FORMAT))
    root.addHandler(handler)
    root.setLevel(level)
    for name in NOISY:
        logging.getLogger(name).setLevel(level if level <= logging.DEBUG else max(level, logging.WARNING))
    return level
