"""Run the fake hub as a standalone mirror until SIGTERM (the real-node demo's hub mirror).

    python -m tests.support.hubserver --host 10.213.0.1 --repo demo/tiny-chat=DIR \\
        --ready-file mirror.json

Each `--repo ID=DIR` publishes every file under DIR as one commit on `main`. Once both
listeners accept connections, `--ready-file` receives {"endpoint": ..., "commits": {ID: sha}}
(written to a temporary name, then renamed: a reader never sees half of it). Still the test
double of the Hub described in the package docstring, not a real mirror of the public hub.
"""

from __future__ import annotations

import argparse
import json
import signal
import threading
from collections.abc import Sequence
from pathlib import Path

from tests.support.hubserver.server import HubServer


def _repo(value: str) -> tuple[str, Path]:
    repo_id, sep, folder = value.partition("=")
    path = Path(folder)
    if not sep or not repo_id or not path.is_dir():
        raise argparse.ArgumentTypeError(f"expected ID=DIR with an existing DIR, got {value!r}")
    return repo_id, path


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.support.hubserver")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default loopback)")
    parser.add_argument("--repo", type=_repo, action="append", required=True, metavar="ID=DIR")
    parser.add_argument("--ready-file", type=Path, help="where to write the endpoint when up")
    args = parser.parse_args(argv)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    with HubServer(host=args.host) as hub:
        commits = {}
        for repo_id, folder in args.repo:
            files = {
                str(p.relative_to(folder)): p for p in sorted(folder.rglob("*")) if p.is_file()
            }
            commits[repo_id] = hub.add_repo(repo_id, files)
        ready = {"endpoint": hub.endpoint, "commits": commits}
        print(json.dumps(ready), flush=True)
        if args.ready_file is not None:
            partial = args.ready_file.with_name(args.ready_file.name + ".partial")
            partial.write_text(json.dumps(ready))
            partial.rename(args.ready_file)
        stop.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
