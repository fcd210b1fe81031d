"""The README's commands, run as written: the quick start in a fresh copy of the project, then,
in the same shell, the Slack section's commands against the fake Slack.

Only the environment is set up for the test; the commands are run as they are written. pip
installs from a folder of wheels made again from this venv's own packages (PIP_NO_INDEX,
PIP_FIND_LINKS): the same ranges from pyproject.toml, resolved without an index request per
package, which takes most of a minute.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
import tomllib
import zipfile
from email import message_from_string
from importlib import metadata
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.tags import Tag, sys_tags
from packaging.utils import canonicalize_name

from tests.fakes.slack import FakeSlack

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
CONSOLE_SCRIPT = "alice: /coop task Tidy need:2\n"
SUPPORTED = set(sys_tags())


def sh_blocks(markdown: str) -> list[str]:
    return re.findall(r"^```sh\n(.*?)^```$", markdown, flags=re.DOTALL | re.MULTILINE)


def section(markdown: str, title: str) -> str:
    """The text under the `## title` heading, up to the next one."""
    [text] = re.findall(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", markdown, re.DOTALL | re.M)
    return text


def block_with(blocks: list[str], command: str) -> str:
    [block] = [b for b in blocks if re.search(rf"^{re.escape(command)}\b", b, re.MULTILINE)]
    return block


# --- a folder of wheels, made from what this venv has installed ------------------------------


def requirements_of(dist: metadata.Distribution, extras: set[str]) -> list[Requirement]:
    wanted = []
    for line in dist.requires or []:
        req = Requirement(line)
        if req.marker is None or any(req.marker.evaluate({"extra": e}) for e in extras | {""}):
            wanted.append(req)
    return wanted


def installed_closure(roots: list[str]) -> list[metadata.Distribution]:
    """The installed distributions `roots` (requirement strings) need, transitively."""
    found: dict[str, metadata.Distribution] = {}
    seen: set[tuple[str, str]] = set()
    todo = [Requirement(r) for r in roots]
    while todo:
        req = todo.pop()
        name = canonicalize_name(req.name)
        extras = set(req.extras)
        if {(name, e) for e in extras | {""}} <= seen:
            continue
        seen |= {(name, e) for e in extras | {""}}
        found[name] = dist = metadata.distribution(name)
        todo += requirements_of(dist, extras)
    return list(found.values())


def _digest(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def rewheel(dist: metadata.Distribution, into: Path) -> None:
    """The wheel `dist` was installed from, made again from its installed files (bytecode
    and the scripts pip writes from entry points left out)."""
    files = [f for f in dist.files or [] if ".." not in f.parts and "__pycache__" not in f.parts]
    [info] = {f.parts[0] for f in files if f.parts[0].endswith(".dist-info")}
    skip = {f"{info}/{n}" for n in ("RECORD", "INSTALLER", "REQUESTED", "direct_url.json")}
    tags = message_from_string(dist.read_text("WHEEL") or "").get_all("Tag") or []
    tag = next(t for t in tags if Tag(*t.split("-")) in SUPPORTED)
    name = re.sub(r"[-_.]+", "_", dist.metadata["Name"])
    record = []
    with zipfile.ZipFile(into / f"{name}-{dist.version}-{tag}.whl", "w") as wheel:
        for file in files:
            if file.as_posix() in skip:
                continue
            data = Path(str(dist.locate_file(file))).read_bytes()
            wheel.writestr(file.as_posix(), data)
            record.append(f"{file.as_posix()},{_digest(data)},{len(data)}")
        record.append(f"{info}/RECORD,,")
        wheel.writestr(f"{info}/RECORD", "\n".join(record) + "\n")


@pytest.fixture(scope="module")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """coopbot's dependencies as wheels, plus the build backend (the one download)."""
    into = tmp_path_factory.mktemp("wheels")
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    for dist in installed_closure(project["project"]["dependencies"]):
        rewheel(dist, into)
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:"]
        + ["--dest", str(into), *project["build-system"]["requires"]],
        check=True,
        timeout=120,
    )
    return into


# --- a shell typed into --------------------------------------------------------------------


def children(pid: int) -> list[int]:
    """The processes whose parent is `pid` (Linux: from /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


class Typed:
    """A block typed into the shell: its output (stdout and stderr) and its exit status."""

    def __init__(self, shell: Shell, output: Path, status: Path) -> None:
        self.shell = shell
        self.output_path = output
        self.status_path = status

    def output(self) -> str:
        return self.output_path.read_text(errors="replace") if self.output_path.exists() else ""

    def status(self) -> int | None:
        text = self.status_path.read_text() if self.status_path.exists() else ""
        return int(text) if text.endswith("\n") else None

    def wait(self, timeout: float) -> int:
        """Until the block is done; its exit status."""
        deadline = time.monotonic() + timeout
        while (status := self.status()) is None:
            assert self.shell.proc.poll() is None, f"the shell exited:\n{self.output()}"
            assert time.monotonic() < deadline, f"not done in {timeout}s:\n{self.output()}"
            time.sleep(0.05)
        return status

    def wait_for(self, text: str, timeout: float) -> None:
        """Until the block, still running, has printed `text`."""
        deadline = time.monotonic() + timeout
        while text not in self.output():
            assert self.status() is None, f"exited {self.status()}:\n{self.output()}"
            assert time.monotonic() < deadline, f"{text!r} not in {timeout}s:\n{self.output()}"
            time.sleep(0.05)


class Shell:
    """One bash, its blocks typed in on its standard input as at a terminal, so what one
    block does (activate a venv, export a variable) holds for the next."""

    def __init__(self, cwd: Path, env: dict[str, str], logs: Path) -> None:
        self.logs = logs
        self.typed = 0
        self.proc = subprocess.Popen(["bash"], stdin=subprocess.PIPE, cwd=cwd, env=env, text=True)

    def type(self, block: str, stdin: str = os.devnull) -> Typed:
        """Run `block` as it stands, reading `stdin` (a file)."""
        self.typed += 1
        typed = Typed(self, self.logs / f"{self.typed}.out", self.logs / f"{self.typed}.status")
        out, status, given = (
            shlex.quote(str(p)) for p in (typed.output_path, typed.status_path, stdin)
        )
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"{{\n{block}\n}} <{given} >{out} 2>&1\necho $? >{status}\n")
        self.proc.stdin.flush()
        return typed

    def signal_running(self, sig: int) -> None:
        """Send `sig` to the command the shell is running, as Ctrl-C or `kill` would."""
        [pid] = children(self.proc.pid)
        os.kill(pid, sig)

    def close(self) -> None:
        for pid in children(self.proc.pid):
            os.kill(pid, signal.SIGKILL)
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait(10)


def fresh_copy(into: Path) -> Path:
    """The project's files (tracked, and new ones not ignored) as a fresh clone has them."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = REPO / name
        if source.is_file():
            (into / name).parent.mkdir(parents=True, exist_ok=True)
            (into / name).write_bytes(source.read_bytes())
    return into


def terminal_environment(wheelhouse: Path) -> dict[str, str]:
    """A new terminal's: no venv active, no coopbot settings or tokens; pip reads the wheels."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SLACK_", "DISCORD_", "COOPBOT_", "PIP_", "PYTHON", "VIRTUAL_ENV"))
    }
    path = [p for p in env.get("PATH", "").split(os.pathsep) if p and Path(p) != BIN]
    # python3 is the interpreter the tests run on, not whichever is first on PATH.
    env["PATH"] = os.pathsep.join([str(Path(sys.base_prefix) / "bin"), *path])
    assert shutil.which("coopbot", path=env["PATH"]) is None, "coopbot is on PATH already"
    return env | {
        "PIP_NO_INDEX": "1",
        "PIP_FIND_LINKS": str(wheelhouse),
        # No bytecode at install time: Python writes it for what is imported, far less.
        "PIP_COMPILE": "0",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    }


def test_the_quick_start_then_the_slack_section_run_as_written(
    tmp_path: Path, wheelhouse: Path
) -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    quick_start = sh_blocks(readme)[0]
    slack_blocks = sh_blocks(section(readme, "Slack"))
    manifest = block_with(slack_blocks, "coopbot slack manifest")
    run = block_with(slack_blocks, "coopbot run")
    project = fresh_copy(tmp_path / "coopbot")
    logs = tmp_path / "terminal"
    logs.mkdir()
    script = tmp_path / "console.txt"
    script.write_text(CONSOLE_SCRIPT)

    with FakeSlack() as slack:
        env = terminal_environment(wheelhouse) | {
            "COOPBOT_SLACK__API_BASE_URL": slack.base_url,
            # The ops listener on any free port: tests may run side by side.
            "COOPBOT_OPS__LISTEN": "127.0.0.1:0",
        }
        shell = Shell(project, env, logs)
        try:
            started = shell.type(quick_start, stdin=str(script))
            assert started.wait(timeout=300) == 0, started.output()
            assert "#1 Tidy" in started.output()
            assert (project / "coopbot.db").exists()

            printed = shell.type(manifest)
            assert printed.wait(timeout=60) == 0, printed.output()
            app = yaml.safe_load((project / "slack-manifest.yaml").read_text(encoding="utf-8"))
            assert app["settings"]["socket_mode_enabled"] is True

            serving = shell.type(run)
            serving.wait_for("connected in Socket Mode", timeout=60)
            assert slack.calls_to("auth.test")[0].token == "xoxb-your-bot-token"
            assert slack.calls_to("apps.connections.open")[0].token == "xapp-your-app-token"
            shell.signal_running(signal.SIGTERM)
            assert serving.wait(timeout=30) == 0, serving.output()
        finally:
            shell.close()
