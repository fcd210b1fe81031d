"""The `coopbot` command: run, doctor, db upgrade, export."""

from __future__ import annotations

import argparse
import os
import sys
from importlib import metadata
from pathlib import Path

from bot.config import ConfigError, Secrets, Settings, load_settings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="coopbot", description="Turn team chat into tracked cooperative action."
    )
    parser.add_argument(
        "--config", type=Path, help="YAML settings file (default: ./coopbot.yaml if present)"
    )
    parser.add_argument("--version", action="version", version=f"coopbot {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="run the bot (the console when no Slack/Discord token is set)")
    sub.add_parser(
        "doctor", help="check settings, database and platform credentials, one line each"
    )
    db = sub.add_parser("db", help="database maintenance")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    db_sub.add_parser("upgrade", help="apply database migrations")
    export = sub.add_parser(
        "export", help="write every action with its commitments, and every delivery"
    )
    export.add_argument("--format", choices=("json", "csv"), default="json")
    export.add_argument(
        "--deliveries",
        action="store_true",
        help="with --format csv: the deliveries instead of the actions (JSON has all)",
    )
    export.add_argument(
        "--reminders",
        action="store_true",
        help="with --format csv: each occurrence of every reminder, nudge and digest",
    )
    export.add_argument("--output", type=Path, help="file to write (default: standard output)")
    slack = sub.add_parser("slack", help="Slack helpers")
    slack_sub = slack.add_subparsers(dest="slack_command", required=True)
    slack_sub.add_parser("manifest", help="print a Slack app manifest (YAML)")
    rotate = slack_sub.add_parser(
        "rotate-token-key",
        help="re-encrypt every stored bot token with the first key of COOPBOT_TOKEN_KEYS",
    )
    rotate.add_argument(
        "--forget-unreadable",
        action="store_true",
        help="delete the tokens no key opens (those workspaces then install the app again)",
    )
    discord = sub.add_parser("discord", help="Discord helpers")
    discord_sub = discord.add_subparsers(dest="discord_command", required=True)
    invite = discord_sub.add_parser("invite-url", help="print the bot's OAuth2 invite URL")
    invite.add_argument("--client-id", type=int, help="application id (default: from settings)")
    return parser


def _version() -> str:
    try:
        return metadata.version("coopbot")
    except metadata.PackageNotFoundError:  # run from a checkout that was never installed
        return "(not installed)"


def _rotate_token_key(settings: Settings, forget_unreadable: bool) -> int:
    from adapters.slack.installations import UnreadableToken, reseal, token_cipher
    from bot.wiring import build_core

    try:
        cipher = token_cipher(Secrets.from_env().token_keys)
        done = reseal(
            build_core(settings).engine,
            cipher,
            every=True,
            on_unreadable="forget" if forget_unreadable else "refuse",
        )
    except (ConfigError, UnreadableToken) as err:
        print(f"coopbot: {err}", file=sys.stderr)
        return 2
    print(f"coopbot: {done.written} stored bot tokens are encrypted with the first key")
    if done.unreadable:
        print(f"coopbot: forgot the tokens of {', '.join(done.unreadable)}")
    return 0


def _platform_helper(settings: Settings, args: argparse.Namespace) -> int:
    if args.command == "slack" and args.slack_command == "rotate-token-key":
        return _rotate_token_key(settings, args.forget_unreadable)
    if args.command == "slack":
        from adapters.slack.manifest import render_manifest

        print(render_manifest(settings), end="")
        return 0
    from adapters.discord.invite import invite_url

    client_id = args.client_id or settings.discord.application_id
    if client_id is None:
        print(
            "coopbot: give --client-id (the Application ID on the Developer Portal's "
            "General Information page) or set discord.application_id",
            file=sys.stderr,
        )
        return 2
    print(invite_url(client_id))
    return 0


def _export(
    settings: Settings, fmt: str, deliveries: bool, reminders: bool, output: Path | None
) -> int:
    from bot import export
    from bot.wiring import build_core

    core = build_core(settings)
    with core.uow() as uow:
        if fmt == "json":
            text = export.to_json(uow.export(), uow.outbox.records(), uow.schedules.records())
        elif reminders:
            text = export.occurrences_csv(uow.schedules.records())
        elif deliveries:
            text = export.deliveries_csv(uow.outbox.records())
        else:
            text = export.to_csv(uow.export())
    if output:
        # 0600 even when an existing file was more open, or the umask is not ours.
        fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    # Whatever coopbot creates (the database, its WAL files, exports) holds people's names
    # and, in many-workspace mode, tokens: readable by its own user only.
    os.umask(0o077)
    args = _parser().parse_args(argv)
    if args.command == "doctor":
        from bot.doctor import doctor

        # Bad settings are the checklist's first line, not the usual `coopbot: ...` error.
        return doctor(args.config)
    try:
        settings = load_settings(args.config)
    except ConfigError as err:
        print(f"coopbot: {err}", file=sys.stderr)
        return 2
    from sqlalchemy.exc import DBAPIError

    from storage.db import unreachable

    try:
        return _command(settings, args)
    except DBAPIError as err:
        # The database is down, refuses us, or is not there: one line, not a driver's traceback.
        print(f"coopbot: {unreachable(settings.database_url, err)}", file=sys.stderr)
        return 2


def _command(settings: Settings, args: argparse.Namespace) -> int:
    from bot import wiring

    if args.command == "run":
        return wiring.run(settings)
    if args.command == "db":
        wiring.build_core(settings, migrate=True)
        print("coopbot: database is up to date")
        return 0
    if args.command in ("slack", "discord"):
        return _platform_helper(settings, args)
    return _export(settings, args.format, args.deliveries, args.reminders, args.output)


if __name__ == "__main__":
    sys.exit(main())
