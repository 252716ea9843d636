"""The main job, end to end on this machine: mirror -> fetch -> verify -> serve -> Ready.

1. Generate a tiny Llama-architecture model (random weights, a real BPE tokenizer).
2. Serve it from a Hugging Face-compatible mirror on loopback.
3. `modeldeploy fetch` it: resolve the branch to a commit, download, verify sha256.
4. `modeldeploy verify` re-hashes every byte against the manifest.
5. `modeldeploy serve` it, printing every runtime state from /status/stream as it happens
   while polling /readyz, which must stay 503 until the state is Ready.
6. Ask for a completion, then SIGTERM: Draining, exit 0.

Run it with `make demo-local` (which sets up the environment first). `make demo` runs the
same model through the operator on a real node (hack/demo.py).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support import hubserver, tinymodels
from tests.support.net import free_port

REPO = "demo/tiny-chat"


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def modeldeploy(*args: str) -> list[str]:
    return [sys.executable, "-m", "modeldeploy", *args]


def http(url: str, body: dict[str, object] | None = None) -> tuple[int, dict[str, object]]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def watch_states(base: str, seen: list[str], done: threading.Event) -> None:
    """Print each state the runtime pushes on /status/stream (Server-Sent Events)."""
    try:
        with urllib.request.urlopen(f"{base}/status/stream", timeout=300) as stream:
            for raw in stream:
                line = raw.decode().strip()
                if not line.startswith("data:"):
                    continue
                report = json.loads(line[5:])
                state = str(report.get("state"))
                if not seen or seen[-1] != state:
                    seen.append(state)
                    progress = float(report.get("progress") or 0.0)
                    say(f"runtime state: {state:<10} progress {progress:5.1%}")
                if done.is_set() or state in ("Ready", "Failed"):
                    return
    except OSError:
        return


def wait_ready(base: str, server: subprocess.Popen[bytes]) -> dict[str, object]:
    """Poll /readyz until 200; check it never says 200 before /status says Ready."""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"demo: modeldeploy serve exited with {server.returncode}")
        try:
            code, _ = http(f"{base}/readyz")
        except OSError:
            time.sleep(0.1)
            continue
        if code == 200:
            _, status = http(f"{base}/status")
            if status.get("state") != "Ready":
                raise SystemExit(f"demo: /readyz said 200 while the state is {status.get('state')}")
            return status
        time.sleep(0.05)
    raise SystemExit("demo: the runtime did not become Ready within 300 s")


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="modeldeploy-demo-"))
    try:
        return run_demo(work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run_demo(work: Path) -> int:
    say(f"work directory {work} (removed at the end)")
    source = tinymodels.build_causal_lm(work / "source", approx_bytes=40e6)
    files = {str(p.relative_to(source)): p for p in tinymodels.model_files(source)}
    say(f"generated a tiny Llama model: {len(files)} files, "
        f"{sum(p.stat().st_size for p in files.values()) / 1e6:.1f} MB")  # fmt: skip
    with hubserver.HubServer() as hub:
        commit = hub.add_repo(REPO, files)
        say(f"hub mirror on {hub.endpoint} serves {REPO} at main = {commit[:12]}")
        dest = work / "model"
        say(f"$ modeldeploy fetch {REPO} --dest {dest} --endpoint {hub.endpoint}")
        subprocess.run(
            modeldeploy("fetch", REPO, "--dest", str(dest), "--endpoint", hub.endpoint,
                        "--progress", "json"),
            check=True,
        )  # fmt: skip
    say(f"$ modeldeploy verify {dest}")
    subprocess.run(modeldeploy("verify", str(dest)), check=True)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    say(f"$ modeldeploy serve --model-dir {dest} --port {port}")
    server = subprocess.Popen(
        modeldeploy("serve", "--model-dir", str(dest), "--host", "127.0.0.1", "--port", str(port),
                    "--termination-log", str(work / "termination-log")),
    )  # fmt: skip
    try:
        return serve_and_ask(base, server)
    finally:
        if server.poll() is None:
            server.kill()


def serve_and_ask(base: str, server: subprocess.Popen[bytes]) -> int:
    seen: list[str] = []
    done = threading.Event()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            http(f"{base}/livez")
            break
        except OSError:
            time.sleep(0.05)
    watcher = threading.Thread(target=watch_states, args=(base, seen, done), daemon=True)
    watcher.start()
    status = wait_ready(base, server)
    done.set()
    watcher.join(timeout=5)
    timings = status.get("timings")
    say(f"Ready: model {status.get('model')} on {status.get('device')}, timings {timings}")
    prompt = "The model says"
    code, answer = http(f"{base}/v1/completions",
                        {"prompt": prompt, "max_tokens": 12, "temperature": 0})  # fmt: skip
    if code != 200:
        raise SystemExit(f"demo: completion failed with {code}: {answer}")
    choices = answer["choices"]
    assert isinstance(choices, list)
    say(f"completion for {prompt!r}: {choices[0]['text']!r} (random weights: gibberish)")
    server.send_signal(signal.SIGTERM)
    code_after = server.wait(timeout=60)
    say(f"SIGTERM: the runtime drained and exited with {code_after}")
    return 0 if code_after == 0 else 1


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    raise SystemExit(main())
