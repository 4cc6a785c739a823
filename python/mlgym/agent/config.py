"""Agent configuration: MLGym's agent YAML schema (templates, parser, history, tools).

An agent YAML holds the prompt templates, the output parser and history processor
names, and a ``tools`` section. MLGym documents its interface commands in shell files
(``tools.command_files`` with ``# @yaml`` blocks); our configs list them directly under
``tools.commands`` instead. Both are read, and render into ``{command_docs}`` in the
layout MLGym's ``ParseCommandDetailed`` uses.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from string import Formatter
from typing import Any

import yaml

from mlgym._paths import config_roots
from mlgym.agent.errors import AgentConfigError

logger = logging.getLogger("mlgym.agent")

#: The shell variables of MLGym's default agent config.
DEFAULT_ENV_VARIABLES: dict[str, Any] = {
    "WINDOW": 1000,
    "OVERLAP": 2,
    "CURRENT_LINE": 0,
    "CURRENT_FILE": "",
    "SEARCH_RESULTS": "()",
    "SEARCH_FILES": "()",
    "SEARCH_INDEX": 0,
}


@dataclass(frozen=True)
class CommandArgument:
    """One documented argument of an interface command."""

    name: str
    type: str = "string"
    description: str = ""
    required: bool = True


@dataclass(frozen=True)
class CommandDoc:
    """Documentation of one interface command (rendered into ``{command_docs}``)."""

    name: str
    docstring: str = ""
    signature: str | None = None
    arguments: tuple[CommandArgument, ...] = ()
    end_name: str | None = None

    def rendered_signature(self) -> str:
        if self.signature:
            return self.signature
        parts = [self.name]
        for arg in self.arguments:
            parts.append(f"<{arg.name}>" if arg.required else f"[<{arg.name}>]")
        return " ".join(parts)


@dataclass
class ToolsConfig:
    """The ``tools`` section: command docs, shell variables and blocklists.

    The blocklists are kept for compatibility; the environment itself refuses
    interactive programs (``docs/compatibility.md``).
    """

    command_files: list[str] = field(default_factory=list)
    commands: list[CommandDoc] = field(default_factory=list)
    env_variables: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_ENV_VARIABLES))
    util_functions: list[str] = field(default_factory=list)
    submit_command: str = "submit"
    parser: str = "ParseCommandDetailed"
    state_command: dict[str, Any] | None = None
    blocklist_error_template: str = (
        "Interactive operation '{name}' is not supported by this environment"
    )
    blocklist: tuple[str, ...] = ("vim", "vi", "emacs", "nano", "nohup", "git")
    blocklist_standalone: tuple[str, ...] = (
        "python",
        "python3",
        "ipython",
        "bash",
        "sh",
        "exit",
        "/bin/bash",
        "/bin/sh",
        "nohup",
        "vi",
        "vim",
        "emacs",
        "nano",
        "su",
    )


@dataclass
class AgentConfig:
    """MLGym's ``AgentConfig`` fields, plus ``max_requeries``."""

    system_template: str = ""
    task_template: str = "{description}"
    next_step_template: str | None = None
    next_step_no_output_template: str | None = None
    strategy_template: str | None = None
    demonstration_template: str | None = None
    demonstrations: list[str] = field(default_factory=list)
    put_demos_in_history: bool = False
    format_error_template: str | None = None
    tools: ToolsConfig = field(default_factory=ToolsConfig)
    output_parser: str = "ThoughtActionParser"
    history_processor: str = "DefaultHistoryProcessor"
    history_processor_args: dict[str, Any] = field(default_factory=dict)
    #: How many times a badly formatted output is re-queried before ``exit_format``.
    max_requeries: int = 3
    #: Where the YAML came from (not a YAML field).
    path: str | None = None
    #: The root that relative paths in the YAML (demonstrations, command files) refer to.
    root: str | None = None

    def __post_init__(self) -> None:
        if self.next_step_template is None:
            self.next_step_template = self.task_template
        if self.next_step_no_output_template is None:
            self.next_step_no_output_template = self.next_step_template

    @property
    def stem(self) -> str:
        """The config's file stem (``default``), used in run names."""
        return Path(self.path).stem if self.path else "custom"

    def command_docs(self) -> str:
        """``{command_docs}``: every command in MLGym's detailed layout."""
        docs = list(self.tools.commands)
        if not docs and self.tools.command_files:
            docs = commands_from_files(self.tools.command_files, self.root)
        return render_command_docs(docs, self.tools.env_variables)

    def to_dict(self) -> dict[str, Any]:
        """A plain dict of the config (for ``args.yaml``)."""
        out = dataclasses.asdict(self)
        out.pop("path", None)
        out.pop("root", None)
        return out


def _argument(name: str, spec: Any) -> CommandArgument:
    if not isinstance(spec, dict):
        return CommandArgument(name=name, description=str(spec or ""))
    return CommandArgument(
        name=str(spec.get("name", name)),
        type=str(spec.get("type", "string")),
        description=str(spec.get("description", "")),
        required=bool(spec.get("required", True)),
    )


def command_from_dict(data: dict[str, Any]) -> CommandDoc:
    """A :class:`CommandDoc` from a YAML mapping (``arguments`` as a list or a mapping)."""
    if "name" not in data:
        raise AgentConfigError(f"a command entry has no 'name': {data!r}")
    raw_args = data.get("arguments") or []
    if isinstance(raw_args, dict):
        args = tuple(_argument(k, v) for k, v in raw_args.items())
    else:
        args = tuple(_argument(str(a.get("name", "")), a) for a in raw_args)
    return CommandDoc(
        name=str(data["name"]),
        docstring=str(data.get("docstring") or "").strip(),
        signature=data.get("signature"),
        arguments=args,
        end_name=data.get("end_name"),
    )


def render_command_docs(commands: list[CommandDoc], env_variables: dict[str, Any]) -> str:
    """MLGym's detailed layout: name, docstring, signature, arguments, blank line."""
    out: list[str] = []
    for cmd in commands:
        docstring = cmd.docstring
        try:
            docstring = docstring.format(**env_variables)
        except (KeyError, IndexError, ValueError):
            pass
        out.append(f"{cmd.name}:")
        out.append(f"  docstring: {docstring}")
        signature = cmd.rendered_signature()
        out.append("  signature: " + signature.replace("\n", "\n  "))
        if cmd.arguments:
            out.append("  arguments:")
            for arg in cmd.arguments:
                need = "required" if arg.required else "optional"
                out.append(f"    - {arg.name} ({arg.type}) [{need}]: {arg.description}")
        out.append("")
    return "\n".join(out)


_FUNC_RE = re.compile(r"^([A-Za-z_][\w-]*)\s*\(\)\s*\{")


def _yaml_block(lines: list[str]) -> dict[str, Any] | None:
    text = "\n".join(line[2:] if line.startswith("# ") else line[1:] for line in lines)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        return None
    return data if isinstance(data, dict) else None


def commands_from_files(files: list[str], root: str | None) -> list[CommandDoc]:
    """Reads the ``# @yaml`` docs of MLGym-style command files (missing files are skipped)."""
    docs: list[CommandDoc] = []
    for name in files:
        path = Path(name)
        if not path.is_absolute() and root:
            path = Path(root) / path
        if not path.is_file():
            logger.warning("command file %s not found; its commands are not documented", path)
            continue
        lines = path.read_text(errors="replace").splitlines()
        if lines and lines[0].startswith("#!"):
            block = _collect_yaml_comment(lines, 1)
            if block is not None and not path.stem.startswith("_"):
                docs.append(command_from_dict({"name": path.stem, **block}))
            continue
        pending: list[str] = []
        in_yaml = False
        for line in lines:
            if line.strip() == "# @yaml":
                in_yaml, pending = True, []
                continue
            if in_yaml and line.startswith("#"):
                pending.append(line)
                continue
            match = _FUNC_RE.match(line)
            if match and in_yaml and not match.group(1).startswith("_"):
                block = _yaml_block(pending)
                if block is not None:
                    docs.append(command_from_dict({"name": match.group(1), **block}))
            in_yaml = False
    return docs


def _collect_yaml_comment(lines: list[str], start: int) -> dict[str, Any] | None:
    for i in range(start, len(lines)):
        if lines[i].strip() == "# @yaml":
            block = []
            for line in lines[i + 1 :]:
                if not line.startswith("#"):
                    break
                block.append(line)
            return _yaml_block(block)
    return None


_AGENT_FIELDS = {f.name for f in dataclasses.fields(AgentConfig)} - {"path", "root", "tools"}
_TOOLS_FIELDS = {f.name for f in dataclasses.fields(ToolsConfig)}


def agent_config_from_dict(
    data: dict[str, Any], *, path: str | None = None, root: str | None = None
) -> AgentConfig:
    """Builds an :class:`AgentConfig`; unknown keys are dropped with a warning."""
    if not isinstance(data, dict):
        raise AgentConfigError(f"{path or 'agent config'}: the top level must be a mapping")
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        if key in _AGENT_FIELDS:
            kwargs[key] = value
        elif key != "tools":
            logger.warning("%s: dropping unknown agent config key %r", path or "config", key)
    tools_raw = data.get("tools") or {}
    if not isinstance(tools_raw, dict):
        raise AgentConfigError(f"{path or 'agent config'}: 'tools' must be a mapping")
    tkw: dict[str, Any] = {}
    for key, value in tools_raw.items():
        if key not in _TOOLS_FIELDS:
            logger.warning("%s: dropping unknown tools key %r", path or "config", key)
            continue
        if key == "commands":
            value = [command_from_dict(c) for c in (value or [])]
        elif key in ("blocklist", "blocklist_standalone"):
            value = tuple(value or ())
        elif key == "env_variables":
            value = {**DEFAULT_ENV_VARIABLES, **(value or {})}
        tkw[key] = value
    kwargs["tools"] = ToolsConfig(**tkw)
    for key in ("demonstrations",):
        if kwargs.get(key) is None:
            kwargs.pop(key, None)
    try:
        config = AgentConfig(**kwargs, path=path, root=root)
    except TypeError as exc:
        raise AgentConfigError(f"{path or 'agent config'}: {exc}") from exc
    for name in ("system_template", "task_template"):
        if not isinstance(getattr(config, name), str):
            raise AgentConfigError(f"{path or 'agent config'}: {name} must be a string")
    check_template_syntax(config)
    return config


def check_template_syntax(config: AgentConfig) -> None:
    """Raises :class:`AgentConfigError` for templates with broken ``{}`` syntax."""
    for name in (
        "system_template",
        "task_template",
        "next_step_template",
        "next_step_no_output_template",
        "strategy_template",
        "demonstration_template",
        "format_error_template",
    ):
        template = getattr(config, name)
        if not template:
            continue
        try:
            list(Formatter().parse(template))
        except ValueError as exc:
            where = config.path or "agent config"
            raise AgentConfigError(f"{where}: {name} is not a valid template: {exc}") from exc


def resolve_agent_config_path(
    path: str | os.PathLike[str], config_root: str | os.PathLike[str] | None = None
) -> tuple[Path, Path]:
    """Finds an agent YAML: as given, then under each config root (``configs/agents/``).

    A bare name such as ``default`` means ``configs/agents/default.yaml``.
    Returns ``(yaml_path, root)``; relative paths inside the YAML refer to ``root``.
    """
    raw = Path(path).expanduser()
    names = [raw]
    if raw.suffix not in (".yaml", ".yml") and len(raw.parts) == 1:
        names = [Path("configs/agents") / f"{raw}.yaml", raw]
    roots = config_roots(config_root)
    candidates: list[tuple[Path, Path | None]] = []
    for name in names:
        if name.is_absolute():
            candidates.append((name, None))
            continue
        candidates.append((Path.cwd() / name, None))
        for root in roots:
            candidates.append((root / name, root))
            candidates.append((root / "configs" / name, root))
    for candidate, root in candidates:
        if candidate.is_file():
            resolved = candidate.resolve()
            if root is None:
                root = _root_of(resolved)
            return resolved, root
    searched = ", ".join(str(r) for r in roots)
    raise AgentConfigError(
        f"agent config {os.fspath(path)!r} not found (looked in the working directory "
        f"and the config roots: {searched})"
    )


def _root_of(path: Path) -> Path:
    parent = path.parent
    if parent.name == "agents" and parent.parent.name == "configs":
        return parent.parent.parent
    return Path.cwd()


def load_agent_config(
    path: str | os.PathLike[str] = "default",
    config_root: str | os.PathLike[str] | None = None,
) -> AgentConfig:
    """Loads an agent YAML (a path, or a name under ``configs/agents/``)."""
    yaml_path, root = resolve_agent_config_path(path, config_root)
    try:
        data = yaml.safe_load(yaml_path.read_text())
    except yaml.YAMLError as exc:
        raise AgentConfigError(f"{yaml_path}: invalid YAML: {exc}") from exc
    return agent_config_from_dict(data or {}, path=str(yaml_path), root=str(root))
