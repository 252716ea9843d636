"""Proof tests of the local control plane; `cluster` comes from tests/conftest.py."""
