"""Names of the fetcher's own state inside a fetch directory, in one leaf module.

`paths` (which guards repo file names) and `manifest` (which checks the names it reads with
`paths`) both need `MANIFEST_DIR`; keeping it here lets them import each other's rules
without a cycle.
"""

from __future__ import annotations

MANIFEST_DIR = ".modeldeploy"
MANIFEST_NAME = "manifest.json"
# The manifest while `verify --repair` changes files: not `manifest.json`, so nothing treats
# the directory as complete meanwhile, yet still there for the next `--repair` if this one fails.
REPAIRING_NAME = "manifest.repairing.json"
# A fetch's partial files, with their sidecars (see `download`).
PARTIAL_DIR = "partial"
# What a fetch is about to bring in, written before its first byte (see `intent`).
INTENT_NAME = "intent.json"
# The bad files a `cache verify` found, until a repair or a clean verify removes it.
CORRUPTED_NAME = "corrupted.json"
# On a cache root, ROOT/.modeldeploy/ holds the usage record and the model directories being
# removed: a directory is renamed into `evicting/` first, so nothing half-deleted is ever listed.
USAGE_NAME = "usage.json"
EVICTING_DIR = "evicting"
