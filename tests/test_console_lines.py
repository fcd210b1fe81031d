"""The console's lines: message numbers that go on across runs, names with spaces, and the
prompt with line editing at a terminal."""

from __future__ import annotations

import asyncio
import io
import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import adapters.console as console
from adapters.console import ConsoleChat, ConsoleSession
from adapters.console.chat import PLATFORM
from adapters.console.terminal import Terminal
from bot.clock import ManualClock
from bot.config import ConsoleSettings, Settings
from bot.pacing import CONSOLE
from bot.refs import CommunityRef
from bot.wiring import build_core
from tests.harness import START

REPO = Path(__file__).resolve().parent.parent


def run_console(database_url: str, script: str, admins: tuple[str, ...] = ()) -> str:
    """`coopbot run` with `script` piped in, in this process; what it printed."""
    settings = Settings(database_url=database_url, console=ConsoleSettings(admins=list(admins)))
    core = build_core(settings, clock=ManualClock(START))
    out = io.StringIO()

    async def typed() -> None:
        async with console.running(core, io.StringIO(script), out) as running:
            await running.wait()

    try:
        asyncio.run(typed())
    finally:
        core.engine.dispose()
    return out.getvalue()


# m1 tracked (card m2), m3-m8 plain posts, m9 tracked (card m10), a reminder DM m11: the
# highest number is a card's in one column and a DM's in another, and "m2" > "m11" as text.
FIRST_RUN = """\
alice: Who can water the plants?
alice: +pushpin m1
alice: one
alice: two
alice: three
alice: four
alice: five
alice: six
alice: Who can fold leaflets?
alice: +pushpin m9
alice: /coop remind me stretch when:"in 1 hour"
:advance 2h
"""


def test_message_numbers_go_on_from_the_last_run(database_url: str) -> None:
    first = run_console(database_url, FIRST_RUN)
    assert "[m10] coopbot (reply to m9):" in first and "[m11] (DM to alice) Reminder" in first

    again = run_console(database_url, "bob: Who can bring chairs?\nbob: +pushpin m12\n")
    lines = again.splitlines()
    assert lines[0] == "[m12] bob: Who can bring chairs?"
    assert lines[1] == "[m13] coopbot (reply to m12):"
    assert lines[2].strip() == "#3 Who can bring chairs?  [open]"
    assert "already" not in again


SPACES = """\
"Ana Lopez": Who can help on Saturday?
“Ana Lopez”: /coop task "Set up chairs" need:2
“Bo Li”: /coop join #1
Ana Lopez: hello
alice: /coop remind @"Bo Li" stretch when:"in 1 hour"
alice: /coop remind @Bo_Li drink water when:"in 2 hours"
"Root Admin": /coop cancel #1
"Ana Lopez": /help
"""


def test_names_with_spaces_are_quoted_and_work_as_mentions_and_admins(tmp_path: Path) -> None:
    out = run_console(f"sqlite:///{tmp_path / 'coop.db'}", SPACES, admins=("Root Admin",))
    assert "[m1] Ana Lopez: Who can help on Saturday?" in out
    assert "    by Ana Lopez" in out and "    in: Bo Li" in out
    assert "(only Bo Li sees) You're in on #1" in out
    assert '(console) names with spaces go in quotes: "Ana Lopez": hello' in out
    # A mention in quotes and one by id name the same person.
    assert "(only alice sees) Okay, I'll remind Bo Li “stretch”" in out
    assert "(only alice sees) Okay, I'll remind Bo Li “drink water”" in out
    assert "(only Root Admin sees) #1 “Set up chairs” is now cancelled" in out
    assert 'Try `"Ana Lopez": /coop help`.' in out


def test_a_name_with_spaces_without_quotes_is_shown_how_to_write_it(tmp_path: Path) -> None:
    out = run_console(
        f"sqlite:///{tmp_path / 'coop.db'}",
        "Ana  Lopez: /coop task Tidy up\nno name here\nRemember this: it works\n",
    )
    assert out.splitlines() == [
        '(console) names with spaces go in quotes: "Ana Lopez": /coop task Tidy up',
        "(console) Start a line with a name, like `alice: hello`, or try :help.",
        '(console) names with spaces go in quotes: "Remember this": it works',
    ]


def test_at_a_terminal_the_prompt_names_the_channel_and_output_goes_above_it(
    tmp_path: Path,
) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'coop.db'}")
    core = build_core(settings, clock=ManualClock(START))
    out = io.StringIO()
    chat = ConsoleChat(out, CommunityRef(PLATFORM, "console", "console"), "UTC")
    core.attach(PLATFORM, chat, CONSOLE)
    session = ConsoleSession(core, chat, "general", [])
    typed = ["alice: hello", ":channel #ops", "bob: hi"]
    prompts: list[str] = []

    def ask(prompt: str) -> str:
        prompts.append(prompt)
        if len(prompts) == 2:  # something the bot prints while alice is at the prompt
            chat.note("meanwhile")
        if not typed:
            raise EOFError
        return typed.pop(0)

    async def typing() -> None:
        await session.run(Terminal(out, ask))

    try:
        asyncio.run(typing())
    finally:
        core.engine.dispose()
    assert prompts == ["#general> ", "#general> ", "#ops> ", "#ops> "]
    # The note clears the prompt's line ("\r", erase to its end), then the prompt comes back.
    assert out.getvalue() == (
        "coopbot console — type `alice: hello`, or :help. Ctrl-D quits.\n"
        "[m1] alice: hello\n"
        "\r\x1b[K(console) meanwhile\n#general> "
        "(console) now in #ops\n"
        "[m2] bob: hi\n"
        "\n"  # after Ctrl-D
    )


def test_coopbot_run_at_a_terminal_edits_lines_with_readline(tmp_path: Path) -> None:
    """A real terminal (a pty): ← moves back in the line, ↑ brings back an earlier one."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "DISCORD_"))}
    env |= {"COOPBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'coop.db'}", "TERM": "xterm"}
    env |= {"PYTHONPATH": str(REPO)}
    controller, terminal = pty.openpty()
    bot = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "run"],
        stdin=terminal,
        stdout=terminal,
        stderr=subprocess.DEVNULL,
        env=env,
        cwd=tmp_path,
    )
    os.close(terminal)
    shown = b""

    def until(text: bytes, count: int = 1) -> None:
        nonlocal shown
        deadline = time.monotonic() + 60
        while shown.count(text) < count:
            assert time.monotonic() < deadline, shown
            if select.select([controller], [], [], 1.0)[0]:
                shown += os.read(controller, 4096)

    try:
        until(b"#general> ")
        os.write(controller, b"alice: helo\x1b[Dl\r")  # "helo", ←, "l"
        until(b"#general> ", 2)
        os.write(controller, b":channel #ops\r")
        until(b"#ops> ")
        os.write(controller, b"\x1b[A\x1b[A\r")  # ↑ ↑: "alice: hello" again
        until(b"#ops> ", 2)
        os.write(controller, b"\x04")  # Ctrl-D
        assert bot.wait(timeout=60) == 0
    finally:
        if bot.poll() is None:
            bot.kill()
        os.close(controller)
    assert b"[m1] alice: hello\r\n" in shown and b"[m2] alice: hello\r\n" in shown
    assert b"(console) now in #ops" in shown
