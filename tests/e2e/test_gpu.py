"""GPUs for on-demand instances on the sim backend (src/gpu/, src/sched/,
docs/gpu.md): a function's instance gets a slice of a matching simulated
device, the node never over-commits (requests wait for a slice), and a node
without GPUs refuses GPU functions clearly.

Run with:  /usr/bin/python3 -m pytest -q tests/e2e/test_gpu.py --frost=build/frost
"""

from conftest import wait_for
from inst_helpers import IO, list_instances
from invoke_helpers import assert_fc_error, invoke
from test_invoke import box, create, held, serve  # noqa: F401 - fixtures


def gpu(mb, gpu_type="fc.gpu.tesla.1"):
    return {"gpuConfig": {"gpuMemorySize": mb, "gpuType": gpu_type}}


def test_instance_env_names_its_simulated_gpu(serve):
    srv = serve("--gpus", "sim:1xT4-16GB")
    create(srv, "g", **gpu(8192))
    env = {}
    for name in ("CUDA_VISIBLE_DEVICES", "NVIDIA_VISIBLE_DEVICES", "FROST_GPU_MEMORY_MB",
                 "FROST_GPU_SIMULATED", "FROST_GPU_DEVICE_NAME"):
        r = invoke(srv, "g", body=b"x", headers=[("x-pyfn-env", name)])
        env[name] = r.header("x-pyfn-env-value", "")
    assert env.get("CUDA_VISIBLE_DEVICES", "").startswith("GPU-sim-"), env
    assert env.get("NVIDIA_VISIBLE_DEVICES") == env.get("CUDA_VISIBLE_DEVICES"), env
    assert env.get("FROST_GPU_MEMORY_MB") == "8192", env
    assert env.get("FROST_GPU_SIMULATED") == "1", env
    assert "simulated" in env.get("FROST_GPU_DEVICE_NAME", ""), env


def test_slices_never_overcommit_and_requests_wait(serve, held):
    """16 GB of GPU, 8 GB per instance, concurrency 1: three requests in
    flight need three instances, but only two fit; the third waits for a
    slice and is served once one frees."""
    srv = serve("--gpus", "sim:1xT4-16GB")
    create(srv, "w", **gpu(8192))
    gate = held.gate("w")
    calls = [held.bg(invoke, srv, "w", b"x", headers=gate.headers("r%d" % i)) for i in range(3)]
    # Any two of the three get in first.
    wait_for(lambda: len(gate.started()) >= 2, IO, "two requests to reach the function")
    # Two instances hold the whole device; the third request is queued.
    assert len(list_instances(srv.fc, "w")) == 2
    assert len(gate.started()) == 2
    gate.open()
    for c in calls:
        assert c.get().status == 200
    assert len(gate.started()) == 3


def test_no_fitting_gpu_gets_resource_exhausted(serve):
    srv = serve("--gpus", "sim:1xT4-16GB")
    create(srv, "big", timeout=1, **gpu(16384))
    create(srv, "hog", **gpu(8192))
    assert invoke(srv, "hog", b"x").status == 200  # holds 8 GB while warm
    r = invoke(srv, "big", b"x", check=False)
    assert_fc_error(r, 429, "ResourceExhausted")


def test_gpu_function_on_a_node_without_gpus(serve):
    srv = serve()
    create(srv, "nogpu", **gpu(4096))
    r = invoke(srv, "nogpu", b"x", check=False)
    assert r.status == 400, r
    assert b"GPU" in r.body
