"""vLLM as an engine behind the runtime's state machine (`modeldeploy serve --engine vllm`).

    process   the child process: its command, environment, output and process group
    events    what its output says: load steps (progress), facts, and why it failed
    local     plain HTTP to it over its Unix socket, for the loader thread (health, warm-up)
    steps     the Loading and WarmingUp steps the pipeline runs for this engine
    bridge    its OpenAI API and metrics on the runtime's port (aiohttp, on the event loop)
    upstream  the bridge's HTTP/1.1 client on the engine's socket (kept-alive connections)

vLLM never downloads anything: it gets the verified directory, offline, and only the flags the
allow-list passes (`modeldeploy.engine_args`). It listens on a Unix socket in a private
directory, so nothing but the runtime can reach it; clients reach it through the bridge, after
the runtime's own checks (Ready, API key, queue bound, deadline).
"""
