"""The fake hub's two loopback listeners (API and a stand-in CDN), content and counters."""

from __future__ import annotations

import contextlib
import hashlib
import json
import threading
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from http.server import ThreadingHTTPServer
from pathlib import Path

from tests.support.hubserver.content import (
    DEFAULT_LFS_THRESHOLD,
    HostedFile,
    HostedRepo,
    RequestRecord,
    hosted_file,
)
from tests.support.hubserver.faults import Faults
from tests.support.hubserver.handler import HubHandler


class HubServer(Faults):
    """The loopback fake hub. A context manager; `endpoint` is the URL to hand to clients."""

    def __init__(self, *, lfs_redirect: bool = True, host: str = "127.0.0.1") -> None:
        """`host`: the address both listeners bind to (loopback, or a pod-network gateway
        such as the real node's bridge address, so that pods can reach the mirror)."""
        super().__init__()
        self.lfs_redirect = lfs_redirect
        self.repos: dict[str, HostedRepo] = {}
        self.requests: list[RequestRecord] = []
        self._served: defaultdict[str, int] = defaultdict(int)
        self._active = 0
        self.max_concurrent_transfers = 0
        self.stopping = threading.Event()
        self._api = _Listener(self, host)
        self._cdn = _Listener(self, host)

    # -- lifecycle -------------------------------------------------------------------------
    def __enter__(self) -> HubServer:
        self._api.start()
        self._cdn.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.stopping.set()
        self._api.stop()
        self._cdn.stop()

    @property
    def endpoint(self) -> str:
        return self._api.url

    @property
    def cdn_endpoint(self) -> str:
        return self._cdn.url

    # -- content ---------------------------------------------------------------------------
    def add_repo(
        self,
        repo_id: str,
        files: Mapping[str, bytes | Path],
        *,
        branches: Iterable[str] = ("main",),
        tags: Iterable[str] = (),
        gated: bool = False,
        private: bool = False,
        tokens: Iterable[str] = (),
        lfs_threshold: int = DEFAULT_LFS_THRESHOLD,
    ) -> str:
        """Create (or replace) a repo with one commit; return its 40-hex sha.

        `private` repos answer 401 without one of `tokens`; `gated` repos list metadata to
        anyone but answer 403 (X-Error-Code GatedRepo) to downloads without one of `tokens`.
        """
        repo = HostedRepo(repo_id, gated=gated, private=private, tokens=frozenset(tokens))
        self.repos[repo_id] = repo
        return self.add_commit(
            repo_id, files, branches=branches, tags=tags, lfs_threshold=lfs_threshold
        )

    def add_commit(
        self,
        repo_id: str,
        files: Mapping[str, bytes | Path],
        *,
        branches: Iterable[str] = ("main",),
        tags: Iterable[str] = (),
        lfs_threshold: int = DEFAULT_LFS_THRESHOLD,
    ) -> str:
        """Add a commit to an existing repo and point `branches` and `tags` at it."""
        repo = self.repos[repo_id]
        hosted = {p: hosted_file(p, c, lfs_threshold=lfs_threshold) for p, c in files.items()}
        seed = json.dumps(
            [repo_id, len(repo.commits), sorted((p, f.sha256) for p, f in hosted.items())]
        )
        sha = hashlib.sha1(seed.encode()).hexdigest()
        repo.commits[sha] = hosted
        for ref in (*branches, *tags):
            repo.refs[ref] = sha
        return sha

    def file(self, repo_id: str, path: str, revision: str = "main") -> HostedFile:
        repo = self.repos[repo_id]
        return repo.commits[repo.commit_for(revision) or ""][path]

    # -- counters --------------------------------------------------------------------------
    def bytes_served(self, path: str | None = None) -> int:
        with self._lock:
            return self._served[path] if path else sum(self._served.values())

    def downloads(self, path: str | None = None) -> list[RequestRecord]:
        """GET requests for file bytes at /resolve/ (one per attempt), optionally for one path."""
        return [
            r
            for r in self.requests
            if r.method == "GET"
            and "/resolve/" in r.path
            and (path is None or r.path.endswith("/" + path))
        ]

    def reset_counters(self) -> None:
        with self._lock:
            self._served.clear()
            self.requests.clear()
            self.max_concurrent_transfers = 0

    # -- used by the handler ---------------------------------------------------------------
    def record(self, record: RequestRecord) -> None:
        with self._lock:
            self.requests.append(record)

    def count_served(self, path: str, count: int) -> None:
        with self._lock:
            self._served[path] += count

    @contextlib.contextmanager
    def transfer_slot(self) -> Iterator[None]:
        """Count file bodies being sent at once (`max_concurrent_transfers`)."""
        with self._lock:
            self._active += 1
            self.max_concurrent_transfers = max(self.max_concurrent_transfers, self._active)
        try:
            yield
        finally:
            with self._lock:
                self._active -= 1

    def find_repo(self, rest: str) -> tuple[str, str]:
        """Split `owner/name/rest...` into (repo id, rest), preferring known repo ids."""
        for repo_id in sorted(self.repos, key=len, reverse=True):
            if rest == repo_id or rest.startswith(repo_id + "/"):
                return repo_id, rest[len(repo_id) + 1 :]
        parts = rest.split("/")
        return "/".join(parts[:2]), "/".join(parts[2:])

    def lfs_by_sha(self, sha256: str) -> HostedFile | None:
        for repo in self.repos.values():
            for files in repo.commits.values():
                for hosted in files.values():
                    if hosted.sha256 == sha256:
                        return hosted
        return None


class _Listener:
    def __init__(self, hub: HubServer, host: str, port: int = 0) -> None:
        self.server = ThreadingHTTPServer((host, port), HubHandler)
        self.server.daemon_threads = True
        self.server.hub = hub  # type: ignore[attr-defined]
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
