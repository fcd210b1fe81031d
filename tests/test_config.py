"""Settings: YAML file, environment overrides, secrets only from the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import ConfigError, Secrets, load_settings
from bot.wiring import choose_adapters


def test_defaults_without_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings()
    assert settings.database_url == "sqlite:///coopbot.db"
    assert settings.emoji.canonical() == ("📌", "✋", "✅")


def test_coopbot_yaml_in_the_working_directory_is_read_and_env_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "coopbot.yaml").write_text(
        "database_url: sqlite:///from-file.db\ndefault_timezone: Europe/Berlin\n"
        "emoji:\n  commit: thumbsup\n"
    )
    monkeypatch.setenv("COOPBOT_DATABASE_URL", "sqlite:///from-env.db")
    settings = load_settings()
    assert settings.database_url == "sqlite:///from-env.db"
    assert settings.default_timezone == "Europe/Berlin"
    assert settings.emoji.canonical()[1] == "👍"


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        ("slack_bot_token: xoxb-123\n", "setting slack_bot_token: unknown setting"),
        ("emoji:\n  track: nope\n", "setting emoji.track:"),
        ("- just\n- a list\n", "expected a mapping"),
        ("key: [unclosed\n", "not valid YAML"),
    ],
)
def test_bad_files_name_the_problem(tmp_path: Path, yaml_text: str, message: str) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(yaml_text)
    with pytest.raises(ConfigError, match=message.replace("[", r"\[")):
        load_settings(path)


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file"):
        load_settings(tmp_path / "absent.yaml")


def test_secrets_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-1")
    monkeypatch.delenv("DISCORD_BOT_TOKEN", raising=False)
    secrets = Secrets.from_env()
    assert secrets.slack_bot_token == "xoxb-1" and secrets.discord_bot_token is None


def test_console_is_chosen_without_credentials(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    none = Secrets(None, None, None, None)
    assert choose_adapters(load_settings(), none) == ["console"]
    both = Secrets("xoxb", "xapp", None, "discord-token")
    assert choose_adapters(load_settings(), both) == ["slack", "discord"]
    oauth = Secrets(None, None, "signing", None, slack_client_secret="s3cret")
    monkeypatch.setenv("COOPBOT_SLACK__CLIENT_ID", "123.456")
    assert choose_adapters(load_settings(), oauth) == ["slack"]
    monkeypatch.setenv("COOPBOT_ADAPTERS", '["console"]')
    assert choose_adapters(load_settings(), both) == ["console"]


def test_the_example_config_is_valid_and_documents_every_setting() -> None:
    from bot.config import Settings

    example = Path(__file__).resolve().parent.parent / "config.example.yaml"
    settings = load_settings(example)
    assert settings.database_url == "sqlite:///coopbot.db"
    text = example.read_text()
    for name in Settings.model_fields:
        assert f"{name}:" in text, name
        section = getattr(settings, name)
        for sub in getattr(type(section), "model_fields", {}):
            assert f"  {sub}:" in text, f"{name}.{sub}"


def test_the_collector_is_set_for_steady_latency_in_a_bot_process() -> None:
    import gc

    from bot import wiring

    before = gc.get_threshold()
    try:
        wiring.steady_gc()
        # What start-up made is out of the collector's sight, and young collections are rarer.
        assert gc.get_freeze_count() > 10_000
        assert gc.get_threshold() == wiring.GC_THRESHOLDS and wiring.GC_THRESHOLDS[0] > before[0]
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


@pytest.mark.parametrize(
    ("env", "value", "expected"),
    [
        ("COOPBOT_ADAPTERS", "console", ["console"]),
        ("COOPBOT_ADAPTERS", "slack, discord", ["slack", "discord"]),
        ("COOPBOT_ADAPTERS", '["slack"]', ["slack"]),
        ("COOPBOT_TIME_LANGUAGES", "en,de", ["en", "de"]),
        ("COOPBOT_DISCORD__GUILD_IDS", "123,456", [123, 456]),
        ("COOPBOT_DISCORD__GUILD_IDS", "[123]", [123]),
        ("COOPBOT_DISCORD__GUILD_IDS", "123", [123]),
        ("COOPBOT_CONSOLE__ADMINS", "ana, Ana Lopez", ["ana", "Ana Lopez"]),
    ],
)
def test_lists_in_the_environment_are_comma_separated_or_json(
    monkeypatch: pytest.MonkeyPatch, env: str, value: str, expected: list[object]
) -> None:
    monkeypatch.setenv(env, value)
    settings = load_settings()
    section, _, name = env.removeprefix("COOPBOT_").lower().rpartition("__")
    holder = getattr(settings, section) if section else settings
    assert getattr(holder, name) == expected


@pytest.mark.parametrize(
    ("env", "value", "message"),
    [
        ("COOPBOT_ADAPTERS", "consol", "setting adapters: 'consol': input should be 'console'"),
        ("COOPBOT_ADAPTERS", "[console", "setting adapters: '[console' is not a JSON list"),
        ("COOPBOT_DISCORD__GUILD_IDS", "server", "setting discord.guild_ids: Input should be a"),
        ("COOPBOT_SLACK", "http", "setting COOPBOT_SLACK: cannot be read; a section is written"),
        ("COOPBOT_SLACK__PUBLIC_URL", "coop.example.org", "setting slack.public_url: 'coop."),
        (
            "COOPBOT_SLACK__PUBLIC_URL",
            "http://coop.example.org",
            "setting slack.public_url: 'http:",
        ),
        ("COOPBOT_OPS__LISTEN", "9464", "setting ops.listen: '9464': use host:port"),
        ("COOPBOT_LOG_FORMAT", "xml", "setting log_format: 'xml': input should be 'text' or"),
    ],
)
def test_each_bad_setting_is_one_line_naming_it(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    env: str,
    value: str,
    message: str,
) -> None:
    from bot.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(env, value)
    assert main(["run"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"coopbot: {message}"), err
    assert not (tmp_path / "coopbot.db").exists()  # nothing was started


def test_https_public_url_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COOPBOT_SLACK__PUBLIC_URL", " https://coop.example.org ")
    assert load_settings().slack.public_url == "https://coop.example.org"


@pytest.mark.parametrize("command", [["run"], ["db", "upgrade"], ["export"]])
def test_an_unreachable_database_is_one_line_without_its_password(
    tmp_path: Path, command: list[str]
) -> None:
    import os
    import subprocess
    import sys

    environ = {k: v for k, v in os.environ.items() if not k.startswith("COOPBOT_DATABASE")}
    # Port 1: nothing listens there, so the connection is refused at once.
    environ["COOPBOT_DATABASE_URL"] = "postgresql://coop:hunter2@127.0.0.1:1/coop"
    run = subprocess.run(
        [sys.executable, "-m", "bot.cli", *command],
        capture_output=True,
        text=True,
        env=environ,
        cwd=tmp_path,
        timeout=60,
    )
    assert run.returncode == 2
    err = run.stderr
    assert err.count("\n") == 1, err
    assert err.startswith("coopbot: database postgresql://coop:***@127.0.0.1:1/coop: cannot be")
    assert "hunter2" not in err and "Connection refused" in err


def test_every_secret_is_read_and_listed_in_the_readme_and_the_example(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from dataclasses import fields

    from bot.config import SECRET_NAMES

    for name in SECRET_NAMES:
        monkeypatch.setenv(name, f"value-of-{name}")
    secrets = Secrets.from_env()
    assert sorted(str(getattr(secrets, f.name)) for f in fields(secrets)) == sorted(
        f"value-of-{name}" for name in SECRET_NAMES
    )
    root = Path(__file__).resolve().parent.parent
    readme = root.joinpath("README.md").read_text()
    configuration = readme.split("## Configuration", 1)[1].split("\n\n", 2)
    example_header = root.joinpath("config.example.yaml").read_text().split("\n\n", 1)[0]
    for name in SECRET_NAMES:
        assert f"`{name}`" in configuration[0] + configuration[1], name
        assert name in example_header, name
