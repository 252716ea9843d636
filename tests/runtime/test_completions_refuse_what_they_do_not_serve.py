"""`/v1/completions` (OpenAI's legacy completions API) never ignores a parameter silently: each
one it does not implement is accepted when null or at OpenAI's default and refused by name
otherwise; a name OpenAI does not know is refused as OpenAI refuses it. Parser-level: no server."""

from __future__ import annotations

import pytest

from modeldeploy.runtime import bodies

# (name, a value that asks for the feature, the default that changes nothing)
UNSERVED: list[tuple[str, object, object]] = [
    ("best_of", 3, 1),
    ("echo", True, False),
    ("suffix", " the end", ""),
    ("logprobs", 2, None),
    ("logprobs", 0, None),  # 0 still asks for the sampled tokens' log probabilities
    ("logit_bias", {"50256": -100}, {}),
    ("presence_penalty", 0.5, 0),
    ("presence_penalty", -1, 0.0),
    ("frequency_penalty", 1.2, 0),
    ("stream_options", {"include_usage": True}, {"include_usage": False}),
]


def parse(**body: object) -> bodies.CompletionRequest:
    return bodies.completion({"prompt": "hello", **body})


def refused(**body: object) -> bodies.BadRequestError:
    with pytest.raises(bodies.BadRequestError) as caught:
        parse(**body)
    return caught.value


@pytest.mark.parametrize(("name", "asked", "default"), UNSERVED, ids=[u[0] for u in UNSERVED])
def test_an_unserved_parameter_is_refused_by_name_and_its_default_accepted(
    name: str, asked: object, default: object
) -> None:
    error = refused(**{name: asked})
    assert error.param == name and f"'{name}' is not supported" in str(error)
    for accepted in (default, None):
        assert parse(**{name: accepted}).prompts == ("hello",)


def test_every_unserved_parameter_is_tested() -> None:
    assert {u[0] for u in UNSERVED} == set(bodies.COMPLETION_DEFAULTS_ONLY)


def test_a_default_of_another_type_is_not_the_default() -> None:
    assert refused(echo=0).param == "echo"  # 0 is not false
    assert refused(best_of=True).param == "best_of"  # true is not 1


def test_user_is_an_identifier_accepted_and_ignored() -> None:
    assert parse(user="u-1") == parse()
    assert refused(user=7).param == "user"


def test_an_unknown_name_is_refused_as_openai_refuses_it() -> None:
    for name in ("top_k", "messages", "tools"):
        error = refused(**{name: 1})
        assert str(error) == f"Unrecognized request argument supplied: {name}"
        assert error.param == name


def test_more_than_one_choice_is_still_refused_once() -> None:
    assert "n" not in bodies.COMPLETION_DEFAULTS_ONLY  # the served `n` check answers it
    assert "'n' must be 1" in str(refused(n=2))
    assert parse(n=1) == parse()
