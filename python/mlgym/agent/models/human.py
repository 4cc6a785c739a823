"""The ``human`` and ``human_thought`` back-ends: a person types at the terminal."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from mlgym.agent.models.base import Messages
from mlgym.agent.parsing import fence
from mlgym.errors import ModelRuntimeError


class HumanModel:
    """Reads actions from a person (stdin), MLGym's ``human`` backend.

    ``edit``/``insert`` keep reading lines until ``end_of_edit``/``end_of_insert`` (the
    terminator is kept); ``start_multiline_command`` ... ``end_multiline_command``
    gathers any lines (markers dropped). The text is the action itself (no parsing).
    """

    parses_output = False
    multiline_commands: dict[str, str] = {"edit": "end_of_edit", "insert": "end_of_insert"}

    def __init__(
        self,
        input_fn: Callable[[str], str] | None = None,
        output: Any = None,
    ) -> None:
        self.input_fn = input_fn or input
        self.output = output if output is not None else sys.stdout

    def _read(self, prompt: str) -> str:
        try:
            return self.input_fn(prompt)
        except EOFError:
            raise ModelRuntimeError("no more input on stdin") from None

    def show(self, messages: Messages) -> None:
        if messages:
            print(messages[-1].get("content", ""), file=self.output, flush=True)

    def read_action(self) -> str:
        line = self._read("> ")
        if line.strip() == "start_multiline_command":
            lines: list[str] = []
            while True:
                more = self._read("... ")
                if more.rstrip() == "end_multiline_command":
                    return "\n".join(lines)
                lines.append(more)
        words = line.split()
        end = self.multiline_commands.get(words[0]) if words else None
        if end is None:
            return line
        lines = [line]
        while True:
            more = self._read("... ")
            lines.append(more)
            if more.rstrip() == end:
                return "\n".join(lines)

    def query(self, messages: Messages) -> str:
        self.show(messages)
        return self.read_action()


class HumanThoughtModel(HumanModel):
    """A person types a thought (ending with ``END_THOUGHT``), then an action."""

    parses_output = True

    def query(self, messages: Messages) -> str:
        self.show(messages)
        first = self._read("Thought (end with END_THOUGHT): ")
        lines: list[str] = []
        line = first
        while "END_THOUGHT" not in line:
            lines.append(line)
            line = self._read("... ")
        lines.append(line.split("END_THOUGHT", 1)[0])
        thought = "\n".join(lines).rstrip("\n")
        action = self.read_action()
        return fence(action, thought + "\n")
