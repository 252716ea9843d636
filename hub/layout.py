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
