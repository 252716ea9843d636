"""`modeldeploy render` on broken YAML: one line, `FILE:LINE:COLUMN: not valid YAML: PROBLEM`,
with pyyaml's context (where the unfinished construct began) kept readable."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

MISSING_COLON = """\
apiVersion: modeldeploy.io/v1alpha1
kind: ModelDeployment
metadata:
  name: tiny
spec
  model: {repo: acme/tiny}
"""


def render(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "modeldeploy", "render", *args],
        input=stdin, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_a_yaml_syntax_error_names_file_line_column_and_problem(tmp_path: Path) -> None:
    manifest = tmp_path / "bad.yaml"
    manifest.write_text(MISSING_COLON)

    result = render(str(manifest))

    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr == (
        f"modeldeploy render: error: {manifest}:6:8: not valid YAML: could not find expected "
        "':' (while scanning a simple key at line 5, column 1)\n"
    )


def test_yaml_on_stdin_is_named_stdin() -> None:
    result = render("-", stdin="a: 1\n\tb: 2\n")

    assert result.returncode == 1 and result.stderr.count("\n") == 1
    assert "error: <stdin>:2:1: not valid YAML: found character '\\t'" in result.stderr
