"""The command line of ``mlgym run`` and ``mlgym export``: MLGym's ``run.py`` flags.

``mlgym run`` takes every flag of MLGym's ``run.py``, with argparse prefix
abbreviations (``--model`` is ``--model_name``, ``--temp`` is ``--temperature``), plus
``--container_type local`` (the default), ``--config_root`` and ``--trajectories_dir``.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any

#: MLGym's effective defaults (``run.py`` after ``get_args``).
DEFAULT_TASK = "tasks/regressionKaggleHousePrice.yaml"
DEFAULT_MODEL = "litellm:gpt-4o"
CONTAINER_TYPES = ("local", "docker", "podman")
#: MLGym's image name; with it the container backends use our own image instead.
MLGYM_DEFAULT_IMAGE = "aigym/mlgym-agent:latest"

#: TaskConfig fields settable on the command line (they override the task YAML).
TASK_FIELDS: dict[str, str] = {
    "id": "str",
    "name": "str",
    "description": "str",
    "dataset_configs": "list",
    "task_entrypoint": "str",
    "training_timeout": "int",
    "requirements_path": "str",
    "benchmark_name": "str",
    "use_generic_conda": "bool",
    "starter_code": "list",
    "baseline_paths": "list",
    "baseline_scores": "json",
    "sample_submission": "str",
    "evaluation_paths": "list",
    "evaluation_read_only": "bool",
    "secret_files": "list",
    "memory_path": "str",
}


def task_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The task fields given on the command line (``None`` means not given)."""
    overrides = {k: getattr(args, k) for k in TASK_FIELDS if getattr(args, k) is not None}
    if isinstance(overrides.get("baseline_scores"), dict):
        overrides["baseline_scores"] = [overrides["baseline_scores"]]
    return overrides


def str2bool(text: str | bool) -> bool:
    if isinstance(text, bool):
        return text
    value = text.strip().lower()
    if value in ("1", "true", "yes", "y", "on", "t"):
        return True
    if value in ("0", "false", "no", "n", "off", "f"):
        return False
    raise argparse.ArgumentTypeError(f"expected a boolean, got {text!r}")


def json_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"not valid JSON: {exc}") from exc


def json_dict(text: str) -> dict[str, Any]:
    value = json_value(text)
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("expected a JSON object, e.g. '{\"max_tokens\": 4096}'")
    return value


def add_bool(group: Any, name: str, default: bool | None, help_text: str) -> None:
    group.add_argument(
        f"--{name}",
        nargs="?",
        const=True,
        default=default,
        type=str2bool,
        metavar="BOOL",
        help=help_text,
    )
    group.add_argument(f"--no{name}", dest=name, action="store_false", help=argparse.SUPPRESS)


def add_run_parser(subparsers: Any, handler: Callable[[argparse.Namespace], int]) -> None:
    """Adds ``mlgym run`` (MLGym's ``run.py`` flags), handled by ``handler``."""
    p = subparsers.add_parser(
        "run",
        help="run an agent on a task (MLGym's run.py flags)",
        description=(
            "Runs an agent on a task and writes MLGym trajectories. Accepts MLGym's run.py "
            "flags; prefixes work (--model for --model_name, --temp for --temperature)."
        ),
        allow_abbrev=True,
    )
    s = p.add_argument_group("script")
    s.add_argument("--benchmark", default=None, help="not supported: pass --task_config_path")
    add_bool(s, "print_config", False, "log the full configuration")
    add_bool(s, "skip_existing", False, "skip runs whose results.json already exists")
    s.add_argument("--suffix", default="", help="appended to the run name as __<suffix>")
    add_bool(s, "raise_exceptions", False, "re-raise errors instead of recording them")
    s.add_argument("--gpus_per_agent", type=int, default=0)
    s.add_argument("--num_agents", type=int, default=1, help="identical runs in parallel")
    s.add_argument("--gpus", type=int, nargs="*", default=[], help="GPU ids to split")
    s.add_argument(
        "--config_root", default=None, help="extra root holding configs/ (also MLGYM_CONFIG_ROOT)"
    )
    s.add_argument(
        "--trajectories_dir",
        default="trajectories",
        help="output root; runs go to <dir>/<user>/<run name>_run_<i>",
    )
    e = p.add_argument_group("environment")
    e.add_argument(
        "--image_name",
        default=MLGYM_DEFAULT_IMAGE,
        help="container image; MLGym's default name means ours (mlgym-agent:latest)",
    )
    e.add_argument("--max_steps", type=int, default=10)
    e.add_argument("--seed", type=int, default=42)
    e.add_argument(
        "--task_config_path",
        default=DEFAULT_TASK,
        help="task YAML relative to configs/, a YAML path, or a task id",
    )
    e.add_argument("--container_type", default="local", help="local (default), docker or podman")
    e.add_argument("--container_name", default=None)
    add_bool(e, "verbose", True, "log each step to the console")
    add_bool(e, "cache_baseline_scores", True, "(MLGym) cache computed baselines")
    add_bool(e, "cache_task_images", False, "(MLGym) cache task images")
    e.add_argument("--environment_setup", default=None)
    add_bool(e, "memory_enabled", False, "(MLGym) memory tools; not supported")
    e.add_argument("--container_mounts", nargs="*", default=[])
    e.add_argument("--aliases_file", default=None, help="bash aliases sourced in the shell")
    t = p.add_argument_group("task fields (override the task YAML)")
    for name, kind in TASK_FIELDS.items():
        if kind == "list":
            t.add_argument(f"--{name}", nargs="*", default=None)
        elif kind == "int":
            t.add_argument(f"--{name}", type=int, default=None)
        elif kind == "bool":
            t.add_argument(f"--{name}", type=str2bool, nargs="?", const=True, default=None)
        elif kind == "json":
            t.add_argument(f"--{name}", type=json_value, default=None, metavar="JSON")
        else:
            t.add_argument(f"--{name}", default=None)
    a = p.add_argument_group("agent")
    a.add_argument("--agent_config_path", default="configs/agents/default.yaml")
    add_bool(a, "log_verbose_to_console", False, "do not shorten long console lines")
    m = p.add_argument_group("model")
    m.add_argument(
        "--model_name",
        default=DEFAULT_MODEL,
        help="litellm:<model>, replay, human, human_thought or submit_baseline",
    )
    m.add_argument("--per_instance_cost_limit", type=float, default=3.0, help="0: no limit")
    m.add_argument("--total_cost_limit", type=float, default=0.0, help="0: no limit")
    m.add_argument("--temperature", type=float, default=0.0)
    m.add_argument("--top_p", type=float, default=0.95)
    m.add_argument("--replay_path", default=None, help="a .traj or replay .jsonl file")
    m.add_argument("--host_url", default=None, help="API base URL")
    m.add_argument("--api_version", default=None)
    m.add_argument("--api_key", default=None)
    m.add_argument("--stop", nargs="*", default=[])
    m.add_argument("--completion_kwargs", type=json_dict, default={}, metavar="JSON")
    p.set_defaults(func=handler)


def add_export_parser(subparsers: Any, handler: Callable[[argparse.Namespace], int]) -> None:
    """Adds ``mlgym export``, handled by ``handler``."""
    x = subparsers.add_parser(
        "export",
        help="convert MLGym trajectories to another format",
        description="Converts .traj files (or every .traj under a folder) to another format.",
    )
    x.add_argument("paths", nargs="+", help=".traj files or folders")
    x.add_argument("--format", choices=["atif"], default="atif")
    x.add_argument(
        "-o",
        "--output",
        default=None,
        help="output file (one input) or folder; default: next to each input",
    )
    x.set_defaults(func=handler)
