"""Code as it was at another git revision, imported from its text, for the A/B benches.

An A/B bench (`bench.redaction`, `bench.queries`) times the current module against the
same module at an older revision in one process, so both run on the same data and the
same warm caches. The old text is read with `git show` (nothing is written to the work
tree) and executed as a module of its own name, registered in `sys.modules` because
dataclasses look their module up while the class is built.
"""

from __future__ import annotations

import subprocess
import sys
import types

from bench.common import ROOT


def source_at(rev: str, path: str) -> str:
    """The text of `path` (relative to the repository root) at git revision `rev`."""
    return subprocess.run(
        ["git", "show", f"{rev}:{path}"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout


def module_from(name: str, text: str, origin: str) -> types.ModuleType:
    """`text` executed as the module `name` (registered in `sys.modules`); `origin` is its
    `__file__`, shown in tracebacks."""
    module = types.ModuleType(name)
    module.__file__ = origin
    sys.modules[name] = module
    exec(compile(text, origin, "exec"), module.__dict__)
    return module
