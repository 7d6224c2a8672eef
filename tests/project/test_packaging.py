"""The distribution installs one import namespace, `connlog`, and the SDK works from a plain install."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PARTS = ("instrumentation", "collector", "query_api", "dashboards")
UV = Path(sys.executable).with_name("uv")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [str(UV), "build", "--wheel", "--out-dir", str(out), "-q", str(ROOT)], check=True, timeout=300
    )
    (found,) = out.glob("*.whl")
    return found


def test_wheel_holds_the_connlog_package_only(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    top = {name.split("/")[0] for name in names}
    assert top == {"connlog", f"{wheel.name.split('-')[0]}-{wheel.name.split('-')[1]}.dist-info"}
    for part in PARTS:  # each design-card folder is mapped under the namespace, with its data files
        assert f"connlog/{part}/__init__.py" in names
        assert f"connlog/{part}/py.typed" in names
    assert any(n.startswith("connlog/collector/schema/migrations/0001_") for n in names)
    assert "connlog/dashboards/runs.json" in names
    assert any(n.startswith("connlog/query_api/viewer/templates/") for n in names)
    assert any(n.startswith("connlog/query_api/viewer/static/") for n in names)


def test_plain_install_imports_connlog_and_nothing_generic(wheel: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([str(UV), "venv", "-q", "--python", sys.executable, str(venv)], check=True, timeout=120)
    py = venv / "bin" / "python"
    lock = ROOT / "requirements.lock"
    subprocess.run(
        [str(UV), "pip", "install", "-q", "--python", str(py), str(wheel), "-c", str(lock)],
        check=True,
        timeout=600,
    )
    probe = (
        "import importlib.util, connlog\n"
        "h = connlog.init(connector='x', endpoint='http://127.0.0.1:9')\n"
        "with connlog.run(sync_type='full') as r: pass\n"
        "h.shutdown()\n"
        f"print([p for p in {PARTS!r} if importlib.util.find_spec(p) is not None])\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "OTEL_"))}
    out = subprocess.run(
        [str(py), "-c", probe], check=True, capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120
    )
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_no_module_imports_a_bare_folder_name() -> None:
    """Inside the repository the folders are importable at the top level too; nothing may
    use that, or one module would load twice under two names."""
    import ast

    offenders = []
    for path in ROOT.rglob("*.py"):
        rel = path.relative_to(ROOT)
        if rel.parts[0] in {".venv", "build", "dist", ".git"}:
            continue
        if rel.parts[0] == "connlog" and len(rel.parts) > 1 and rel.parts[1] in PARTS:
            continue  # the same files again, through the symlinks
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            offenders += [f"{rel}: {n}" for n in names if n.split(".")[0] in PARTS]
    assert not offenders, offenders
