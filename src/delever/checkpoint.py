"""Checkpoints and ``--resume``: a killed ``run``, ``sweep`` or ``compare`` continues where it stopped, and its
outputs are byte-identical to an uninterrupted run's.

Where: ``.delever-checkpoint-<out name>/`` next to the output directory (never cleaned as a temporary
directory, :mod:`delever.outdir`), removed when the command's outputs are written. What identifies it: a
SHA-256 of the command, delever's version, the scenario (every field), the seed, the command's arguments that
change results, and the bytes of the scenario's input files; ``--resume`` with a checkpoint of anything else
is refused (:class:`~delever.errors.InputError`), as is ``--resume`` with no checkpoint (nothing to resume).

Formats (well kept, no pickle):

- ``run``: the engine's state (:class:`delever.engine.Simulation`: book, fund, event buffer and log, price
  and fund series, mark and refill state, trigger index, mechanism state, RNG states) in one NumPy ``.npz``
  (``allow_pickle=False``): every array under its attribute path, and the rest of the object graph (scalars,
  lists, dicts, which object each attribute is, which attributes are the same object) as JSON in the array
  ``__graph__``. The inputs the constructor rebuilds from (scenario, seed, prepared market) are not stored: a
  resumed run rebuilds the simulation from them and replaces its state. It is written every
  ``every_s`` seconds of work (default :data:`DEFAULT_EVERY_S`, so a kill loses at most about that much) and
  once when the engine finishes, atomically (temporary file, then rename);
- ``sweep`` / ``compare``: an SQLite database with one row per finished path (per point) or policy, committed
  as each finishes (a kill loses only the paths or policy in flight).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .errors import InputError
from .state_graph import capture_state, decode_value, encode_value, restore_state

DEFAULT_EVERY_S = 10.0
"""Seconds of engine work between two checkpoints of ``delever run`` (a kill loses at most about this)."""

PREFIX = ".delever-checkpoint-"
STATE = "state.npz"
DB = "results.sqlite"
META = "meta.json"


def location(out_dir: Path) -> Path:
    """The checkpoint directory of an output directory."""
    out_dir = Path(os.path.abspath(out_dir))
    return out_dir.parent / f"{PREFIX}{out_dir.name}"


def run_key(command: str, scenario, seed: int, **args: Any) -> str:
    """SHA-256 identifying a command's results: command, version, scenario, seed, ``args`` and input files."""
    from . import __version__

    h = hashlib.sha256()
    h.update(json.dumps([command, __version__, seed, sorted((k, repr(v)) for k, v in args.items())]).encode())
    h.update(scenario.model_dump_json().encode())
    files = [scenario.prices.file, scenario.liquidity.depth_file]
    if scenario.book.file is not None:
        files.append(scenario.book.file)
    for name in files:
        path = scenario.resolve(name)
        try:
            with open(path, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    h.update(block)
        except OSError:
            h.update(f"unreadable:{path}".encode())
    return h.hexdigest()


class Checkpoint:
    """The checkpoint of one command's output directory (module docstring).

    ``resume=False`` discards any earlier checkpoint there and starts a new one; ``resume=True`` requires one
    with the same ``key``.

    Raises:
        InputError: (field ``--resume``) no checkpoint to resume, or one of a different run.
    """

    def __init__(self, out_dir: Path, command: str, key: str, resume: bool) -> None:
        self.dir = location(out_dir)
        self.command, self.key = command, key
        meta_path = self.dir / META
        if resume:
            try:
                meta = json.loads(meta_path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                raise InputError(
                    f"no checkpoint to resume at {self.dir} (the run finished, or never checkpointed); "
                    "run without --resume",
                    field="--resume",
                ) from None
            if meta.get("key") != key or meta.get("command") != command:
                raise InputError(
                    f"the checkpoint at {self.dir} is of another run (different scenario, seed, arguments, "
                    "input files or delever version); run without --resume to start again",
                    field="--resume",
                )
        else:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir.mkdir(parents=True)
            tmp = self.dir / f"{META}.tmp"
            tmp.write_text(json.dumps({"command": command, "key": key}) + "\n", encoding="utf-8")
            os.replace(tmp, meta_path)
        self._db: sqlite3.Connection | None = None

    # -- finished items (sweep paths, compare policies) ------------------------------------------------------
    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            self._db = sqlite3.connect(self.dir / DB)
            self._db.execute("CREATE TABLE IF NOT EXISTS done (item TEXT PRIMARY KEY, value TEXT NOT NULL)")
            self._db.commit()
        return self._db

    def finished(self) -> dict[str, Any]:
        """``{item: value}`` of every item recorded so far."""
        rows = self._conn().execute("SELECT item, value FROM done").fetchall()
        return {item: decode_value(json.loads(value)) for item, value in rows}

    def record(self, items: dict[str, Any]) -> None:
        """Record finished items (committed before returning: they survive a kill from here on)."""
        db = self._conn()
        with db:
            db.executemany(
                "INSERT OR REPLACE INTO done (item, value) VALUES (?, ?)",
                [(k, json.dumps(encode_value(v))) for k, v in items.items()],
            )

    # -- engine state (run) ---------------------------------------------------------------------------------
    def save_state(self, sim, step: int) -> None:
        """Write ``sim``'s state after ``step`` steps (atomically)."""
        arrays: dict[str, np.ndarray] = {}
        graph = capture_state(sim, arrays)
        payload = json.dumps({"step": step, "graph": graph}).encode("utf-8")
        arrays["__graph__"] = np.frombuffer(payload, dtype=np.uint8)
        tmp = self.dir / f"{STATE}.tmp"
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.dir / STATE)

    def load_state(self, sim) -> int:
        """Replace ``sim``'s state (a simulation freshly built from the same inputs) with the saved one; return
        the number of steps done (0 when the run had not checkpointed yet)."""
        path = self.dir / STATE
        if not path.exists():
            return 0
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        doc = json.loads(arrays.pop("__graph__").tobytes().decode("utf-8"))
        try:
            restored = restore_state(doc["graph"], sim, arrays)
        except (KeyError, IndexError, AttributeError, TypeError) as exc:
            raise InputError(
                f"the checkpoint at {self.dir} does not fit this run ({exc}); run without --resume",
                field="--resume",
            ) from None
        assert restored is sim
        return int(doc["step"])

    def remove(self) -> None:
        """Delete the checkpoint (the command's outputs are written)."""
        if self._db is not None:
            self._db.close()
            self._db = None
        shutil.rmtree(self.dir, ignore_errors=True)


# ------------------------------------------------------------------------------------------------------------
# The checkpointed engine loop
# ------------------------------------------------------------------------------------------------------------


class PeriodicStateSaver:
    """The checkpoint :func:`delever.engine.run` drives (its ``checkpoint`` argument): it starts a run from
    ``store``'s saved state when there is one, saves the state every ``every_s`` seconds of work, and once more
    when the engine finishes (so the engine's part is never done twice)."""

    def __init__(self, store: Checkpoint, every_s: float = DEFAULT_EVERY_S) -> None:
        self.store = store
        self.every_s = every_s
        self._last = time.monotonic()

    def resume(self, sim) -> int:
        """The saved state into ``sim``; the steps it had done."""
        step = self.store.load_state(sim)
        self._last = time.monotonic()
        return step

    def after_steps(self, sim, t: int) -> None:
        """Save ``sim`` after ``t`` steps when ``every_s`` seconds of work have passed since the last save."""
        if time.monotonic() - self._last >= self.every_s:
            self.store.save_state(sim, t)
            self._last = time.monotonic()

    def engine_done(self, sim, t: int) -> None:
        """Save the finished engine's state."""
        self.store.save_state(sim, t)


def run_checkpointed(
    scenario,
    seed: int,
    market,
    store: Checkpoint,
    progress: Callable[[int, int], None] | None = None,
    every_s: float = DEFAULT_EVERY_S,
):
    """:func:`delever.engine.run` of a prepared market, saving the simulation's state every ``every_s`` seconds
    of work and when the engine finishes, and starting from the saved state when there is one (same events,
    same result: tested against :func:`delever.engine.run`). The engine's one step loop runs it
    (:class:`PeriodicStateSaver`); a multi-instrument (cross-margin) scenario is checkpointed the same way."""
    from .engine import run

    return run(scenario, seed, progress=progress, market=market, checkpoint=PeriodicStateSaver(store, every_s))
