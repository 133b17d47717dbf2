"""Fixtures of the installed-package tests: a wheel and an sdist built from a copy of the tree,
and fresh venvs with them installed (shared by the whole session: each build compiles the
Cython extensions, a minute or two).

The builds use this venv's setuptools, wheel and Cython (``--no-build-isolation``), so nothing is
downloaded for them; the fresh venvs get loadtnt's dependencies from the package index as a
user's ``pip install`` would.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import venv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUILD_TIMEOUT = 900


def _run(cmd: list[str | os.PathLike[str]], *, cwd: Path, timeout: float = BUILD_TIMEOUT,
         env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout, check=False)
    return _checked(proc)


def _checked(proc: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    """``proc`` if it exited 0; else an AssertionError with the command and its output's tail."""
    if proc.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, proc.args))} exited with {proc.returncode}\n"
                             f"--- stdout\n{proc.stdout[-4000:]}\n--- stderr\n{proc.stderr[-4000:]}")
    return proc


def _source_files() -> list[str]:
    """What a checkout holds: tracked and new files, nothing git ignores (builds, venvs)."""
    if (ROOT / ".git").exists() and shutil.which("git"):
        out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                             cwd=ROOT, capture_output=True, check=True, timeout=60).stdout
        return [f for f in out.decode().split("\0") if f and (ROOT / f).is_file()]
    skip = {".venv", "build", "results", ".git", "__pycache__"}
    return [str(p.relative_to(ROOT)) for p in ROOT.rglob("*")
            if p.is_file() and not (set(p.relative_to(ROOT).parts) & skip)
            and not p.name.startswith(".venv") and p.suffix not in (".so", ".c")]


@pytest.fixture(scope="session")
def source_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the checkout without build outputs, so builds neither see nor touch ours."""
    dest = tmp_path_factory.mktemp("src") / "loadtnt"
    for rel in _source_files():
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, target)
    return dest


@pytest.fixture(scope="session")
def sdist(source_tree: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sdist")
    code = "import sys; from setuptools import build_meta; print(build_meta.build_sdist(sys.argv[1]))"
    _run([sys.executable, "-c", code, out], cwd=source_tree)
    (path,) = out.glob("loadtnt-*.tar.gz")
    return path


@pytest.fixture(scope="session")
def wheel(source_tree: Path, tmp_path_factory: pytest.TempPathFactory,
          request: pytest.FixtureRequest) -> Path:
    """``pip wheel .`` in the tree, as ``pip install .`` does it.

    Each build spends a minute or more in one single-threaded C compile: this one runs while
    the sdist's venv builds its own copy, so the two take the machine's two cores at once."""
    out = tmp_path_factory.mktemp("wheel")
    cmd = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
           "-w", str(out), str(source_tree)]
    build = subprocess.Popen(cmd, cwd=source_tree, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        with contextlib.suppress(Exception):    # the sdist's own tests report its failure
            request.getfixturevalue("sdist_venv")
    finally:
        try:
            stdout, stderr = build.communicate(timeout=BUILD_TIMEOUT)
        except subprocess.TimeoutExpired:
            build.kill()
            stdout, stderr = build.communicate()
    _checked(subprocess.CompletedProcess(cmd, build.returncode, stdout, stderr))
    (path,) = out.glob("loadtnt-*.whl")
    return path


@dataclass
class Venv:
    root: Path

    @property
    def bin(self) -> Path:
        return self.root / "bin"

    @property
    def python(self) -> Path:
        return self.bin / "python"

    def env(self) -> dict[str, str]:
        """The environment of a user's shell with this venv active (and no PYTHONPATH)."""
        env = {k: v for k, v in os.environ.items()
               if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
        env["PATH"] = os.pathsep.join([str(self.bin), env.get("PATH", "")])
        env["VIRTUAL_ENV"] = str(self.root)
        return env

    def pip(self, *args: str | os.PathLike[str]) -> None:
        _run([self.python, "-m", "pip", "install", "-q", *args], cwd=self.root, env=self.env())

    def run(self, *args: str | os.PathLike[str], cwd: Path, timeout: float = 180,
            env: dict[str, str | None] | None = None) -> subprocess.CompletedProcess[str]:
        """A command of the venv (``loadtnt ...``), from ``cwd``; not checked. ``env``: changes
        to the environment (None: unset)."""
        cmd = [str(self.bin / str(args[0])), *map(str, args[1:])]
        full = self.env()
        for k, v in (env or {}).items():
            if v is None:
                full.pop(k, None)
            else:
                full[k] = v
        return subprocess.run(cmd, cwd=cwd, env=full, capture_output=True, text=True,
                              timeout=timeout, check=False)


def _fresh_venv(path: Path) -> Venv:
    # the base interpreter of this venv: the wheel is built for it
    venv.EnvBuilder(with_pip=True, clear=True).create(path)
    return Venv(path)


@pytest.fixture(scope="session")
def wheel_venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Venv]:
    """A fresh venv with the wheel and its [report] extra (matplotlib), as a user installs it."""
    v = _fresh_venv(tmp_path_factory.mktemp("venv-wheel") / "venv")
    v.pip(f"{wheel}[report]")
    yield v


@pytest.fixture(scope="session")
def bare_venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Venv]:
    """A fresh venv with the wheel and none of its extras: what `pip install loadtnt` gives."""
    v = _fresh_venv(tmp_path_factory.mktemp("venv-bare") / "venv")
    v.pip(wheel)
    yield v


@pytest.fixture(scope="session")
def sdist_venv(sdist: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Venv]:
    """A fresh venv where ``pip install loadtnt-<version>.tar.gz`` built and installed loadtnt
    (its build requirements installed first, for --no-build-isolation)."""
    v = _fresh_venv(tmp_path_factory.mktemp("venv-sdist") / "venv")
    v.pip("Cython>=3,<4", "setuptools>=68", "wheel")
    v.pip("--no-build-isolation", sdist)
    yield v
