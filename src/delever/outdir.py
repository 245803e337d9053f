"""Output directories: delever writes only into a directory it made, and replaces only the files it wrote.

A directory is delever's when it holds the marker file :data:`MARKER` (JSON: the command that wrote it,
delever's version and the list of files written) and nothing else than those files. Every command that writes
(``run``, ``compare``, ``sweep``, ``adl-event``) checks its ``--out`` with :func:`check_output_dir` before any
work starts, and writes through :func:`writing`:

- the files go into a temporary directory ``.delever-tmp-<pid>-*`` next to the target; on success the marker is
  written into it and it takes the target's place in one step (Linux ``renameat2(RENAME_EXCHANGE)``; elsewhere
  two renames), then the previous output is removed. A failed or interrupted run removes its temporary
  directory, so nothing partial is ever at the target;
- refused, with :class:`~delever.errors.InputError` (field ``--out``) naming the path and what to do: the working
  directory or a directory containing it (``--out .``), the home directory, the filesystem root, an existing
  file, a path under a file, a name longer than the filesystem allows, a directory that is not writable, and a
  non-empty directory without the marker or holding files the marker does not list (they are the user's);
- temporary directories left by runs that were killed (their process is gone) are removed when the next
  command writes next to them. Checkpoints (``.delever-checkpoint-*``, :mod:`delever.checkpoint`) are not
  temporary and are kept.
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import InputError

MARKER = ".delever.json"
"""Marker file inside every output directory delever wrote."""

TEMP_PREFIX = ".delever-tmp-"
"""Prefix of the temporary directories (``.delever-tmp-<pid>-<random>``) next to an output directory."""

LEGACY_TEMP = re.compile(r"^\.delever-(?:sweep-)?[a-z0-9_]{8}$")
"""Temporary directories of delever before 0.2 (``tempfile.mkdtemp(prefix=".delever-")``), no pid in the name."""

LEGACY_FILES = frozenset(
    {
        "summary.json", "events.parquet", "accounts.parquet", "steps.parquet", "report.html", "ablation.csv",
        "compare.csv", "sweep.parquet", "policies.csv", "waves.csv", "sensitivity.csv", "inputs.json",
    }
)  # fmt: skip
"""The files such a directory can hold (every command's outputs): one holding anything else is not removed."""

FIELD = "--out"
_RENAME_EXCHANGE = 2  # linux/fs.h


def _refuse(path: Path, what: str) -> InputError:
    return InputError(f"{path}: {what}", field=FIELD)


def _first_existing(path: Path) -> Path:
    p = path
    while not os.path.lexists(p):
        p = p.parent
    return p


def read_marker(directory: Path) -> dict | None:
    """The marker of ``directory`` (``{"command", "version", "files"}``), or None when there is none or it is
    not a valid marker."""
    try:
        data = json.loads((directory / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("files"), list):
        return None
    return data


def foreign_entries(directory: Path) -> list[str]:
    """Names in ``directory`` that delever did not write there (everything, when it has no valid marker)."""
    names = sorted(os.listdir(directory))
    marker = read_marker(directory)
    own = set(marker["files"]) | {MARKER} if marker is not None else set()
    return [n for n in names if n not in own]


def check_output_dir(path: str | Path, command: str) -> Path:
    """Refuse an output directory delever must not write (module docstring); return it, absolute.

    Also removes stale temporary directories of killed runs next to it. Nothing else is created or changed.

    Raises:
        InputError: (field ``--out``) the path and what to do instead.
    """
    raw = Path(path)
    if str(path) == "":
        raise _refuse(raw, "empty path; give a directory name")
    target = Path(os.path.abspath(raw))
    real = Path(os.path.realpath(raw))

    def holds(directory: str) -> bool:
        d = Path(directory)
        return any(t == d or t in d.parents for t in (target, real))

    if target == Path(target.anchor) or real == Path(real.anchor):
        raise _refuse(raw, "is the filesystem root; give a new directory for delever's output, e.g. delever-out/x")
    if holds(os.getcwd()) or holds(os.path.realpath(os.getcwd())):
        raise _refuse(
            raw,
            "is (or contains) the working directory; delever replaces its output directory as a whole: "
            "give a new directory, e.g. --out delever-out/x",
        )
    home = os.path.expanduser("~")
    if home not in ("", "/") and (holds(home) or holds(os.path.realpath(home))):
        raise _refuse(raw, "is (or contains) the home directory; give a new directory, e.g. --out delever-out/x")
    existing = _first_existing(target)
    try:
        name_max = os.pathconf(existing if existing.is_dir() else existing.parent, "PC_NAME_MAX")
    except (OSError, ValueError):
        name_max = 255
    for part in target.relative_to(existing).parts:
        if len(os.fsencode(part)) > name_max:
            raise _refuse(raw, f"the name {part[:20]}... is longer than the filesystem allows ({name_max} bytes)")
    if existing == target:
        if not target.is_dir():
            raise _refuse(raw, "is a file, not a directory; give a directory path for delever's output")
        foreign = foreign_entries(target)
        if foreign:
            shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
            raise _refuse(
                raw,
                f"holds files delever did not write ({shown}); delever only replaces a directory it made "
                f"(with {MARKER}): give a new or empty directory, or move those files away",
            )
        if not os.access(target, os.W_OK | os.X_OK):
            raise _refuse(raw, "is not writable; give a directory you can write to")
        parent = target.parent
    else:
        if not existing.is_dir():
            raise _refuse(raw, f"{existing} is a file, not a directory; give a path under a directory")
        parent = existing
    if not os.access(parent, os.W_OK | os.X_OK):
        raise _refuse(raw, f"{parent} is not writable; give a directory you can write to")
    if parent == target.parent and parent.is_dir():
        clean_stale_temps(parent)
    return target


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_stale_temps(parent: Path) -> list[Path]:
    """Remove temporary directories of killed runs in ``parent``; return the removed paths.

    A ``.delever-tmp-<pid>-*`` directory is stale when no process ``pid`` exists; one of delever before 0.2
    (``.delever-`` and eight random characters, no pid) when it holds nothing but files named as delever's
    outputs (:data:`LEGACY_FILES`): anything else in it may be a user's, and it is kept."""
    removed = []
    try:
        entries = list(os.scandir(parent))
    except OSError:
        return removed
    for entry in entries:
        if not entry.is_dir(follow_symlinks=False):
            continue
        stale = False
        if entry.name.startswith(TEMP_PREFIX):
            pid = entry.name[len(TEMP_PREFIX) :].split("-", 1)[0]
            stale = pid.isdigit() and int(pid) != os.getpid() and not _pid_alive(int(pid))
        elif LEGACY_TEMP.match(entry.name):
            try:
                stale = all(e.is_file(follow_symlinks=False) and e.name in LEGACY_FILES for e in os.scandir(entry.path))
            except OSError:
                stale = False
        if stale:
            shutil.rmtree(entry.path, ignore_errors=True)
            removed.append(Path(entry.path))
    return removed


def _exchange(a: Path, b: Path) -> bool:
    """Swap two existing paths in one step (Linux renameat2 RENAME_EXCHANGE); False where unsupported."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd = -100
    rc = renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), _RENAME_EXCHANGE)
    if rc == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def _publish(tmp: Path, target: Path, command: str) -> None:
    from . import __version__

    files = sorted(os.listdir(tmp))
    marker = {"command": command, "version": __version__, "files": files}
    (tmp / MARKER).write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")
    os.chmod(tmp, 0o755)  # mkdtemp makes it private; the output is an ordinary directory
    if not target.exists():
        os.rename(tmp, target)
        return
    # checked again here: a user may have put a file there while the run was going
    foreign = foreign_entries(target) if target.is_dir() else [target.name]
    if foreign:
        raise _refuse(target, f"files appeared during the run ({', '.join(foreign[:5])}); output not written")
    if _exchange(tmp, target):
        shutil.rmtree(tmp)  # now holds the previous output
        return
    old = Path(tempfile.mkdtemp(prefix=f"{TEMP_PREFIX}{os.getpid()}-", dir=target.parent))
    os.rename(target, old / "previous")
    os.rename(tmp, target)
    shutil.rmtree(old)


@contextmanager
def writing(path: str | Path, command: str) -> Iterator[Path]:
    """Write an output directory: yields a temporary directory to write the files into, which replaces ``path``
    when the block ends without an exception (with the marker naming ``command``); on an exception
    (KeyboardInterrupt included) it is removed, with any parent directories this call created.

    Raises:
        InputError: ``path`` is refused (:func:`check_output_dir`), before the block runs.
    """
    target = check_output_dir(path, command)
    created = []
    p = target.parent
    while not p.exists():
        created.append(p)
        p = p.parent
    tmp = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f"{TEMP_PREFIX}{os.getpid()}-", dir=target.parent))
        yield tmp
        _publish(tmp, target, command)
    except BaseException:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        for d in created:  # innermost first
            try:
                d.rmdir()
            except OSError:
                break
        raise
