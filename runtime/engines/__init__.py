"""Engines other than the built-in one, each behind the same state machine.

The built-in engine (`runtime/engine.py`, `runtime/batching/`) runs inside this process. An
engine here runs as a child process that the runtime starts once the model directory is
verified, follows while it loads, warms up through its own API, serves through a bridge on the
runtime's port, and stops on SIGTERM. The state machine, probes, `/status` and the failure
reasons stay the runtime's: an engine's package only reports evidence to them.

    vllm/   vLLM (`--engine vllm`): the process, its load events, the bridge to its HTTP API
"""
