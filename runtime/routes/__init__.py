"""One small module per OpenAI endpoint, each attaching its route on `openai.OpenAIRoutes`'
shared steps (admission, the engine thread, streaming, decoding). `chat` is the first; the
older endpoints still live in `openai.py`."""
