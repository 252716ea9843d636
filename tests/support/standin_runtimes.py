"""Test double for the runtime processes of kwok pods (kwok runs no container, so nothing
would ever answer `/status`): what a runtime says, served on each pod's own address.

`PodRuntimes` watches the runtime pods of one namespace (polling the API server) and, for
every pod with a loopback address (kwok's 127.244.0.0/16), serves `GET /status` on that
address and the pod's runtime port, as the runtime would: Ready with the commit the pod was
given — or Failed with a typed reason for the repositories in `failing`. The operator then
judges real pods, scheduled by the real scheduler, through its real /status client.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import threading
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.support.cluster import Cluster

COMMIT = "modeldeploy.io/commit"
REPO = "modeldeploy.io/repo"


class PodRuntimes:
    """Stand-in runtimes for the runtime pods of `namespace` while in a `with` block."""

    def __init__(
        self,
        cluster: Cluster,
        namespace: str,
        *,
        failing: Mapping[str, tuple[str, str]] | None = None,
    ) -> None:
        self.cluster = cluster
        self.namespace = namespace
        self.failing = dict(failing or {})
        self.servers: dict[str, ThreadingHTTPServer] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self) -> PodRuntimes:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        for server in self.servers.values():
            server.shutdown()
            server.server_close()

    def document(self, pod: Mapping[str, Any]) -> dict[str, Any]:
        annotations = pod["metadata"].get("annotations") or {}
        doc: dict[str, Any] = {
            "state": "Ready",
            "progress": 1.0,
            "commit": annotations.get(COMMIT),
            "verified": True,
            "inFlight": 0,
        }
        failure = self.failing.get(annotations.get(REPO, ""))
        if failure is not None:
            doc.update(state="Failed", error={"reason": failure[0], "message": failure[1]})
        return doc

    def _watch(self) -> None:
        while not self._stop.wait(0.3):
            listed = self.cluster.kubectl_json(
                "get", "pods", "-n", self.namespace, "-l", "app.kubernetes.io/component=runtime"
            )
            live = {p["metadata"]["uid"] for p in listed["items"]}
            for uid in [u for u in self.servers if u not in live]:
                # A deleted pod's address may be given to the next pod: free it first.
                server = self.servers.pop(uid)
                server.shutdown()
                server.server_close()
            for pod in listed["items"]:
                uid, ip = pod["metadata"]["uid"], (pod.get("status") or {}).get("podIP")
                if uid in self.servers or not ip or not ipaddress.ip_address(ip).is_loopback:
                    continue
                ports = pod["spec"]["containers"][0].get("ports") or []
                if ports and not pod["metadata"].get("deletionTimestamp"):
                    with contextlib.suppress(OSError):  # address still held: next round
                        self._serve(uid, ip, int(ports[0]["containerPort"]), pod)

    def _serve(self, uid: str, ip: str, port: int, pod: Mapping[str, Any]) -> None:
        body = json.dumps(self.document(pod)).encode()

        class Status(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # http.server's name
                found = self.path.split("?")[0] == "/status"
                self.send_response(200 if found else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body) if found else 0))
                self.end_headers()
                if found:
                    self.wfile.write(body)

            def log_message(self, *_: Any) -> None:
                pass

        server = ThreadingHTTPServer((ip, port), Status)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self.servers[uid] = server
