"""`/v1/completions` on a Ready tiny Llama: greedy, sampled, max_tokens, streaming, 400s."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

from tests.runtime import servers


def complete(server: servers.Serve, **body: object) -> Any:
    reply = server.post("/v1/completions", {"prompt": "hello world", **body})
    assert reply.status == 200, reply.body
    return reply.json()


def text_of(doc: Any) -> str:
    return str(doc["choices"][0]["text"])


def test_models_lists_the_served_names(lm_server: servers.Serve) -> None:
    reply = lm_server.get("/v1/models")
    assert reply.status == 200
    assert [m["id"] for m in reply.json()["data"]] == ["tiny", "tests/tiny-lm"]


def test_greedy_is_deterministic(lm_server: servers.Serve) -> None:
    first = complete(lm_server, temperature=0, max_tokens=12, ignore_eos=True)
    second = complete(lm_server, temperature=0, max_tokens=12, ignore_eos=True, model="tiny")
    assert text_of(first) == text_of(second)
    assert first["usage"]["completion_tokens"] == 12
    assert first["choices"][0]["finish_reason"] == "length"
    assert first["model"] == "tiny"


def test_sampling_follows_the_seed(lm_server: servers.Serve) -> None:
    runs = {
        seed: text_of(
            complete(lm_server, temperature=1.5, max_tokens=16, seed=seed, ignore_eos=True)
        )
        for seed in (1, 2, 3)
    }
    again = text_of(complete(lm_server, temperature=1.5, max_tokens=16, seed=1, ignore_eos=True))
    assert again == runs[1]
    assert len(set(runs.values())) > 1, runs


def test_max_tokens_bounds_the_completion(lm_server: servers.Serve) -> None:
    for limit in (1, 5):
        doc = complete(lm_server, temperature=0, max_tokens=limit)
        usage = doc["usage"]
        assert 1 <= usage["completion_tokens"] <= limit
        assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


def test_several_prompts_give_several_choices(lm_server: servers.Serve) -> None:
    doc = complete(lm_server, prompt=["a", "b"], temperature=0, max_tokens=3)
    assert [c["index"] for c in doc["choices"]] == [0, 1]


def test_streaming_sends_the_same_text_as_one_response(lm_server: servers.Serve) -> None:
    body = {"prompt": "hello world", "temperature": 0, "max_tokens": 10, "ignore_eos": True}
    whole = text_of(complete(lm_server, **{k: v for k, v in body.items() if k != "prompt"}))
    request = urllib.request.Request(
        lm_server.url + "/v1/completions",
        data=json.dumps({**body, "stream": True}).encode(),
        headers={"Content-Type": "application/json"},
    )
    chunks, done = [], False
    with servers.urlopen(request, timeout=30) as resp:
        assert resp.headers["Content-Type"].startswith("text/event-stream")
        for raw in resp:
            line = raw.decode().strip()
            if line == "data: [DONE]":
                done = True
            elif line.startswith("data: "):
                chunks.append(json.loads(line[6:])["choices"][0])
    assert done
    assert "".join(c["text"] for c in chunks) == whole
    assert chunks[-1]["finish_reason"] == "length"


def test_bad_requests_get_400_with_a_message(lm_server: servers.Serve) -> None:
    cases = [
        ({"max_tokens": 4}, "'prompt' is required"),
        ({"prompt": "x", "max_tokens": 0}, "'max_tokens'"),
        ({"prompt": "x", "max_tokens": "ten"}, "'max_tokens'"),
        ({"prompt": "x", "temperature": 9}, "'temperature'"),
        ({"prompt": "x", "n": 2}, "'n'"),
        ({"prompt": [1, 2]}, "only strings"),
        ({"prompt": "x", "stream": "yes"}, "'stream'"),
        ({"prompt": "x", "max_tokens": 4000}, "context"),
        ([1, 2], "JSON object"),
    ]
    for body, fragment in cases:
        reply = lm_server.post("/v1/completions", body)
        assert reply.status == 400, (body, reply.body)
        error = reply.json()["error"]
        assert fragment in error["message"] and error["type"] == "invalid_request_error"
    broken = lm_server.post("/v1/completions", raw=b"{not json")
    assert broken.status == 400 and "not valid JSON" in broken.json()["error"]["message"]


def test_an_unserved_parameter_gets_400_naming_it_and_its_default_is_served(
    lm_server: servers.Serve,
) -> None:
    reply = lm_server.post("/v1/completions", {"prompt": "x", "echo": True})
    assert reply.status == 400, reply.body
    error = reply.json()["error"]
    assert error["param"] == "echo" and error["type"] == "invalid_request_error"
    assert "'echo' is not supported" in error["message"]
    defaults = {"echo": False, "best_of": 1, "logprobs": None, "user": "u-1"}
    assert complete(lm_server, max_tokens=1, **defaults)["usage"]["completion_tokens"] == 1


def test_unknown_model_and_wrong_task_are_refused(lm_server: servers.Serve) -> None:
    reply = lm_server.post("/v1/completions", {"prompt": "x", "model": "other"})
    assert reply.status == 404 and reply.json()["error"]["code"] == "model_not_found"
    reply = lm_server.post("/v1/embeddings", {"input": "x"})
    assert reply.status == 400 and "/v1/completions" in reply.json()["error"]["message"]


def test_request_metrics_count_serving_but_not_probes(lm_server: servers.Serve) -> None:
    def value(text: str, prefix: str) -> float:
        lines = [line for line in text.splitlines() if line.startswith(prefix)]
        return sum(float(line.rsplit(" ", 1)[1]) for line in lines)

    before = lm_server.get("/metrics").body.decode()
    for _ in range(3):
        lm_server.get("/readyz")
        lm_server.get("/livez")
    complete(lm_server, temperature=0, max_tokens=2)
    after = lm_server.get("/metrics").body.decode()
    key = 'modeldeploy_requests_total{method="POST",path="/v1/completions",status="200"}'
    assert value(after, key) == value(before, key) + 1
    assert "/readyz" not in after and "/livez" not in after and 'path="/metrics"' not in after
    assert value(after, "modeldeploy_generated_tokens_total") > value(
        before, "modeldeploy_generated_tokens_total"
    )
    assert value(after, "modeldeploy_device_memory_used_bytes") > 0
    assert value(after, 'modeldeploy_request_duration_seconds_count{method="POST"') > 0


def test_kserve_v2_aliases_answer_like_the_probes(lm_server: servers.Serve) -> None:
    assert lm_server.get("/v2/health/live").status == 200
    assert lm_server.get("/v2/health/ready").status == 200
    assert lm_server.get("/v2/models/tiny/ready").status == 200
    assert lm_server.get("/v2/models/tests/tiny-lm/ready").status == 200
    assert lm_server.get("/v2/models/other/ready").status == 404
    assert lm_server.get("/startupz").status == 200
