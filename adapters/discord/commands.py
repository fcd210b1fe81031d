"""The /coop app_commands group, generated from the core's one grammar (`bot.grammar.GRAMMAR`)
so the two never drift, and the grammar text rebuilt from the typed options."""

from __future__ import annotations

import inspect
import keyword
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import Any, Literal

import discord
from discord import app_commands

from bot.grammar import (
    GRAMMAR,
    MAX_TITLE,
    SUBCOMMANDS,
    Param,
    ParamKind,
    Subcommand,
    option_like,
    tokenize,
)

GROUP_NAME = "coop"
GROUP_DESCRIPTION = "Turn chat into things people do together"
MAX_ACTION_ID = 999_999_999  # the grammar reads at most nine digits
# Positionals that are one value, quotes and all. Any other holds words of its own, read as
# if typed after the subcommand (remind's `me "Water the plants"`: a target, then its text).
_ONE_VALUE = frozenset({"title"})

Run = Callable[[discord.Interaction, str], Awaitable[None]]
Suggest = Callable[[discord.Interaction, str], Coroutine[Any, Any, list[app_commands.Choice[Any]]]]


def annotation(param: Param) -> Any:
    """The option type discord.py derives the registered option from."""
    if param.kind is ParamKind.ACTION_ID:
        return app_commands.Range[int, 1, MAX_ACTION_ID]
    if param.kind is ParamKind.INTEGER:
        if param.min_value is None and param.max_value is None:
            return int
        return app_commands.Range[int, param.min_value, param.max_value]
    if param.kind is ParamKind.TEXT:
        return app_commands.Range[str, 1, MAX_TITLE]
    if param.kind is ParamKind.COMMAND:
        return Literal[tuple(SUBCOMMANDS)]  # shown as choices
    return str


def build_group(run: Run, suggestions: Mapping[ParamKind, Suggest]) -> app_commands.Group:
    """/coop with one subcommand per grammar entry; `run` gets the grammar text to handle."""
    group = app_commands.Group(name=GROUP_NAME, description=GROUP_DESCRIPTION, guild_only=True)
    for spec in GRAMMAR:
        group.add_command(_subcommand(spec, run, suggestions))
    return group


def _params(spec: Subcommand) -> list[Param]:
    return ([spec.positional] if spec.positional else []) + list(spec.options)


def _subcommand(
    spec: Subcommand, run: Run, suggestions: Mapping[ParamKind, Suggest]
) -> app_commands.Command[Any, ..., None]:
    params = _params(spec)
    # An option may be called what Python cannot name a parameter (`if:`): renamed for it.
    py = {p.name: p.name + "_" if keyword.iskeyword(p.name) else p.name for p in params}
    back = {v: k for k, v in py.items()}

    async def callback(interaction: discord.Interaction, **values: Any) -> None:
        await run(interaction, command_text(spec, {back[k]: v for k, v in values.items()}))

    # discord.py reads options from the callback's signature, so give it the grammar's.
    callback.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter("interaction", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
        + [
            inspect.Parameter(
                py[p.name],
                inspect.Parameter.KEYWORD_ONLY,
                annotation=annotation(p),
                default=inspect.Parameter.empty if p.required else None,
            )
            for p in params
        ]
    )
    app_commands.describe(**{py[p.name]: p.description for p in params})(callback)
    renamed = {py[p.name]: p.name for p in params if py[p.name] != p.name}
    if renamed:
        app_commands.rename(**renamed)(callback)
    command: app_commands.Command[Any, ..., None] = app_commands.Command(
        name=spec.name, description=spec.summary, callback=callback
    )
    for p in params:
        if p.kind in suggestions:
            command.autocomplete(py[p.name])(suggestions[p.kind])
    return command


# --- grammar text --------------------------------------------------------------------------

# Opening quote -> the closing one the grammar's tokenizer looks for.
_QUOTES = (('"', '"'), ("\u201c", "\u201d"), ("\u201e", "\u201c"))


def quote(value: str) -> str:
    """`value` as one token of the grammar, whatever quotes it contains."""
    for opening, closing in _QUOTES:
        if closing not in value:
            return f"{opening}{value}{closing}"
    # All three closing quotes in one value: the tokenizer has no escape, so soften one.
    return f'"{value.replace(chr(34), chr(39))}"'


def command_text(spec: Subcommand, values: Mapping[str, Any]) -> str:
    """The `/coop` text the typed options stand for, e.g. `task "Buy snacks" need:2`."""
    parts = [spec.name]
    positional = spec.positional
    if positional is not None and values.get(positional.name) is not None:
        parts.append(_positional(spec, positional, values[positional.name]))
    for option in spec.options:
        value = values.get(option.name)
        if value is not None:
            raw = str(value) if option.kind is ParamKind.INTEGER else quote(str(value))
            parts.append(f"{option.name}:{raw}")
    return " ".join(parts)


def _positional(spec: Subcommand, param: Param, value: Any) -> str:
    if param.kind is ParamKind.ACTION_ID:
        return f"#{value}"
    if param.kind is ParamKind.INTEGER:
        return str(value)
    options = {o.name for o in spec.options}
    if param.name in _ONE_VALUE:
        return _token(str(value), options)
    return " ".join(_token(word, options) for word in tokenize(str(value)))


def _token(text: str, options: set[str]) -> str:
    """`text` as one token the grammar reads back as a word, quoted only if it must be."""
    # A word like "due: friday" would be read as the due option; a leading space keeps it a
    # word (the parser strips it at the start; further on it is one more space between words).
    if option_like(text) or text.partition(":")[0].lower() in options:
        text = " " + text
    return text if tokenize(text) == [text] else quote(text)
