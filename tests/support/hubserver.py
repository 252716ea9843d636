"""A real Hugging Face Hub on loopback, for tests: the API subset `huggingface_hub` speaks.

Serves repos generated in the test, with real hashes (git blob sha1 of small files, sha256
of LFS files), branches and tags, private and gated repos, and faults on demand. No test
ever contacts the public hub: point the fetcher (or `HF_ENDPOINT`) at `server.endpoint`.

    with HubServer() as hub:
        commit = hub.add_repo("acme/tiny", {"config.json": b"{}", "model.safetensors": data})
        fetch("acme/tiny", tmp_path, endpoint=hub.endpoint)
        assert hub.bytes_served("model.safetensors") == len(data)

Endpoints (all also answer HEAD where huggingface_hub uses it):
- `GET /api/models/{repo}` and `/api/models/{repo}/revision/{rev}` (model info; `?blobs=true`
  adds size, blobId and lfs to `siblings`),
- `GET /api/models/{repo}/tree/{rev}[/{path}]?recursive=` (tree listing),
- `POST /api/models/{repo}/paths-info/{rev}` (form: `paths=...&expand=`),
- `GET|HEAD /{repo}/resolve/{rev}/{path}` with ETag, X-Repo-Commit, Content-Length, Range
  (206) and, for LFS files, X-Linked-Etag / X-Linked-Size and a 302 to a second listener
  standing in for the CDN (another origin, so clients must drop the token there).

Errors carry the hub's `X-Error-Code` header (RepoNotFound, RevisionNotFound,
EntryNotFound, GatedRepo) the way huggingface_hub expects.

Faults (each applies to a repo file path, in any repo): `drop_connection`, `stall`,
`serve_wrong_bytes`, `hide_hashes` (per endpoint), `claim_size`. Counters:
`bytes_served(path)`, `requests` (method, path, range, status, whether a token was sent),
`downloads(path)`, `max_concurrent_transfers`; `reset_counters()` between phases of a test.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import random
import socket
import threading
import urllib.parse
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ENDPOINTS = ("tree", "paths-info", "model-info")
DEFAULT_LFS_THRESHOLD = 1024  # small, so tests exercise LFS files without big data


@dataclass(frozen=True)
class HostedFile:
    """One file of a commit: its bytes (in memory or on disk) and the hashes the hub reports."""

    path: str
    size: int
    sha256: str
    git_sha1: str  # of the content for regular files, of the LFS pointer for LFS files
    lfs: bool
    pointer_size: int
    data: bytes | None = None
    source: Path | None = None

    def read(self, start: int, end: int) -> bytes:
        if self.data is not None:
            return self.data[start:end]
        assert self.source is not None
        with self.source.open("rb") as handle:
            handle.seek(start)
            return handle.read(end - start)


def git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _hosted(path: str, content: bytes | Path, *, lfs_threshold: int) -> HostedFile:
    if isinstance(content, Path):
        size = content.stat().st_size
        digest = hashlib.sha256()
        with content.open("rb") as handle:
            while chunk := handle.read(8 << 20):
                digest.update(chunk)
        sha256, data, source = digest.hexdigest(), None, content
    else:
        size, data, source = len(content), content, None
        sha256 = hashlib.sha256(content).hexdigest()
    if size < lfs_threshold and data is not None:
        return HostedFile(path, size, sha256, git_blob_sha1(data), False, 0, data, source)
    pointer = f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n"
    raw = pointer.encode()
    return HostedFile(path, size, sha256, git_blob_sha1(raw), True, len(raw), data, source)


@dataclass
class HostedRepo:
    repo_id: str
    commits: dict[str, dict[str, HostedFile]] = field(default_factory=dict)
    refs: dict[str, str] = field(default_factory=dict)
    gated: bool = False
    private: bool = False
    tokens: frozenset[str] = frozenset()

    def commit_for(self, revision: str) -> str | None:
        if revision in self.refs:
            return self.refs[revision]
        return revision if revision in self.commits else None


@dataclass(frozen=True)
class RequestRecord:
    method: str
    path: str
    range: str | None
    status: int
    token_sent: bool


@dataclass
class _Fault:
    at_byte: int
    times: int
    seconds: float = 0.0


class HubServer:
    """The loopback hub. A context manager; `endpoint` is the URL to hand to clients."""

    def __init__(self, *, lfs_redirect: bool = True) -> None:
        self.lfs_redirect = lfs_redirect
        self.repos: dict[str, HostedRepo] = {}
        self.requests: list[RequestRecord] = []
        self._served: defaultdict[str, int] = defaultdict(int)
        self._drops: dict[str, list[_Fault]] = defaultdict(list)
        self._stalls: dict[str, list[_Fault]] = defaultdict(list)
        self._wrong: set[str] = set()
        self._hidden: set[str] = set()
        self._claimed: dict[str, int] = {}
        self._active = 0
        self.max_concurrent_transfers = 0
        self._lock = threading.Lock()
        self.stopping = threading.Event()
        self._api = _Listener(self)
        self._cdn = _Listener(self)

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
        hosted = {p: _hosted(p, c, lfs_threshold=lfs_threshold) for p, c in files.items()}
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

    # -- faults ----------------------------------------------------------------------------
    def drop_connection(self, path: str, *, at_byte: int, times: int = 1) -> None:
        """Close the connection when a response for `path` reaches file offset `at_byte`."""
        self._drops[path].append(_Fault(at_byte, times))

    def stall(self, path: str, *, at_byte: int, seconds: float, times: int = 1) -> None:
        """Send nothing for `seconds` when a response for `path` reaches `at_byte`."""
        self._stalls[path].append(_Fault(at_byte, times, seconds))

    def serve_wrong_bytes(self, path: str) -> None:
        """Serve corrupted bytes for `path` (with an ETag of those bytes, like a bad mirror)."""
        self._wrong.add(path)

    def hide_hashes(self, endpoint: str) -> None:
        """Leave hashes (oid, lfs) out of one of ENDPOINTS' answers."""
        assert endpoint in ENDPOINTS, endpoint
        self._hidden.add(endpoint)

    def claim_size(self, path: str, size: int) -> None:
        """Report `size` for `path` in listings (say, more than the disk holds)."""
        self._claimed[path] = size

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

    def take_fault(self, kind: str, path: str, start: int, end: int) -> _Fault | None:
        """The first pending fault for `path` that falls in [start, end), used up once."""
        faults = self._drops if kind == "drop" else self._stalls
        with self._lock:
            for fault in faults.get(path, []):
                if fault.times > 0 and start <= fault.at_byte < end:
                    fault.times -= 1
                    return fault
        return None

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

    def has_faults(self, path: str) -> bool:
        with self._lock:
            pending = (*self._drops.get(path, ()), *self._stalls.get(path, ()))
            return any(fault.times > 0 for fault in pending)

    def wrong(self, path: str) -> bool:
        return path in self._wrong

    def hidden(self, endpoint: str) -> bool:
        return endpoint in self._hidden

    def claimed_size(self, hosted: HostedFile) -> int:
        return self._claimed.get(hosted.path, hosted.size)

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
    def __init__(self, hub: HubServer) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), HubHandler)
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


def safetensors_bytes(
    tensors: Mapping[str, tuple[str, tuple[int, ...]]],
    *,
    metadata: Mapping[str, str] | None = None,
    fill: int = 0,
) -> bytes:
    """A valid safetensors file (no torch): `{name: (dtype, shape)}`, data filled with `fill`."""
    sizes = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I8": 1, "U8": 1}
    header: dict[str, Any] = {"__metadata__": dict(metadata)} if metadata else {}
    offset = 0
    for name, (dtype, shape) in tensors.items():
        count = sizes[dtype]
        for dim in shape:
            count *= dim
        header[name] = {
            "dtype": dtype,
            "shape": list(shape),
            "data_offsets": [offset, offset + count],
        }
        offset += count
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    return len(raw).to_bytes(8, "little") + raw + bytes([fill]) * offset


def random_bytes(size: int, *, seed: int = 0) -> bytes:
    """Deterministic incompressible bytes."""
    return random.Random(seed).randbytes(size)


class HubHandler(BaseHTTPRequestHandler):
    """Routes one request of the hub API subset; see the module doc."""

    protocol_version = "HTTP/1.1"
    server_version = "modeldeploy-test-hub/1"

    @property
    def hub(self) -> HubServer:
        return self.server.hub  # type: ignore[attr-defined,no-any-return]

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read `hub.requests` instead."""

    def do_GET(self) -> None:
        self._route("GET")

    def do_HEAD(self) -> None:
        self._route("HEAD")

    def do_POST(self) -> None:
        self._route("POST")

    # -- routing ---------------------------------------------------------------------------
    def _route(self, method: str) -> None:
        url = urllib.parse.urlsplit(self.path)
        path = urllib.parse.unquote(url.path)
        query = urllib.parse.parse_qs(url.query)
        try:
            if path.startswith("/_cdn/"):
                self._cdn(method, path)
            elif path.startswith("/api/models/"):
                self._api(method, path[len("/api/models/") :], query)
            else:
                self._resolve(method, path.lstrip("/"))
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _record(self, status: int) -> None:
        self.hub.record(
            RequestRecord(
                self.command,
                urllib.parse.unquote(self.path.split("?")[0]),
                self.headers.get("Range"),
                status,
                bool(self.headers.get("Authorization")),
            )
        )

    def _token(self) -> str | None:
        value = self.headers.get("Authorization") or ""
        return value[len("Bearer ") :] if value.startswith("Bearer ") else None

    def _error(self, status: int, code: str | None, message: str) -> None:
        body = json.dumps({"error": message}).encode()
        self._record(status)
        self.send_response(status)
        if code:
            self.send_header("X-Error-Code", code)
        self.send_header("X-Error-Message", message)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, payload: Any) -> None:
        body = json.dumps(payload).encode()
        self._record(200)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _repo(self, rest: str, *, download: bool) -> tuple[HostedRepo, str] | None:
        """The repo named at the start of `rest` if this client may see it; else answer."""
        repo_id, after = self.hub.find_repo(rest)
        repo = self.hub.repos.get(repo_id)
        if repo is None:
            self._error(404, "RepoNotFound", "Repository not found")
            return None
        token = self._token()
        allowed = token is not None and token in repo.tokens
        if repo.private and not allowed:
            message = "Invalid credentials in Authorization header" if token else "Unauthorized"
            self._error(401, None, message)
            return None
        if repo.gated and download and not allowed:
            self._error(403, "GatedRepo", "Access to this repo is restricted")
            return None
        return repo, after

    def _files(self, repo: HostedRepo, revision: str) -> tuple[str, dict[str, HostedFile]] | None:
        commit = repo.commit_for(revision)
        if commit is None:
            self._error(404, "RevisionNotFound", f"Invalid rev id: {revision}")
            return None
        return commit, repo.commits[commit]

    # -- API -------------------------------------------------------------------------------
    def _api(self, method: str, rest: str, query: dict[str, list[str]]) -> None:
        found = self._repo(rest, download=False)
        if found is None:
            return
        repo, after = found
        verb, _, tail = after.partition("/")
        if verb in ("", "revision"):
            self._model_info(repo, tail or "main", blobs=_flag(query, "blobs"))
        elif verb == "tree":
            revision, _, sub = tail.partition("/")
            self._tree(repo, revision, sub, recursive=_flag(query, "recursive"))
        elif verb == "paths-info" and method == "POST":
            length = int(self.headers.get("Content-Length") or 0)
            form = urllib.parse.parse_qs(self.rfile.read(length).decode())
            self._paths_info(repo, tail, form.get("paths", []))
        else:
            self._error(404, None, f"no such API route: {after}")

    def _model_info(self, repo: HostedRepo, revision: str, *, blobs: bool) -> None:
        found = self._files(repo, revision)
        if found is None:
            return
        commit, files = found
        hide = self.hub.hidden("model-info")
        siblings = []
        for hosted in files.values():
            sibling: dict[str, Any] = {"rfilename": hosted.path}
            if blobs:
                sibling["size"] = self.hub.claimed_size(hosted)
                if not hide:
                    sibling["blobId"] = hosted.git_sha1
                    if hosted.lfs:
                        sibling["lfs"] = {
                            "sha256": hosted.sha256,
                            "size": hosted.size,
                            "pointerSize": hosted.pointer_size,
                        }
            siblings.append(sibling)
        self._json(
            {
                "_id": repo.repo_id,
                "id": repo.repo_id,
                "modelId": repo.repo_id,
                "sha": commit,
                "private": repo.private,
                "gated": "manual" if repo.gated else False,
                "disabled": False,
                "tags": [],
                "siblings": siblings,
            }
        )

    def _entry(self, hosted: HostedFile, *, endpoint: str) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "type": "file",
            "oid": hosted.git_sha1,
            "size": self.hub.claimed_size(hosted),
            "path": hosted.path,
        }
        if self.hub.hidden(endpoint):
            entry["oid"] = None
        elif hosted.lfs:
            entry["lfs"] = {
                "oid": hosted.sha256,
                "size": self.hub.claimed_size(hosted),
                "pointerSize": hosted.pointer_size,
            }
        return entry

    def _folders(self, files: Iterable[str]) -> set[str]:
        folders = set()
        for path in files:
            parts = path.split("/")[:-1]
            folders.update("/".join(parts[: i + 1]) for i in range(len(parts)))
        return folders

    def _tree(self, repo: HostedRepo, revision: str, sub: str, *, recursive: bool) -> None:
        found = self._files(repo, revision)
        if found is None:
            return
        _, files = found
        prefix = f"{sub.strip('/')}/" if sub.strip("/") else ""
        folders = self._folders(files)
        if prefix and prefix[:-1] not in folders:
            self._error(404, "EntryNotFound", f"{sub} does not exist")
            return

        def shown(path: str) -> bool:
            inside = path.startswith(prefix)
            return inside and (recursive or "/" not in path[len(prefix) :])

        entries = [
            {"type": "directory", "oid": "0" * 40, "size": 0, "path": d}
            for d in sorted(folders)
            if shown(d)
        ]
        entries += [self._entry(f, endpoint="tree") for p, f in sorted(files.items()) if shown(p)]
        self._json(entries)

    def _paths_info(self, repo: HostedRepo, revision: str, wanted: list[str]) -> None:
        found = self._files(repo, revision)
        if found is None:
            return
        _, files = found
        folders = self._folders(files)
        out: list[dict[str, Any]] = []
        for path in wanted:
            if path in files:
                out.append(self._entry(files[path], endpoint="paths-info"))
            elif path in folders:
                out.append({"type": "directory", "oid": "0" * 40, "size": 0, "path": path})
        self._json(out)

    # -- file bytes ------------------------------------------------------------------------
    def _resolve(self, method: str, rest: str) -> None:
        found = self._repo(rest, download=True)
        if found is None:
            return
        repo, after = found
        verb, _, tail = after.partition("/")
        revision, _, path = tail.partition("/")
        if verb != "resolve" or not path:
            self._error(404, None, "not a resolve URL")
            return
        files_found = self._files(repo, revision)
        if files_found is None:
            return
        commit, files = files_found
        hosted = files.get(path)
        if hosted is None:
            self._error(404, "EntryNotFound", f"{path} does not exist at {revision}")
            return
        headers = {"X-Repo-Commit": commit}
        if hosted.lfs:
            headers |= {"X-Linked-Etag": f'"{hosted.sha256}"', "X-Linked-Size": str(hosted.size)}
            if self.hub.lfs_redirect:
                self._redirect(hosted, headers)
                return
        self._serve(hosted, extra=headers)

    def _redirect(self, hosted: HostedFile, headers: dict[str, str]) -> None:
        self._record(302)
        self.send_response(302)
        location = f"{self.hub.cdn_endpoint}/_cdn/{hosted.sha256}?sig=test-signature"
        for name, value in {
            **headers,
            "Location": location,
            "ETag": f'"{hosted.git_sha1}"',
            "Content-Length": "0",
        }.items():
            self.send_header(name, value)
        self.end_headers()

    def _cdn(self, method: str, path: str) -> None:
        hosted = self.hub.lfs_by_sha(path[len("/_cdn/") :])
        if hosted is None:
            self._error(404, None, "no such object")
            return
        self._serve(hosted, extra={})

    def _serve(self, hosted: HostedFile, *, extra: dict[str, str]) -> None:
        wrong = self.hub.wrong(hosted.path)
        start, end = self._range(hosted.size)
        status = 206 if (start, end) != (0, hosted.size) or self.headers.get("Range") else 200
        if start > end or start > hosted.size:
            self._error(416, None, "range not satisfiable")
            return
        self._record(status)
        self.send_response(status)
        etag = (
            hashlib.sha256(_corrupt(hosted.read(0, hosted.size))).hexdigest()
            if wrong
            else (hosted.sha256 if hosted.lfs else hosted.git_sha1)
        )
        for name, value in extra.items():
            self.send_header(name, value)
        self.send_header("ETag", f'"{etag}"')
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(end - start))
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end - 1}/{hosted.size}")
        self.end_headers()
        if self.command != "HEAD":
            with self.hub.transfer_slot():
                self._body(hosted, start, end, wrong=wrong)

    def _range(self, size: int) -> tuple[int, int]:
        """[start, end) asked for by a `bytes=a-b` / `bytes=a-` Range header."""
        value = self.headers.get("Range")
        if not value or not value.startswith("bytes="):
            return 0, size
        first, _, last = value[len("bytes=") :].partition("-")
        if not first:
            return max(size - int(last), 0), size
        return int(first), min(int(last) + 1, size) if last else size

    def _body(self, hosted: HostedFile, start: int, end: int, *, wrong: bool) -> None:
        position = start
        # Without faults pending for this file, one sendfile call: the benchmark's server
        # should cost as little CPU as a real CDN's.
        chunk = 256 * 1024 if self.hub.has_faults(hosted.path) else end - start
        while position < end:
            stop = min(position + chunk, end)
            drop = self.hub.take_fault("drop", hosted.path, position, stop)
            stall = self.hub.take_fault("stall", hosted.path, position, stop)
            cut = min(f.at_byte for f in (drop, stall) if f) if (drop or stall) else stop
            self._write(hosted, position, cut, wrong=wrong)
            position = cut
            if drop is not None and drop.at_byte == cut:
                self._hang_up()
                return
            if stall is not None:
                self.hub.stopping.wait(stall.seconds)
            if self.hub.stopping.is_set():
                self._hang_up()
                return

    def _write(self, hosted: HostedFile, start: int, end: int, *, wrong: bool) -> None:
        if start >= end:
            return
        if hosted.source is not None and not wrong:
            with hosted.source.open("rb") as handle:
                sent = self.connection.sendfile(handle, start, end - start)
        else:
            data = hosted.read(start, end)
            self.wfile.write(_corrupt(data, offset=start) if wrong else data)
            sent = end - start
        self.hub.count_served(hosted.path, sent)

    def _hang_up(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)


def _corrupt(data: bytes, *, offset: int = 0) -> bytes:
    """Wrong bytes of the same length: every 4096th byte of the file flipped."""
    out = bytearray(data)
    first = (-offset) % 4096
    for index in range(first, len(out), 4096):
        out[index] ^= 0xFF
    return bytes(out)


def _flag(query: dict[str, list[str]], name: str) -> bool:
    return [v.lower() for v in query.get(name, [])] == ["true"]
