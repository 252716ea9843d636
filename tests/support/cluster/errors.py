"""The one error the test cluster raises; its message names the component and its log."""

from __future__ import annotations


class ClusterError(RuntimeError):
    """The cluster could not be started or reached."""
