"""Turning ``mlgym run``'s arguments into a :class:`Plan`: the task, agent config, model,
devices, output folder and environment keywords, all checked before any run starts."""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from mlgym.agent.arguments import CONTAINER_TYPES, MLGYM_DEFAULT_IMAGE, task_overrides
from mlgym.agent.config import AgentConfig, load_agent_config
from mlgym.agent.devices import assign_devices
from mlgym.agent.models import ModelArguments, get_model
from mlgym.agent.tasks import ResolvedTask, resolve_task
from mlgym.errors import RunConfigError
from mlgym.runs import run_name

log = logging.getLogger("mlgym.agent")

#: ``args.yaml``'s ``environment`` and ``agent.model`` keys (MLGym's order).
_ENV_KEYS = (
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
_MODEL_KEYS = (
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


@dataclass
class Plan:
    """Everything the runs of one ``mlgym run`` share."""

    task: ResolvedTask
    agent_config: AgentConfig
    model_args: ModelArguments
    #: One device list per agent (GPU ids, or ``["cpu_<i>"]``).
    devices: list[list[str]]
    #: The run name; agent *i* writes to ``out_root / run_dir_name(name, i)``.
    name: str
    out_root: Path
    #: ``mlgym.make`` keywords shared by every agent (devices come on top).
    make_kwargs: dict[str, Any]
    #: ``args.yaml`` without ``devices``.
    args_doc: dict[str, Any]


def make_plan(args: argparse.Namespace, tmp_dir: Path) -> Plan:
    """Checks the arguments and prepares the runs; ``tmp_dir`` holds generated files
    (an overridden task YAML, the aliases' ``BASH_ENV``) until the runs end."""
    check_arguments(args)
    task = resolve_task(args.task_config_path, args.config_root, task_overrides(args), tmp_dir)
    agent_config = load_agent_config(args.agent_config_path, args.config_root)
    model_args = model_arguments(args)
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
    make_kwargs = env_kwargs(args, agent_config, tmp_dir)
    warn_ignored_flags(args)
    check_environment(task.ref, make_kwargs)
    args_doc = _plain(args_document(args, task.config, agent_config))
    if args.print_config:
        log.info("configuration:\n%s", yaml.safe_dump(args_doc, sort_keys=False))
    return Plan(
        task=task,
        agent_config=agent_config,
        model_args=model_args,
        devices=devices,
        name=name,
        out_root=Path(args.trajectories_dir) / _user(),
        make_kwargs=make_kwargs,
        args_doc=args_doc,
    )


def check_arguments(args: argparse.Namespace) -> None:
    """Rejects flag values that cannot work (:class:`mlgym.errors.RunConfigError`)."""
    if args.benchmark:
        raise RunConfigError("--benchmark is not supported; run one task with --task_config_path")
    if args.container_type not in CONTAINER_TYPES:
        raise RunConfigError(
            f"--container_type must be one of {', '.join(CONTAINER_TYPES)}, "
            f"got {args.container_type!r}"
        )
    if args.max_steps < 1:
        raise RunConfigError("--max_steps must be at least 1")
    if args.model_name in ("human", "human_thought") and args.num_agents != 1:
        raise RunConfigError("--model_name human reads one terminal: use --num_agents 1")


def model_arguments(args: argparse.Namespace) -> ModelArguments:
    return ModelArguments(
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


def env_kwargs(args: argparse.Namespace, agent_config: AgentConfig, tmp_dir: Path) -> dict:
    """The ``mlgym.make`` keywords of every agent's environment (see
    :class:`mlgym.MLGymEnv`): backend, step limit, config root, the agent config's shell
    variables, the aliases file (through ``BASH_ENV``) and the container image."""
    kwargs: dict[str, Any] = {"backend": args.container_type, "max_steps": args.max_steps}
    if args.config_root:
        kwargs["config_root"] = args.config_root
    # Values such as "(...)" are bash arrays, set by the agent config's own scripts.
    kwargs["env_vars"] = {
        k: v
        for k, v in agent_config.tools.env_variables.items()
        if not (isinstance(v, str) and v.strip().startswith("("))
    }
    if args.aliases_file:
        aliases = Path(args.aliases_file).expanduser()
        if aliases.is_file():
            bash_env = tmp_dir / "bash_env.sh"
            bash_env.write_text(
                f"shopt -s expand_aliases\nsource {shlex.quote(str(aliases.resolve()))}\n"
            )
            kwargs["process_env"] = {"BASH_ENV": str(bash_env)}
        else:
            log.warning("aliases file %s not found; running without it", aliases)
    if args.container_type != "local" and args.image_name != MLGYM_DEFAULT_IMAGE:
        kwargs["image"] = args.image_name
    return kwargs


def warn_ignored_flags(args: argparse.Namespace) -> None:
    """MLGym flags that the environment has no equivalent for."""
    if args.container_name:
        log.warning("--container_name has no effect with this environment; ignored")
    if args.container_mounts:
        log.warning("--container_mounts has no effect with this environment; ignored")
    if args.memory_enabled:
        log.warning("--memory_enabled: the memory tools are not supported; ignored")
    if args.cache_task_images:
        log.warning("--cache_task_images has no effect; ignored")


def check_environment(ref: str, make_kwargs: dict[str, Any]) -> None:
    """Builds (and closes) one environment so that an unavailable backend or a broken
    task fails before any run starts; environments start their sandbox on reset only."""
    import mlgym

    try:
        env = mlgym.make(ref, **make_kwargs)
    except ValueError as exc:
        raise RunConfigError(f"--container_type {make_kwargs.get('backend')}: {exc}") from exc
    env.close()


def args_document(
    args: argparse.Namespace, task: dict[str, Any], agent_config: AgentConfig
) -> dict[str, Any]:
    """The run's ``args.yaml`` (MLGym's layout; the API key masked)."""
    env = {k: getattr(args, k) for k in _ENV_KEYS}
    env["task"] = task
    model = {k: getattr(args, k) for k in _MODEL_KEYS}
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


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "user"
