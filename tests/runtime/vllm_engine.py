"""Real vLLM engine processes for the tests of `modeldeploy serve --engine vllm`.

The engine is vLLM's CPU build in its own locked environment (`hack/venv.sh --vllm`, built by
`hack/setup.sh test`, exported as MODELDEPLOY_VLLM_PYTHON). Without it the tests cannot run:
outside CI they skip, under CI they fail (tests/support/skips.py).

The models are the tests' tiny Llama with heads of 32 dimensions (`num_attention_heads=2`):
vLLM's CPU attention has kernels for 32 and up, not for the default tiny model's 16.
The engine gets 1 GiB for its KV cache (VLLM_CPU_KVCACHE_SPACE; left unset it sizes the cache
from the machine's memory) and runs eager (`--enforce-eager`: no graph compilation, which
costs half a minute per start and proves nothing here).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.runtime import servers
from tests.support.skips import cannot_run

REPO_ROOT = Path(__file__).resolve().parents[2]
EAGER = "--engine-arg=--enforce-eager"
ENGINE_ENV = {"VLLM_CPU_KVCACHE_SPACE": "1"}
START_SECONDS = 300.0  # a cold engine start on two busy cores, imports included


def vllm_python() -> Path:
    """The vLLM environment's interpreter, or skip (fail under CI) naming how to build it."""
    configured = os.environ.get("MODELDEPLOY_VLLM_PYTHON")
    if configured:
        path = Path(configured)
    else:
        found = subprocess.run(
            [str(REPO_ROOT / "hack" / "venv.sh"), "--vllm", "--path"],
            capture_output=True,
            text=True,
        )
        path = Path(found.stdout.strip()) / "bin" / "python"
    if not path.is_file() or not (path.parent.parent / ".complete").is_file():
        cannot_run("needs the vLLM engine environment (hack/venv.sh --vllm)")
    return path


def start(model_dir: Path, tmp: Path, *args: str) -> servers.Serve:
    """`modeldeploy serve --engine vllm` on `model_dir` (eager unless `args` say otherwise)."""
    env = {**ENGINE_ENV, "MODELDEPLOY_VLLM_PYTHON": str(vllm_python())}
    return servers.start(model_dir, tmp, "--engine", "vllm", *args, env=env)


def live_members(pgid: int) -> list[str]:
    """The processes of group `pgid` still alive (zombies, dead but not yet reaped by init,
    are not), as "pid command" lines read from /proc."""
    alive = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        state, _ppid, group = stat[stat.rfind(")") + 2 :].split()[:3]
        if int(group) == pgid and state != "Z":
            alive.append(f"{entry.name} {command[:120]}")
    return alive
