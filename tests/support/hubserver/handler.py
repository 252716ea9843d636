"""Routes one request of the hub API subset the fake hub speaks (see the package doc)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import socket
import urllib.parse
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any

from tests.support.hubserver.content import HostedFile, HostedRepo, RequestRecord, corrupt

if TYPE_CHECKING:
    from tests.support.hubserver.server import HubServer


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
        folders: set[str] = set()
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
            hashlib.sha256(corrupt(hosted.read(0, hosted.size))).hexdigest()
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
            self.wfile.write(corrupt(data, offset=start) if wrong else data)
            sent = end - start
        self.hub.count_served(hosted.path, sent)

    def _hang_up(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)


def _flag(query: dict[str, list[str]], name: str) -> bool:
    return [v.lower() for v in query.get(name, [])] == ["true"]
