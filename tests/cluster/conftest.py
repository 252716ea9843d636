"""The proof tests of the local control plane use the session `cluster` fixture of tests/conftest.py."""
