"""The core and storage stay platform-neutral."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PLATFORM_LIBS = ("slack_bolt", "slack_sdk", "discord")


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_no_core_or_storage_file_imports_a_platform_library() -> None:
    offenders = {
        str(path.relative_to(ROOT)): sorted(_imports(path) & set(PLATFORM_LIBS))
        for folder in ("bot", "storage")
        for path in (ROOT / folder).rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_importing_every_core_module_loads_no_platform_library() -> None:
    modules = [
        ".".join(p.relative_to(ROOT).with_suffix("").parts)
        for folder in ("bot", "storage")
        for p in (ROOT / folder).rglob("*.py")
        if "migrations" not in p.parts
    ]
    code = (
        "import importlib, sys\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        f"print(sorted(n for n in sys.modules if n.split('.')[0] in {PLATFORM_LIBS!r}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert out.stdout.strip() == "[]"
    assert len(modules) > 10


def test_no_adapter_paces_or_retries_sends_itself() -> None:
    """Pacing and retrying are the dispatcher's (bot/dispatcher.py, bot/pacing.py): an adapter
    that sleeps is keeping a retry queue or a pace of its own."""
    sleeps: dict[str, list[int]] = {}
    for path in (ROOT / "adapters").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            called = isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            if called and node.func.attr == "sleep":  # type: ignore[attr-defined]
                sleeps.setdefault(str(path.relative_to(ROOT)), []).append(node.lineno)
    assert sleeps == {}
    assert not (ROOT / "adapters/slack/outbox.py").exists()
    assert not (ROOT / "adapters/discord/delivery.py").exists()
