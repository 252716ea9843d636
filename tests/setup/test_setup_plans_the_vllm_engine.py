"""hack/setup.sh plans the vLLM engine for the tests (its own environment, and its CPU image where
the disk has room for it), never for the demo."""

from __future__ import annotations

import re
import time
from pathlib import Path

from tests.setup.test_setup_checks_before_building import run_setup


def test_check_plans_the_vllm_environment_and_runs_the_vllm_part(tmp_path: Path) -> None:
    began = time.monotonic()
    done = run_setup("check", env={"MODELDEPLOY_NODE_CLAIM": str(tmp_path / "none")})
    assert done.returncode == 0, done.stderr
    assert re.search(r"vLLM engine environment: (cached|to install from requirements/vllm\.txt)",
                     done.stderr), done.stderr  # fmt: skip
    # The image: cached, to build, or not built with the reason (the real-node test then skips).
    assert re.search(r"vLLM CPU image(: cached| \(real-node vLLM test\): to build|: not built \()",
                     done.stderr), done.stderr  # fmt: skip
    assert re.search(r"test parts: .*\bvllm\b", done.stderr), done.stderr
    assert time.monotonic() - began < 30  # check stays fast: nothing is built or installed
