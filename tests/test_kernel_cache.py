"""numba's kernel cache is keyed by the whole package's source (delever.kernel_cache): a change to a callee in
another file cannot leave a caller's stale machine code in use."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from delever import kernel_cache


def _package_copy(tmp_path: Path) -> Path:
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "a.py").write_text("x = 1\n")
    (pkg / "sub" / "b.py").write_text("y = 2\n")
    (pkg / "notes.txt").write_text("not source\n")
    return pkg


def test_source_key_changes_with_any_python_file_and_only_with_them(tmp_path):
    pkg = _package_copy(tmp_path)
    key = kernel_cache.source_key(pkg)
    assert len(key) == 16 and key == kernel_cache.source_key(pkg)
    (pkg / "notes.txt").write_text("edited\n")
    assert kernel_cache.source_key(pkg) == key  # not a .py file
    (pkg / "sub" / "b.py").write_text("y = 3\n")  # a callee in another file
    edited = kernel_cache.source_key(pkg)
    assert edited != key
    shutil.move(pkg / "sub" / "b.py", pkg / "b.py")  # same bytes, another path
    assert kernel_cache.source_key(pkg) not in (key, edited)


def test_cache_dir_is_a_keyed_folder_under_the_given_or_default_base(tmp_path):
    key = "0123456789abcdef"
    given = {"NUMBA_CACHE_DIR": str(tmp_path / "nb")}
    assert kernel_cache.cache_dir(given, key) == tmp_path / "nb" / f"delever-{key}"
    inherited = {"NUMBA_CACHE_DIR": str(tmp_path / "nb" / f"delever-{key}")}  # a worker process
    assert kernel_cache.cache_dir(inherited, key) == tmp_path / "nb" / f"delever-{key}"
    xdg = {"XDG_CACHE_HOME": str(tmp_path / "xdg")}
    assert kernel_cache.cache_dir(xdg, key) == tmp_path / "xdg" / "delever" / "numba" / f"delever-{key}"
    assert kernel_cache.cache_dir({}, key) == Path.home() / ".cache" / "delever" / "numba" / f"delever-{key}"


def test_importing_delever_points_numba_at_the_keyed_folder_in_the_process_and_its_children(tmp_path):
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "nb")}
    code = (
        "import os, subprocess, sys, numba, delever\n"
        "print(numba.config.CACHE_DIR)\n"
        "print(subprocess.run([sys.executable, '-c', 'import numba, delever; print(numba.config.CACHE_DIR)'],"
        " capture_output=True, text=True, check=True).stdout.strip())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    parent, child = out.stdout.split()
    expected = tmp_path / "nb" / f"delever-{kernel_cache.source_key()}"
    assert Path(parent) == expected and Path(child) == expected
