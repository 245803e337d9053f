"""Where numba caches delever's compiled kernels: a folder keyed by the package's whole source.

numba (``cache=True``) invalidates a cached kernel when its own source file changes, but not when a kernel it
calls in another file changes (https://numba.readthedocs.io/en/stable/developer/caching.html, "Cache
invalidation"): after an upgrade or a ``git pull`` that changed only a callee, a caller would run stale machine
code. delever therefore caches into ``<base>/delever-<key>/``, where ``key`` is a SHA-256 over every ``.py``
file of the package (path and bytes), so any source change starts a fresh cache. ``<base>`` is
``$NUMBA_CACHE_DIR`` when set, else ``$XDG_CACHE_HOME/delever/numba`` (``~/.cache/delever/numba``). Folders of
earlier sources are left where they are (delever never deletes what it may not have written).
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
PREFIX = "delever-"


def source_key(package: Path = PACKAGE) -> str:
    """16 hex digits of a SHA-256 over the package's ``.py`` files (relative path and contents, sorted)."""
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        digest.update(path.relative_to(package).as_posix().encode("utf-8") + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def cache_dir(environ: dict[str, str] | None = None, key: str | None = None) -> Path:
    """The kernel cache folder for this source (see the module docstring); a ``NUMBA_CACHE_DIR`` that is
    already this source's folder (a worker process inherits it from its parent) is kept as it is."""
    env = os.environ if environ is None else environ
    key = key or source_key()
    given = env.get("NUMBA_CACHE_DIR")
    if given and Path(given).name == PREFIX + key:
        return Path(given)
    if given:
        base = Path(given)
    else:
        xdg = env.get("XDG_CACHE_HOME")
        base = (Path(xdg) if xdg else Path.home() / ".cache") / "delever" / "numba"
    return base / (PREFIX + key)


def configure() -> Path:
    """Point numba's cache at :func:`cache_dir` (before any kernel is decorated; called by ``delever/__init__``)
    and return it. Child processes inherit it through ``NUMBA_CACHE_DIR``."""
    path = cache_dir()
    os.environ["NUMBA_CACHE_DIR"] = str(path)
    numba_config = sys.modules.get("numba.core.config")
    if numba_config is not None:  # numba was imported first: its config has read the variable already
        numba_config.CACHE_DIR = str(path)
    return path
