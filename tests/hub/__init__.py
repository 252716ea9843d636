"""Fetcher tests: resolve, download, verify and repair against a loopback hub."""
