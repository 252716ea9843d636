"""`serve --max-batch N --request-timeout SECONDS --api-key-file PATH`: defaults, values and
usage errors that name the flag and the value (exit 2), as `--max-queue` already does."""

from __future__ import annotations

from pathlib import Path

import pytest

from modeldeploy.cli.main import build_parser, main


def parse(*args: str) -> object:
    return build_parser().parse_args(["serve", "--model-dir", "/m", *args])


def test_defaults_bound_the_batch_and_a_requests_time_and_need_no_key() -> None:
    args = parse()
    assert vars(args)["max_batch"] is None  # the engine's: builtin 16, vLLM 256 (--max-num-seqs)
    assert vars(args)["engine"] == "builtin" and vars(args)["engine_args"] == []
    assert vars(args)["request_timeout"] == 600.0
    assert vars(args)["max_queue"] == 64
    assert vars(args)["api_key_file"] is None


def test_given_values_are_taken() -> None:
    args = vars(
        parse(
            "--max-batch", "4",
            "--request-timeout", "0",
            "--max-queue", "8",
            "--api-key-file", "/var/run/modeldeploy/api-key/api-key",
        )
    )  # fmt: skip
    assert (args["max_batch"], args["request_timeout"], args["max_queue"]) == (4, 0.0, 8)
    assert args["api_key_file"] == Path("/var/run/modeldeploy/api-key/api-key")


@pytest.mark.parametrize(
    ("flag", "value", "says"),
    [
        ("--max-batch", "0", "must be at least 1"),
        ("--max-batch", "many", "expected a whole number"),
        ("--max-batch", "1.5", "expected a whole number"),
        ("--request-timeout", "-1", "must be 0 or more seconds"),
        ("--request-timeout", "inf", "must be 0 or more seconds"),
        ("--request-timeout", "later", "expected a number of seconds"),
    ],
)
def test_bad_values_are_usage_errors_naming_the_flag(
    flag: str, value: str, says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["serve", "--model-dir", "/m", flag, value])
    assert exited.value.code == 2
    assert f"argument {flag}: '{value}': {says}" in capsys.readouterr().err


def test_help_says_what_each_bound_means(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "for Ready or for a batch slot; one more is answered 429 with Retry-After" in text
    assert "at most N requests are decoded together" in text
    assert "past it, 504 (default 600; 0: no limit)" in text
    assert "'Authorization: Bearer <key>'" in text


def test_an_unreadable_key_file_is_refused_naming_the_path_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key_dir = tmp_path / "api-key"
    key_dir.mkdir()  # a directory where the file should be
    code = main(["serve", "--model-dir", str(tmp_path), "--api-key-file", str(key_dir)])
    assert code == 1
    err = capsys.readouterr().err
    assert f"--api-key-file: {key_dir}: cannot read the API key file (Is a directory)" in err
