"""``mlgym run`` (MLGym's ``run.py`` flags) and ``mlgym export``.

``mlgym run`` takes every flag of MLGym's ``run.py``, with argparse prefix
abbreviations (``--model`` is ``--model_name``, ``--temp`` is ``--temperature``), plus
``--container_type local`` (the default), ``--config_root`` and ``--trajectories_dir``.
Outputs go to ``<trajectories_dir>/<user>/<run name>_run_<i>/`` as MLGym writes them.
"""

from __future__ import annotations

import argparse
import getpass
import inspect
import json
import logging
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

#: MLGym's effective defaults (``run.py`` after ``get_args``).
DEFAULT_TASK = "tasks/regressionKaggleHousePrice.yaml"
DEFAULT_MODEL = "litellm:gpt-4o"
CONTAINER_TYPES = ("local", "docker", "podman")

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
#: Task fields holding paths relative to the config root.
_ROOT_RELATIVE = (
    "starter_code",
    "secret_files",
    "requirements_path",
    "sample_submission",
    "memory_path",
)

log = logging.getLogger("mlgym.agent")


# --------------------------------------------------------------------------- helpers


def load_dotenv(path: str | os.PathLike[str] = ".env", *, override: bool = False) -> list[str]:
    """Loads ``KEY=VALUE`` lines of a ``.env`` file into ``os.environ``.

    Blank lines and ``#`` comments are skipped, ``export`` prefixes allowed, values may
    be quoted. Variables already set win unless ``override``. Returns the keys set.
    """
    p = Path(path)
    if not p.is_file():
        return []
    loaded: list[str] = []
    for raw in p.read_text(errors="replace").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export ") :].lstrip()
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not key.replace("_", "").isalnum():
            continue
        value = value.strip()
        if value[:1] in ("'", '"'):
            quote = value[0]
            end = value.find(quote, 1)
            value = value[1:end] if end != -1 else value[1:]
            if quote == '"':
                value = value.replace("\\n", "\n")
        else:
            value = value.split(" #", 1)[0].rstrip()
        if override or key not in os.environ:
            os.environ[key] = value
            loaded.append(key)
    return loaded


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


def _add_bool(group: Any, name: str, default: bool | None, help_text: str) -> None:
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


def run_name(
    model_name: str,
    task_id: str,
    agent_config_stem: str,
    temperature: float,
    top_p: float,
    per_instance_cost_limit: float,
    suffix: str = "",
) -> str:
    """MLGym's run name (the trajectory directory without ``_run_<i>``)."""
    name = (
        f"{model_name.replace(':', '-')}__{task_id}__{agent_config_stem}"
        f"__t-{temperature:.2f}__p-{top_p:.2f}__c-{per_instance_cost_limit:.2f}__install-0"
    )
    if suffix:
        name += f"__{suffix}"
    return name


def detect_gpus() -> list[str]:
    """GPUs under 50% load and 50% memory (GPUtil's defaults), via ``nvidia-smi``."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return []
    try:
        out = subprocess.run(
            [
                exe,
                "--query-gpu=index,utilization.gpu,memory.used,memory.total",
                "--format=csv,noheader,nounits",
            ],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    devices: list[str] = []
    for line in out.splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) != 4:
            continue
        try:
            index, load, used, total = parts[0], float(parts[1]), float(parts[2]), float(parts[3])
        except ValueError:
            continue
        if load / 100 < 0.5 and (total <= 0 or used / total < 0.5):
            devices.append(index)
    return devices


def assign_devices(
    gpus: Sequence[int | str], gpus_per_agent: int, num_agents: int
) -> list[list[str]]:
    """MLGym's split: ``gpus_per_agent`` devices each, or ``cpu_<i>`` when it is 0."""
    if num_agents < 1:
        raise ValueError("--num_agents must be at least 1")
    if gpus_per_agent > 0:
        devices = [str(g) for g in gpus] or detect_gpus()
        required = gpus_per_agent * num_agents
        if required > len(devices):
            raise RuntimeError(
                f"Not enough GPUs available. Required: {required}, Available: {len(devices)}"
            )
        return [devices[i * gpus_per_agent : (i + 1) * gpus_per_agent] for i in range(num_agents)]
    return [[f"cpu_{i}"] for i in range(num_agents)]


@dataclass
class ResolvedTask:
    ref: str  # what mlgym.make receives
    yaml_path: Path | None
    config: dict[str, Any]


def _task_yaml_path(ref: str, config_root: str | None) -> Path | None:
    from mlgym import _core
    from mlgym._paths import config_roots

    roots = config_roots(config_root)
    if ref.endswith((".yaml", ".yml")) or "/" in ref:
        candidates = [Path(ref).expanduser()] + [r / "configs" / ref for r in roots]
        for c in candidates:
            if c.is_file():
                return c.resolve()
        return None
    for task_id, path in _core.list_tasks([str(r) for r in roots]):
        if task_id == ref:
            return Path(path).resolve()
    return None


def _root_of_task_yaml(path: Path) -> Path:
    if path.parent.name == "tasks" and path.parent.parent.name == "configs":
        return path.parent.parent.parent
    return path.parent


def resolve_task(
    ref: str, config_root: str | None, overrides: dict[str, Any], tmp_dir: Path
) -> ResolvedTask:
    """Finds the task (a path relative to a root's ``configs/``, a path, or a task id)
    and applies command-line overrides through a rewritten YAML in ``tmp_dir``."""
    import mlgym

    yaml_path = _task_yaml_path(ref, config_root)
    make_ref = str(yaml_path) if yaml_path is not None else ref
    if overrides:
        if yaml_path is None:
            mlgym.load_task(ref, config_root)  # raises TaskNotFoundError with suggestions
            raise FileNotFoundError(f"task {ref!r}: its YAML file was not found")
        data = yaml.safe_load(yaml_path.read_text()) or {}
        data.update(overrides)
        root = _root_of_task_yaml(yaml_path)
        for key in _ROOT_RELATIVE:
            value = data.get(key)
            if isinstance(value, list):
                data[key] = [str((root / v).resolve()) for v in value]
            elif isinstance(value, str) and value:
                data[key] = str((root / value).resolve())
        if data.get("dataset_configs"):
            data["dataset_configs"] = [
                str((root / "configs" / d).resolve()) for d in data["dataset_configs"]
            ]
        tmp_dir.mkdir(parents=True, exist_ok=True)
        out = tmp_dir / f"{data.get('id', 'task')}.yaml"
        out.write_text(yaml.safe_dump(data, sort_keys=False))
        make_ref = str(out)
    config = mlgym.load_task(make_ref, config_root)
    return ResolvedTask(ref=make_ref, yaml_path=yaml_path, config=config)


#: MLGym's image name; with it the container backends use our own image instead.
_MLGYM_DEFAULT_IMAGE = "aigym/mlgym-agent:latest"


def _env_kwargs_supported() -> set[str]:
    import mlgym

    try:
        return set(inspect.signature(mlgym.MLGymEnv.__init__).parameters)
    except (TypeError, ValueError):
        return set()


class _ConsoleFormatter(logging.Formatter):
    def __init__(self, limit: int | None) -> None:
        super().__init__("%(levelname)s %(name)s: %(message)s")
        self.limit = limit

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        if self.limit and len(text) > self.limit:
            cut = len(text) - self.limit
            text = text[: self.limit] + f"\n... [{cut} more characters in the run's log file]"
        return text


def _level(name: str, default: int) -> int:
    value = os.environ.get(name)
    if not value:
        return default
    if value.isdigit():
        return int(value)
    return (
        logging.getLevelName(value.upper())
        if isinstance(logging.getLevelName(value.upper()), int)
        else default
    )


# --------------------------------------------------------------------------- parser


def add_parser(subparsers: Any) -> None:
    """Adds ``run`` and ``export`` to the ``mlgym`` command."""
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
    _add_bool(s, "print_config", False, "log the full configuration")
    _add_bool(s, "skip_existing", False, "skip runs whose results.json already exists")
    s.add_argument("--suffix", default="", help="appended to the run name as __<suffix>")
    _add_bool(s, "raise_exceptions", False, "re-raise errors instead of recording them")
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
        default=_MLGYM_DEFAULT_IMAGE,
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
    _add_bool(e, "verbose", True, "log each step to the console")
    _add_bool(e, "cache_baseline_scores", True, "(MLGym) cache computed baselines")
    _add_bool(e, "cache_task_images", False, "(MLGym) cache task images")
    e.add_argument("--environment_setup", default=None)
    _add_bool(e, "memory_enabled", False, "(MLGym) memory tools; not supported")
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
    _add_bool(a, "log_verbose_to_console", False, "do not shorten long console lines")
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
    p.set_defaults(func=run)

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
    x.set_defaults(func=export)


# --------------------------------------------------------------------------- run


def _args_document(args: argparse.Namespace, task: dict[str, Any], agent_config: Any) -> dict:
    env_keys = (
        "image_name",
        "max_steps",
        "seed",
        "task_config_path",
        "container_type",
        "container_name",
        "verbose",
        "cache_baseline_scores",
        "cache_task_images",
        "environment_setup",
        "memory_enabled",
        "container_mounts",
        "aliases_file",
    )
    model_keys = (
        "model_name",
        "per_instance_cost_limit",
        "total_cost_limit",
        "temperature",
        "top_p",
        "replay_path",
        "host_url",
        "api_version",
        "stop",
        "completion_kwargs",
    )
    env = {k: getattr(args, k) for k in env_keys}
    env["task"] = task
    model = {k: getattr(args, k) for k in model_keys}
    if args.api_key:
        model["api_key"] = "***"
    return {
        "environment": env,
        "agent": {
            "model": model,
            "agent_config_path": str(agent_config.path),
            "config": agent_config.to_dict(),
            "log_verbose_to_console": args.log_verbose_to_console,
        },
        "benchmark": args.benchmark,
        "print_config": args.print_config,
        "skip_existing": args.skip_existing,
        "suffix": args.suffix,
        "raise_exceptions": args.raise_exceptions,
        "gpus_per_agent": args.gpus_per_agent,
        "num_agents": args.num_agents,
        "gpus": list(args.gpus),
        "config_root": args.config_root,
        "trajectories_dir": args.trajectories_dir,
    }


def _plain(value: Any) -> Any:
    """YAML-safe copy (tuples to lists, dataclasses already dicts)."""
    return json.loads(json.dumps(value, default=str))


@dataclass
class RunOutcome:
    index: int
    run_dir: Path
    exit_status: str | None
    skipped: bool = False
    interrupted: bool = False
    error: BaseException | None = None
    score: list[dict[str, Any]] | None = None


def run(args: argparse.Namespace) -> int:
    """Runs ``mlgym run``; returns the process exit code."""
    load_dotenv(Path.cwd() / ".env")
    from mlgym.agent.config import load_agent_config
    from mlgym.agent.errors import AgentConfigError
    from mlgym.agent.models import ModelArguments, get_model
    from mlgym.errors import MLGymError

    console = logging.StreamHandler(sys.stderr)
    console.setFormatter(_ConsoleFormatter(None if args.log_verbose_to_console else 3000))
    console.setLevel(
        _level("MLGYM_LOG_STREAM_LEVEL", logging.INFO) if args.verbose else logging.WARNING
    )
    root_logger = logging.getLogger("mlgym.agent")
    root_logger.setLevel(logging.DEBUG)
    root_logger.propagate = False
    root_logger.addHandler(console)
    tmp_dir = Path(tempfile.mkdtemp(prefix="mlgym-run-"))
    try:
        try:
            plan = _plan(args, tmp_dir, load_agent_config, ModelArguments, get_model)
        except (AgentConfigError, MLGymError, RuntimeError, ValueError, OSError) as exc:
            if args.raise_exceptions:
                raise
            print(f"mlgym run: error: {exc}", file=sys.stderr)
            return 2
        return _execute(args, plan)
    finally:
        root_logger.removeHandler(console)
        shutil.rmtree(tmp_dir, ignore_errors=True)


@dataclass
class _Plan:
    task: ResolvedTask
    agent_config: Any
    model_args: Any
    get_model: Any
    devices: list[list[str]]
    name: str
    out_root: Path
    make_kwargs: dict[str, Any]
    args_doc: dict[str, Any]


def _plan(args, tmp_dir, load_agent_config, ModelArguments, get_model) -> _Plan:  # noqa: N803
    if args.benchmark:
        raise ValueError("--benchmark is not supported; run one task with --task_config_path")
    if args.container_type not in CONTAINER_TYPES:
        raise ValueError(
            f"--container_type must be one of {', '.join(CONTAINER_TYPES)}, "
            f"got {args.container_type!r}"
        )
    if args.max_steps < 1:
        raise ValueError("--max_steps must be at least 1")
    if args.model_name in ("human", "human_thought") and args.num_agents != 1:
        raise ValueError("--model_name human reads one terminal: use --num_agents 1")
    overrides = {k: getattr(args, k) for k in TASK_FIELDS if getattr(args, k) is not None}
    if isinstance(overrides.get("baseline_scores"), dict):
        overrides["baseline_scores"] = [overrides["baseline_scores"]]
    task = resolve_task(args.task_config_path, args.config_root, overrides, tmp_dir)
    agent_config = load_agent_config(args.agent_config_path, args.config_root)
    model_args = ModelArguments(
        model_name=args.model_name,
        per_instance_cost_limit=args.per_instance_cost_limit,
        total_cost_limit=args.total_cost_limit,
        temperature=args.temperature,
        top_p=args.top_p,
        replay_path=args.replay_path,
        host_url=args.host_url,
        api_version=args.api_version,
        api_key=args.api_key,
        stop=list(args.stop or []),
        completion_kwargs=dict(args.completion_kwargs or {}),
    )
    get_model(model_args)  # fail early on a bad model name or replay file
    devices = assign_devices(args.gpus, args.gpus_per_agent, args.num_agents)
    name = run_name(
        args.model_name,
        task.config["id"],
        agent_config.stem,
        args.temperature,
        args.top_p,
        args.per_instance_cost_limit,
        args.suffix,
    )
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "user"
    out_root = Path(args.trajectories_dir) / user
    supported = _env_kwargs_supported()
    make_kwargs: dict[str, Any] = {"backend": args.container_type, "max_steps": args.max_steps}
    if args.config_root:
        make_kwargs["config_root"] = args.config_root
    env_vars = {
        k: v
        for k, v in agent_config.tools.env_variables.items()
        if not (isinstance(v, str) and v.strip().startswith("("))
    }
    make_kwargs["env_vars"] = env_vars
    process_env: dict[str, str] = {}
    if args.aliases_file:
        aliases = Path(args.aliases_file).expanduser()
        if aliases.is_file():
            bash_env = tmp_dir / "bash_env.sh"
            bash_env.write_text(
                f"shopt -s expand_aliases\nsource {shlex.quote(str(aliases.resolve()))}\n"
            )
            process_env["BASH_ENV"] = str(bash_env)
        else:
            log.warning("aliases file %s not found; running without it", aliases)
    if process_env:
        make_kwargs["process_env"] = process_env
    if args.container_type != "local" and args.image_name != _MLGYM_DEFAULT_IMAGE:
        make_kwargs["image"] = args.image_name
    optional = {
        "image_name": args.image_name,
        "container_name": args.container_name,
        "container_mounts": list(args.container_mounts or []),
    }
    for key, value in optional.items():
        if key in supported:
            make_kwargs[key] = value
        elif value and key != "image_name":
            log.warning("--%s has no effect with this environment; ignored", key)
    if args.memory_enabled:
        log.warning("--memory_enabled: the memory tools are not supported; ignored")
    if args.cache_task_images:
        log.warning("--cache_task_images has no effect; ignored")
    _check_environment(task.ref, make_kwargs)
    args_doc = _plain(_args_document(args, task.config, agent_config))
    if args.print_config:
        log.info("configuration:\n%s", yaml.safe_dump(args_doc, sort_keys=False))
    return _Plan(
        task, agent_config, model_args, get_model, devices, name, out_root, make_kwargs, args_doc
    )


def _check_environment(ref: str, make_kwargs: dict[str, Any]) -> None:
    """Builds (and closes) one environment so that an unavailable backend or a broken
    task fails before any run starts; environments start their sandbox on reset only."""
    import mlgym

    try:
        env = mlgym.make(ref, **make_kwargs)
    except ValueError as exc:
        raise ValueError(f"--container_type {make_kwargs.get('backend')}: {exc}") from exc
    env.close()


def _device_kwargs(devices: list[str], supported: set[str]) -> tuple[dict, dict[str, str]]:
    gpus = [d for d in devices if not d.startswith("cpu")]
    if "gpus" in supported:
        # An exclusive lease of exactly these ids: a device request for containers,
        # CUDA_VISIBLE_DEVICES locally.
        return ({"gpus": gpus} if gpus else {}), {}
    if "devices" in supported:
        return {"devices": list(devices)}, {}
    if gpus:
        return {}, {"CUDA_VISIBLE_DEVICES": ",".join(gpus)}
    return {}, {}


def _run_one(
    args: argparse.Namespace,
    plan: _Plan,
    index: int,
    budget: Any,
    stop_event: threading.Event,
) -> RunOutcome:
    import mlgym
    from mlgym.agent.loop import Agent
    from mlgym.agent.trajectory import write_args_yaml, write_results

    run_dir = plan.out_root / f"{plan.name}_run_{index}"
    if args.skip_existing and (run_dir / "results.json").exists():
        log.info("skipping %s: results.json exists", run_dir)
        return RunOutcome(index, run_dir, None, skipped=True)
    run_dir.mkdir(parents=True, exist_ok=True)
    args_doc = dict(plan.args_doc)
    args_doc["devices"] = plan.devices[index]
    if not write_args_yaml(run_dir / "args.yaml", args_doc):
        log.warning(
            "%s/args.yaml differs from this run's arguments (new ones in args.new.yaml)", run_dir
        )
    logger = logging.getLogger(f"mlgym.agent.run.{run_dir.name}")
    logger.setLevel(logging.DEBUG)
    stamp = time.strftime("%y%m%d%H%M%S")
    handler = logging.FileHandler(run_dir / f"run-{stamp}.log", encoding="utf-8")
    handler.setLevel(_level("MLGYM_LOG_FILE_LEVEL", logging.DEBUG))
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    logger.addHandler(handler)
    env = None
    try:
        logger.info("run %s (agent %d, devices %s)", run_dir, index, plan.devices[index])
        model = plan.get_model(plan.model_args, agent_index=index)
        kwargs = dict(plan.make_kwargs)
        dev_kwargs, dev_env = _device_kwargs(plan.devices[index], _env_kwargs_supported())
        kwargs.update(dev_kwargs)
        if dev_env:
            kwargs["process_env"] = {**kwargs.get("process_env", {}), **dev_env}
        agent = Agent(
            plan.agent_config,
            model,
            name=f"primary_{index}",
            per_instance_cost_limit=plan.model_args.per_instance_cost_limit,
            budget=budget,
            logger=logger,
        )
        task_id = plan.task.config["id"]
        try:
            env = mlgym.make(plan.task.ref, **kwargs)
        except Exception as exc:
            logger.error("could not create the environment: %s", exc)
            raise
        result = agent.run(
            env,
            seed=args.seed,
            traj_path=run_dir / f"{task_id}.traj",
            stop_event=stop_event,
            raise_exceptions=args.raise_exceptions,
        )
        if not result.interrupted:
            write_results(
                run_dir / "results.json",
                result.info["score"],
                plan.task.config.get("baseline_scores"),
            )
        logger.info("exit status: %s", result.exit_status)
        return RunOutcome(
            index,
            run_dir,
            result.exit_status,
            interrupted=result.interrupted,
            error=result.error,
            score=result.info["score"],
        )
    finally:
        if env is not None:
            try:
                env.close()
            except Exception as exc:  # noqa: BLE001
                logger.error("closing the environment failed: %s", exc)
        logger.removeHandler(handler)
        handler.close()


def _execute(args: argparse.Namespace, plan: _Plan) -> int:
    from mlgym.agent.loop import CostBudget

    budget = CostBudget(args.total_cost_limit)
    stop_event = threading.Event()
    outcomes: list[RunOutcome] = []
    try:
        if args.num_agents == 1:
            outcomes.append(_run_one(args, plan, 0, budget, stop_event))
        else:
            with ThreadPoolExecutor(
                max_workers=args.num_agents, thread_name_prefix="mlgym-agent"
            ) as pool:
                futures = [
                    pool.submit(_run_one, args, plan, i, budget, stop_event)
                    for i in range(args.num_agents)
                ]
                try:
                    for f in futures:
                        while True:
                            try:
                                outcomes.append(f.result(timeout=0.5))
                                break
                            except TimeoutError:
                                continue
                except KeyboardInterrupt:
                    stop_event.set()
                    raise
    except KeyboardInterrupt:
        stop_event.set()
        print("mlgym run: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if args.raise_exceptions:
            raise
        print(f"mlgym run: error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    failed = False
    for o in sorted(outcomes, key=lambda o: o.index):
        if o.skipped:
            print(f"{o.run_dir}: skipped (results.json exists)")
            continue
        best = ""
        if o.score:
            best = f"  last score: {o.score[-1]}"
        print(f"{o.run_dir}: {o.exit_status}{best}")
        failed = failed or o.error is not None and args.raise_exceptions
    return 1 if failed else 0


# --------------------------------------------------------------------------- export


def export(args: argparse.Namespace) -> int:
    from mlgym.agent.export import export_paths

    try:
        written = export_paths(args.paths, fmt=args.format, output=args.output)
    except (OSError, ValueError) as exc:
        print(f"mlgym export: error: {exc}", file=sys.stderr)
        return 2
    for path in written:
        print(path)
    return 0
