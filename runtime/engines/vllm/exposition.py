"""Two Prometheus text expositions as one: the runtime's, then the engine's families it lacks.

Both processes export the client library's default families (`process_*`, `python_*`), and a
scraper refuses a family that appears twice. So the engine's text is read family by family
(a family starts at its `# HELP` or `# TYPE` line and holds the samples after it) and a family
whose name the runtime's text already declares is left out; the runtime's own describe this
process, and vLLM's engine families (`vllm:*`) pass whole.
"""

from __future__ import annotations

import re

_DECLARATION = re.compile(rb"^# (?:HELP|TYPE) (\S+)")


def declared(text: bytes) -> set[bytes]:
    """The family names a text exposition declares."""
    return {m.group(1) for line in text.splitlines() if (m := _DECLARATION.match(line))}


def merge(ours: bytes, theirs: bytes) -> bytes:
    """`ours`, then each family of `theirs` whose name `ours` does not declare."""
    if not theirs.strip():
        return ours
    taken = declared(ours)
    kept: list[bytes] = []
    current: bytes | None = None
    for line in theirs.splitlines():
        found = _DECLARATION.match(line)
        if found:
            current = found.group(1)
        if current is not None and current in taken:
            continue
        if line.startswith(b"# EOF"):
            continue
        kept.append(line)
    tail = b"\n".join(kept)
    joined = ours if ours.endswith(b"\n") or not ours else ours + b"\n"
    return joined + tail + (b"\n" if tail and not tail.endswith(b"\n") else b"")
