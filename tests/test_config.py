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
