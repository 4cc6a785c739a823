"""A permissive Unicode text space: any ``str`` up to a length."""

from __future__ import annotations

import string
from typing import Any

from gymnasium.spaces import Text

_SAMPLE_CHARSET = string.ascii_letters + string.digits + " _-.é✓"
#: Longest string ``sample()`` draws unless a mask says otherwise: the space admits up to
#: ``max_length`` (often 2**30), but a sample of that size would take minutes to build.
SAMPLE_MAX_LENGTH = 64


class UnicodeText(Text):
    """Like :class:`gymnasium.spaces.Text`, but every Unicode string is a member.

    Sampling draws from a small safe charset (random shell commands are harmless).
    """

    def __init__(self, max_length: int, *, min_length: int = 0, seed: Any = None) -> None:
        super().__init__(
            max_length=max_length, min_length=min_length, charset=_SAMPLE_CHARSET, seed=seed
        )

    def sample(self, mask: Any = None, probability: Any = None) -> str:
        if mask is None and probability is None:
            n = int(
                self.np_random.integers(
                    self.min_length,
                    max(self.min_length, min(self.max_length, SAMPLE_MAX_LENGTH)) + 1,
                )
            )
            chars = self.np_random.choice(len(self.character_list), size=n)
            return "".join(self.character_list[int(i)] for i in chars)
        return super().sample(mask=mask, probability=probability)

    def contains(self, x: Any) -> bool:
        return isinstance(x, str) and self.min_length <= len(x) <= self.max_length

    def __repr__(self) -> str:
        return f"UnicodeText({self.min_length}, {self.max_length})"

    def __eq__(self, other: Any) -> bool:
        return (
            isinstance(other, UnicodeText)
            and self.min_length == other.min_length
            and self.max_length == other.max_length
        )
