"""How the console reads its lines: ahead from a pipe or file, or one at a time at a prompt
with line editing (the standard `readline`) when a person types at a terminal."""

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
import sys
import threading
from collections.abc import Callable
from typing import Any, Protocol, TextIO

try:  # importing it is what gives input() arrow keys and history
    import readline
except ImportError:  # not on every platform (Windows): input() then reads plain lines
    readline = None  # type: ignore[assignment]

try:
    import termios
except ImportError:
    termios = None  # type: ignore[assignment]


class Lines(Protocol):
    """Where the console's lines come from."""

    interactive: bool  # a person types them at a prompt

    async def read(self, prompt: str) -> str:
        """The next line, "" at the end of input."""
        ...

    def typing(self) -> str:
        """What to draw again under a line printed meanwhile ("" when nothing)."""
        ...

    def close(self) -> None: ...


def reading(lines: TextIO, out: TextIO) -> Lines:
    """At a prompt with line editing when a person types at a terminal; as they come from a
    pipe or a file, with no prompt, so a script's output is only the bot's."""
    return Terminal(out) if lines.isatty() else Piped(lines)


def _handing_to(
    loop: asyncio.AbstractEventLoop, lines: asyncio.Queue[str]
) -> Callable[[str], None]:
    """A function a reading thread hands each line to `lines` with."""

    def put(line: str) -> None:
        with contextlib.suppress(RuntimeError):  # the loop closed while we were reading
            loop.call_soon_threadsafe(lines.put_nowait, line)

    return put


class Piped:
    """Lines from `lines`, read ahead by a daemon thread: a read blocked on its input must
    not keep the process from exiting when it is told to stop."""

    interactive = False

    def __init__(self, lines: TextIO) -> None:
        self._lines: asyncio.Queue[str] = asyncio.Queue()
        put = _handing_to(asyncio.get_running_loop(), self._lines)

        def read() -> None:
            for line in iter(lines.readline, ""):
                put(line)
            put("")

        threading.Thread(target=read, name="console-input", daemon=True).start()

    async def read(self, prompt: str) -> str:
        """The next line, "" at the end of input (there is no one to prompt)."""
        return await self._lines.get()

    def typing(self) -> str:
        return ""

    def close(self) -> None:
        """The reading thread ends with its input, or with the process."""


class Terminal:
    """Lines typed at a terminal, each read with input(prompt) once the one before it is
    handled, so the prompt shows where the next line goes. A daemon thread does the reading,
    for the reason Piped gives."""

    interactive = True

    def __init__(self, out: TextIO, ask: Callable[[str], str] = input) -> None:
        self._out = out
        self._ask = ask
        self._prompts: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        self._lines: asyncio.Queue[str] = asyncio.Queue()
        self._prompt: str | None = None  # while a prompt is on the screen
        self._saved = _terminal_mode()
        put = _handing_to(asyncio.get_running_loop(), self._lines)
        threading.Thread(target=self._serve, args=(put,), name="console-input", daemon=True).start()

    def _serve(self, put: Callable[[str], None]) -> None:
        while (prompt := self._prompts.get()) is not None:
            line = self._line(prompt)
            put(line)
            if not line:
                return

    def _line(self, prompt: str) -> str:
        """The line typed after `prompt`, with its newline; "" when the input is over."""
        while True:
            self._prompt = prompt
            try:
                return self._ask(prompt) + "\n"
            except EOFError:  # Ctrl-D
                self._out.write("\n")
                return ""
            except UnicodeDecodeError:
                self._out.write("(console) That line wasn't UTF-8 text. Type it again.\n")
            except OSError:  # the terminal went away
                return ""
            finally:
                self._prompt = None

    async def read(self, prompt: str) -> str:
        """The next line typed after `prompt`, "" at the end of input."""
        self._prompts.put(prompt)
        return await self._lines.get()

    def typing(self) -> str:
        """The prompt and what is typed after it, while a prompt is on the screen ("" when
        none is): what to draw again under something printed meanwhile."""
        prompt = self._prompt
        if prompt is None:
            return ""
        return prompt + (readline.get_line_buffer() if readline is not None else "")

    def close(self) -> None:
        """Stop reading, and leave the terminal as it was found: a stop that comes while
        readline has it in its own mode would otherwise leave it there."""
        self._prompts.put(None)
        if self._prompt is not None:  # stopped mid-line: what follows starts on a line of its own
            self._out.write("\n")
            self._out.flush()
        if self._saved is not None:
            fd, mode = self._saved
            with contextlib.suppress(termios.error, OSError):
                termios.tcsetattr(fd, termios.TCSADRAIN, mode)


def _terminal_mode() -> tuple[int, list[Any]] | None:
    """The terminal input() reads (standard input) and its mode, if it is one."""
    if termios is None:
        return None
    try:
        fd = sys.stdin.fileno()
        return (fd, termios.tcgetattr(fd)) if os.isatty(fd) else None
    except (OSError, ValueError, termios.error):  # no file behind it, or no terminal
        return None
