"""The documentation names every table and column of the public schema, and every attribute key."""

from __future__ import annotations

import re
from pathlib import Path

from connlog.collector.schema import names as n
from connlog.instrumentation import semconv as sc

ROOT = Path(__file__).resolve().parents[2]


def _constants(module: object, prefix: str = "") -> dict[str, str]:
    return {
        k: v for k, v in vars(module).items() if k.isupper() and isinstance(v, str) and k.startswith(prefix)
    }


def test_readme_documents_every_table_and_column() -> None:
    readme = (ROOT / "README.md").read_text()
    missing = [v for v in _constants(n).values() if f"`{v}`" not in readme and v not in readme]
    assert not missing, f"README schema section does not mention: {missing}"


def test_readme_has_exactly_two_setup_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Set up", 1)[1].split("##", 1)[0]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block is not None
    commands = [line for line in block.group(1).splitlines() if line.strip()]
    assert [c.split("#")[0].strip() for c in commands] == ["make demo", "make test"]
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in ci


def test_semconv_doc_documents_every_attribute_key() -> None:
    doc = (ROOT / "docs" / "semconv.md").read_text()
    keys = [v for k, v in _constants(sc).items() if "." in v and not k.startswith("REDACTED")]
    missing = [k for k in keys if k not in doc]
    assert not missing, f"docs/semconv.md does not mention: {missing}"
