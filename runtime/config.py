"""What `modeldeploy serve` was asked to do: one frozen record, built by the command line."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

DeviceChoice = Literal["auto", "cpu", "cuda"]
DtypeChoice = Literal["auto", "float32", "float16", "bfloat16"]
TaskChoice = Literal["auto", "text-generation", "embeddings"]
VerifyMode = Literal["quick", "full"]
EngineChoice = Literal["builtin", "vllm"]


@dataclass(frozen=True)
class RuntimeConfig:
    model_dir: Path
    host: str = "0.0.0.0"
    port: int = 8080
    device: DeviceChoice = "auto"
    dtype: DtypeChoice = "auto"
    task: TaskChoice = "auto"
    served_model_name: str | None = None
    termination_log: Path = Path("/dev/termination-log")
    allow_unverified: bool = False
    verify: VerifyMode = "quick"
    repo: str | None = None
    revision: str = "main"
    endpoint: str | None = None
    allow_pickle: bool = False
    include: tuple[str, ...] = ()
    pins: dict[str, str] = field(default_factory=dict)
    warmup: bool = True
    warmup_prompt: str = "Hello"
    warmup_max_tokens: int = 8
    drain_timeout: float = 30.0
    failure_linger: float = 2.0
    worker_niceness: int = 0
    queue_while_loading: float = 0.0  # seconds a /v1 request may wait for Ready; 0: none
    max_queue: int = 64  # requests waiting at once, for Ready or a batch slot (`--max-queue`)
    max_batch: int = 16  # requests decoded together / embedded in one pass (`--max-batch`)
    request_timeout: float = 600.0  # seconds from arrival to last token, else 504; 0: none
    api_key_file: Path | None = None  # /v1 needs this file's key (`--api-key-file`; see auth)
    engine: EngineChoice = "builtin"  # `--engine`: in this process, or vLLM as a child process
    engine_args: tuple[str, ...] = ()  # `--engine-arg=ARG` as given (checked when loading)
    max_batch_given: bool = False  # `--max-batch` was passed (vLLM: it sets --max-num-seqs)

    @property
    def model_name(self) -> str:
        """The name clients use in `model`: the flag, else the repo, else the folder name."""
        if self.served_model_name:
            return self.served_model_name
        if self.repo:
            return self.repo
        return self.model_dir.resolve().name
