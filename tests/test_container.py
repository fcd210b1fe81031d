"""The container and the service files: the image's command line and health check work in a
venv (no Docker needed), and the compose file and the systemd unit say what they must."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.fakes.slack import FakeSlack

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent  # the venv the tests run in, where `coopbot` is installed
TOKEN_LIKE = re.compile(r"\b(xox[abpr]|xapp)-\w")


@dataclass
class Image:
    """What a Dockerfile says about the image it builds (the final stage)."""

    base: str = ""
    env: dict[str, str] = field(default_factory=dict)
    workdir: str = "/"
    user: str = "root"
    volumes: list[str] = field(default_factory=list)
    exposed: list[str] = field(default_factory=list)
    copied: list[str] = field(default_factory=list)
    cmd: list[str] = field(default_factory=list)
    healthcheck: list[str] = field(default_factory=list)


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, its arguments) in order, continuation lines joined, comments dropped."""
    found: list[tuple[str, str]] = []
    pending = ""
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, arguments = (pending + line).partition(" ")
        found.append((keyword.upper(), arguments.strip()))
        pending = ""
    assert not pending, "the Dockerfile ends inside a continued line"
    return found


def exec_form(arguments: str) -> list[str]:
    command = json.loads(arguments)
    assert isinstance(command, list) and all(isinstance(a, str) for a in command), arguments
    return command


def image(path: Path = REPO / "Dockerfile") -> Image:
    built = Image()
    for keyword, arguments in instructions(path.read_text(encoding="utf-8")):
        if keyword == "FROM":
            built = Image(base=arguments)  # a new stage starts afresh
        elif keyword == "ENV":
            for pair in shlex.split(arguments):
                name, equals, value = pair.partition("=")
                assert equals and "$" not in value, f"ENV {pair}: write NAME=value, no $"
                built.env[name] = value
        elif keyword == "WORKDIR":
            built.workdir = arguments
        elif keyword == "USER":
            built.user = arguments
        elif keyword == "VOLUME":
            built.volumes += exec_form(arguments)
        elif keyword == "EXPOSE":
            built.exposed += arguments.split()
        elif keyword == "COPY":
            built.copied += shlex.split(arguments)[:-1]
        elif keyword == "CMD":
            built.cmd = exec_form(arguments)
        elif keyword == "HEALTHCHECK":
            _, cmd, command = arguments.partition("CMD ")
            assert cmd, "HEALTHCHECK needs a CMD"
            built.healthcheck = exec_form(command)
    return built


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def in_venv(command: list[str]) -> list[str]:
    """`command` with its program taken from the test's venv, as the image has it on PATH."""
    program = shutil.which(command[0], path=str(BIN))
    assert program is not None, f"{command[0]} is not in {BIN}"
    return [program, *command[1:]]


def image_environment(built: Image, data: Path, ops_port: int) -> dict[str, str]:
    """A clean environment with the image's ENV, its data volume at `data` and the ops
    listener on `ops_port`."""
    [volume] = built.volumes
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "DISCORD_", "COOPBOT_"))
    }
    env |= {name: value.replace(volume, str(data)) for name, value in built.env.items()}
    host, _, _ = env["COOPBOT_OPS__LISTEN"].rpartition(":")
    env["COOPBOT_OPS__LISTEN"] = f"{host}:{ops_port}"
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    return env


def healthcheck(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=10)


def test_the_image_command_serves_slack_passes_its_health_check_and_stops_on_sigterm(
    tmp_path: Path,
) -> None:
    built = image()
    data = tmp_path / "data"
    data.mkdir()
    env = image_environment(built, data, free_port())
    check = in_venv(built.healthcheck)
    log_path = tmp_path / "coopbot.log"
    with FakeSlack() as slack, log_path.open("wb") as log:
        env |= {
            "SLACK_BOT_TOKEN": "xoxb-test",
            "SLACK_APP_TOKEN": "xapp-test",
            "COOPBOT_SLACK__API_BASE_URL": slack.base_url,
        }
        bot = subprocess.Popen(
            in_venv(built.cmd),
            cwd=built.workdir.replace(built.volumes[0], str(data)),
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            slack.wait_for_socket_client(timeout=30)
            deadline = time.monotonic() + 30
            while (answer := healthcheck(check, env)).returncode != 0:
                assert bot.poll() is None, log_path.read_text()
                assert time.monotonic() < deadline, f"health check: {answer.stderr}"
            bot.send_signal(signal.SIGTERM)
            assert bot.wait(30) == 0, log_path.read_text()
        finally:
            if bot.poll() is None:
                bot.kill()
                bot.wait(10)
    assert (data / "coopbot.db").exists()  # the database is in the volume
    assert healthcheck(check, env).returncode != 0  # and the check fails once it is gone


def test_the_image_runs_coopbot_run_as_a_user_other_than_root() -> None:
    built = image()
    assert built.cmd == ["coopbot", "run"]
    assert built.user.partition(":")[0] not in ("", "root", "0")
    assert ":" in built.base and not built.base.endswith(":latest"), "pin the base image"
    assert built.env["COOPBOT_OPS__LISTEN"] == "0.0.0.0:9464"
    assert {"9464", "3000"} <= set(built.exposed)
    [volume] = built.volumes
    assert built.workdir == volume
    assert built.env["COOPBOT_DATABASE_URL"] == f"sqlite:///{volume}/coopbot.db"
    # Whatever is copied exists, and the build context lets it in (.dockerignore allows it).
    allowed = (REPO / ".dockerignore").read_text(encoding="utf-8").splitlines()
    for source in built.copied:
        assert (REPO / source).exists(), source
        assert f"!{source}" in allowed or f"!{source}/" in allowed, source


def unit(path: Path) -> dict[str, list[tuple[str, str]]]:
    """The unit file's (key, value) pairs by section, repeated keys kept in order."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], [])
        elif line and not line.startswith(("#", ";")):
            key, _, value = line.partition("=")
            current.append((key.strip(), value.strip()))
    return sections


def test_the_systemd_unit_runs_coopbot_as_its_own_user_restarting_on_failure() -> None:
    path = REPO / "deploy" / "coopbot.service"
    pairs = unit(path)["Service"]
    service = dict(pairs)
    environment = dict(value.split("=", 1) for key, value in pairs if key == "Environment")
    assert Path(service["WorkingDirectory"]).is_absolute()
    assert service["Restart"] == "on-failure"
    assert service["User"] not in ("", "root", "0")
    assert service["ExecStart"].endswith("/coopbot run")
    assert Path(service["EnvironmentFile"].lstrip("-")).is_absolute()
    assert service["NoNewPrivileges"] == "yes"
    url = environment["COOPBOT_DATABASE_URL"]
    assert url.startswith("sqlite:///") and Path(url.removeprefix("sqlite:///")).is_absolute()
    assert not TOKEN_LIKE.search(path.read_text(encoding="utf-8"))


def interpolated(value: Any) -> bool:
    """Whether a compose value is taken from the environment: `${NAME}`, with at most an
    empty default or an error message, or no value at all."""
    return value is None or re.fullmatch(r"\$\{\w+(:-|:\?[^}]*)?\}", str(value)) is not None


def test_compose_runs_coopbot_on_a_healthy_postgres_with_secrets_from_the_environment() -> None:
    text = (REPO / "compose.yaml").read_text(encoding="utf-8")
    services: dict[str, Any] = yaml.safe_load(text)["services"]
    [db] = [name for name, s in services.items() if str(s.get("image", "")).startswith("postgres")]
    assert services[db]["healthcheck"]["test"]
    coopbot = services["coopbot"]
    assert coopbot["depends_on"][db]["condition"] == "service_healthy"
    env = coopbot["environment"]
    assert re.fullmatch(
        rf"postgresql\+psycopg://coopbot:\$\{{POSTGRES_PASSWORD[^}}]*\}}@{db}/coopbot",
        env["COOPBOT_DATABASE_URL"],
    )
    for service in services.values():
        for name, value in dict(service.get("environment") or {}).items():
            if re.search(r"TOKEN|SECRET|PASSWORD|KEY", name):
                assert interpolated(value), f"{name} must come from the environment"
    assert not TOKEN_LIKE.search(text)
