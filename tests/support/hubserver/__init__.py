"""A test double of the Hugging Face Hub on loopback: a fake hub speaking the API subset
`huggingface_hub` and the fetcher use, not the real hub (whose behaviour it imitates only as
far as the tests need).

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

Modules: `content` (hosted files and repos, test content builders), `faults`, `handler`
(HTTP routing), `server` (listeners, counters). Import from the package:
`from tests.support.hubserver import HubServer, safetensors_bytes, random_bytes`.
"""

from __future__ import annotations

from tests.support.hubserver.content import (
    DEFAULT_LFS_THRESHOLD,
    ENDPOINTS,
    HostedFile,
    HostedRepo,
    RequestRecord,
    git_blob_sha1,
    random_bytes,
    safetensors_bytes,
)
from tests.support.hubserver.handler import HubHandler
from tests.support.hubserver.server import HubServer

__all__ = [
    "DEFAULT_LFS_THRESHOLD",
    "ENDPOINTS",
    "HostedFile",
    "HostedRepo",
    "HubHandler",
    "HubServer",
    "RequestRecord",
    "git_blob_sha1",
    "random_bytes",
    "safetensors_bytes",
]
