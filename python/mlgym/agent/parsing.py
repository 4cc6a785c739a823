"""Output parsers: split a model response into (thought, action).

The default, :class:`MLGymThoughtActionParser`, expects a discussion and exactly one
fenced command block, and raises :class:`FormatError` with MLGym's messages otherwise.
"""

from __future__ import annotations

import re
from typing import ClassVar

from mlgym.agent.errors import AgentConfigError, FormatError

FENCE = "```"

#: MLGym's format-error message (what the model is told after a badly formatted output).
MLGYM_FORMAT_ERROR = (
    "Your output was not formatted correctly. Your commands were not executed.\n"
    "You must always include one discussion and one command as part of your response.\n"
    "Make sure you do not have multiple discussion/command tags.\n"
    "\n"
    "Please make sure your output precisely matches the following format:\n"
    "DISCUSSION\n"
    "Discuss here with yourself about what you are planning and what you are going to do "
    "in this step.\n"
    "\n"
    f"{FENCE}\n"
    "command(s) that you're going to run\n"
    f"{FENCE}\n"
)

MORE_THAN_ONE_BLOCK = "Found more than one code block in the model response."
NO_ACTION = "No action found in model response."

_ANY_BLOCK = re.compile(r"```([\s\S]*?)```")
# An opening fence (optionally with a language tag) ending its line, or a bare fence
# that ends the text.
_FENCE_LINE = re.compile(r"^```(\S*)\s*\n|^```\s*$", re.MULTILINE)


class ParseFunction:
    """Base class: ``parser(output) -> (thought, action)`` or :class:`FormatError`."""

    name: ClassVar[str] = "ParseFunction"
    format_error_template: ClassVar[str] = MLGYM_FORMAT_ERROR

    def __call__(self, model_response: str) -> tuple[str, str]:
        raise NotImplementedError


def _last_top_level_block(text: str) -> tuple[int, int, int, int] | None:
    """Offsets (open_start, open_end, close_start, close_end) of the last fenced block
    that is not nested in another one, or None."""
    stack: list[re.Match[str]] = []
    found: tuple[int, int, int, int] | None = None
    for match in _FENCE_LINE.finditer(text):
        tag = match.group(1)
        if stack and not tag:
            opening = stack.pop()
            if not stack:
                found = (opening.start(), opening.end(), match.start(), match.end())
        elif tag is not None:
            stack.append(match)
    return found


class ThoughtActionParser(ParseFunction):
    """Thought is the text around the last top-level fenced block; action is its body."""

    name = "ThoughtActionParser"
    format_error_template = (
        "Your reply could not be parsed: it needs your reasoning followed by exactly one "
        "command inside a fenced code block, like this:\n"
        "Reasoning about what to do next.\n"
        f"{FENCE}\n"
        "ls -l\n"
        f"{FENCE}\n"
    )

    def __call__(self, model_response: str) -> tuple[str, str]:
        block = _last_top_level_block(model_response)
        if block is None:
            raise FormatError(NO_ACTION)
        o_start, o_end, c_start, c_end = block
        thought = model_response[:o_start] + model_response[c_end:]
        action = model_response[o_end:c_start]
        return thought, action


class MLGymThoughtActionParser(ThoughtActionParser):
    """MLGym's default: a DISCUSSION and exactly one fenced command block."""

    name = "MLGymThoughtActionParser"
    format_error_template = MLGYM_FORMAT_ERROR

    def __call__(self, model_response: str) -> tuple[str, str]:
        if len(_ANY_BLOCK.findall(model_response)) > 1:
            raise FormatError(MORE_THAN_ONE_BLOCK)
        return super().__call__(model_response)


class XMLThoughtActionParser(ParseFunction):
    """The action is the text inside the last ``<command>...</command>`` pair."""

    name = "XMLThoughtActionParser"
    format_error_template = (
        "Your reply could not be parsed: put your reasoning first and then exactly one "
        "command between <command> and </command> tags.\n"
    )

    def __call__(self, model_response: str) -> tuple[str, str]:
        start = model_response.rfind("<command>")
        end = model_response.rfind("</command>")
        if start == -1 or end == -1 or end < start:
            raise FormatError(NO_ACTION)
        thought = model_response[:start] + model_response[end + len("</command>") :]
        action = model_response[start + len("<command>") : end]
        return thought, action.strip("\n") + "\n"


class Identity(ParseFunction):
    """The whole output is both the thought and the action."""

    name = "Identity"
    format_error_template = "Your reply could not be used as a command.\n"

    def __call__(self, model_response: str) -> tuple[str, str]:
        return model_response, model_response


class ActionParser(ParseFunction):
    """The whole output is the action (thought empty); it must not be blank."""

    name = "ActionParser"
    format_error_template = "Reply with a single command and nothing else.\n"

    def __call__(self, model_response: str) -> tuple[str, str]:
        if not model_response.strip():
            raise FormatError(NO_ACTION)
        return "", model_response


PARSERS: dict[str, type[ParseFunction]] = {
    cls.name: cls
    for cls in (
        MLGymThoughtActionParser,
        ThoughtActionParser,
        XMLThoughtActionParser,
        Identity,
        ActionParser,
    )
}


def get_parser(name: str) -> ParseFunction:
    """The parser registered under ``name`` (MLGym's class names)."""
    try:
        return PARSERS[name]()
    except KeyError:
        known = ", ".join(sorted(PARSERS))
        raise AgentConfigError(f"unknown output_parser {name!r} (known: {known})") from None


def fence(action: str, thought: str = "DISCUSSION\n") -> str:
    """A response in MLGym's format: the thought, then the action in a fenced block."""
    body = action if action.endswith("\n") else action + "\n"
    return f"{thought}{FENCE}\n{body}{FENCE}"
