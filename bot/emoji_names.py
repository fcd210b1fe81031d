"""Emoji compare equal whether written as a short name (`raised_hand`) or a character (✋)."""

from __future__ import annotations

import emoji

# Skin-tone modifiers and the emoji variation selector do not change which reaction it is.
_IGNORED = {chr(c) for c in range(0x1F3FB, 0x1F400)} | {"\ufe0f"}


def canonical(name_or_char: str) -> str:
    """One spelling per emoji: the bare character, or the lower-cased name when unknown."""
    text = name_or_char.strip()
    if "::skin-tone-" in text:
        text = text.split("::", 1)[0]
    text = text.strip(":")
    if text and text.isascii():
        text = emoji.emojize(f":{text.lower()}:", language="alias")
        if text.startswith(":"):
            return text.strip(":")
    return "".join(ch for ch in text if ch not in _IGNORED)


def is_known(name_or_char: str) -> bool:
    return emoji.is_emoji(canonical(name_or_char))
