"""`mlgym.make(..., gpus=...)`: exclusive leases wired into envs (no GPU needed)."""

from __future__ import annotations

import mlgym
import pytest


@pytest.fixture(autouse=True)
def four_fake_gpus(monkeypatch, tmp_path):
    monkeypatch.setenv("MLGYM_GPUS", "0,1,2,3")
    monkeypatch.setenv("MLGYM_GPU_LOCK_DIR", str(tmp_path / "locks"))


def test_local_env_sees_exactly_its_gpus():
    a = mlgym.make("battleOfSexes", gpus=2)
    b = mlgym.make("battleOfSexes", gpus=[3])
    try:
        _, info_a = a.reset(seed=0)
        _, info_b = b.reset(seed=0)
        assert info_a["gpus"] == ["0", "1"] and info_b["gpus"] == ["3"]
        assert a.step("echo $CUDA_VISIBLE_DEVICES")[0] == "0,1"
        assert b.step("echo $CUDA_VISIBLE_DEVICES")[0] == "3"
        with pytest.raises(mlgym.GpuUnavailableError) as err:
            mlgym.make("battleOfSexes", gpus=2)
        assert str(err.value) == "Not enough GPUs available. Required: 2, Available: 1"
    finally:
        a.close()
        b.close()
    # Closing released the leases.
    c = mlgym.make("battleOfSexes", gpus=4)
    assert c.gpus == ["0", "1", "2", "3"]
    c.close()


def test_no_gpus_by_default():
    env = mlgym.make("battleOfSexes")
    try:
        _, info = env.reset(seed=0)
        assert info["gpus"] == []
    finally:
        env.close()


def test_runner_slices_become_exclusive_leases():
    from mlgym.agent.devices import assign_devices, device_kwargs

    slices = assign_devices([0, 1, 2, 3], 2, 2)
    kwargs = [device_kwargs(s) for s in slices]
    assert kwargs == [{"gpus": ["0", "1"]}, {"gpus": ["2", "3"]}]
    assert device_kwargs(["cpu_0"]) == {}
    envs = [mlgym.make("battleOfSexes", **kw) for kw in kwargs]
    try:
        for env, want in zip(envs, ["0,1", "2,3"], strict=True):
            env.reset(seed=0)
            assert env.step("echo $CUDA_VISIBLE_DEVICES")[0] == want
    finally:
        for env in envs:
            env.close()


def test_only_a_local_sandbox_with_gpus_sees_the_gpu_side_of_the_host():
    """NVIDIA nodes and /sys come with a lease; a sandbox without GPUs has neither."""
    with_gpu = mlgym.make("battleOfSexes", gpus=1)
    without = mlgym.make("battleOfSexes")
    try:
        with_gpu.reset(seed=0)
        without.reset(seed=0)
        probe = "test -d /sys/class && echo sys; ls /dev | grep -c '^nvidia' || true"
        assert with_gpu.step(probe)[0].splitlines()[0] == "sys"
        seen = without.step(probe)[0].splitlines()
        assert seen == ["0"], seen
    finally:
        with_gpu.close()
        without.close()
