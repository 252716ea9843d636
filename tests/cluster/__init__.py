"""Proof tests of the local control plane (real API server, scheduler, controllers; kwok nodes)."""
