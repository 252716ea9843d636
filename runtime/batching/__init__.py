"""Continuous batching for the built-in engine: the jobs it serves, the padded KV batch, and
the scheduler thread that steps them together (see `scheduler`)."""
