"""/metrics with the vLLM engine: the runtime's families, then the engine's it does not have
(both processes export `process_*` and `python_*`; a scraper refuses a family twice)."""

from __future__ import annotations

from modeldeploy.runtime.engines.vllm import exposition

OURS = b"""# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.
# TYPE process_cpu_seconds_total counter
process_cpu_seconds_total 1.5
# HELP modeldeploy_requests_total HTTP requests served
# TYPE modeldeploy_requests_total counter
modeldeploy_requests_total{method="POST",path="/v1/completions",status="200"} 2.0
"""

THEIRS = b"""# HELP python_gc_objects_collected_total Objects collected during gc
# TYPE python_gc_objects_collected_total counter
python_gc_objects_collected_total{generation="0"} 9.0
# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.
# TYPE process_cpu_seconds_total counter
process_cpu_seconds_total 88.0
# HELP vllm:generation_tokens_total Number of generation tokens processed.
# TYPE vllm:generation_tokens_total counter
vllm:generation_tokens_total{engine="0",model_name="tiny"} 16.0
vllm:generation_tokens_created{engine="0",model_name="tiny"} 1.7e9
"""


def test_a_family_both_export_comes_once_from_the_runtime() -> None:
    merged = exposition.merge(OURS, THEIRS).decode()
    assert merged.count("# TYPE process_cpu_seconds_total") == 1
    assert "process_cpu_seconds_total 1.5" in merged
    assert "process_cpu_seconds_total 88.0" not in merged


def test_the_engines_own_families_pass_whole() -> None:
    merged = exposition.merge(OURS, THEIRS).decode()
    assert 'vllm:generation_tokens_total{engine="0",model_name="tiny"} 16.0' in merged
    assert 'vllm:generation_tokens_created{engine="0",model_name="tiny"}' in merged
    assert 'python_gc_objects_collected_total{generation="0"} 9.0' in merged
    assert merged.startswith(OURS.decode())


def test_an_engine_that_cannot_be_read_leaves_the_runtimes_text_as_it_is() -> None:
    assert exposition.merge(OURS, b"") == OURS
