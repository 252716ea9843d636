"""The hub's messages advise HF_TOKEN (the command line's way to give a token), in one phrase
that a caller whose users give the token another way can put in its own words."""

from __future__ import annotations

from modeldeploy.hub import errors


def test_every_token_advice_is_the_one_phrase_a_caller_can_reword() -> None:
    messages = [
        errors.from_http(404, "RepoNotFound", "acme/x", file=False).message,
        errors.from_http(404, None, "acme/x", file=False).message,
        errors.from_http(403, "GatedRepo", "acme/x", file=False).message,
        errors.from_http(401, None, "acme/x", file=False).message,
    ]
    assert all(errors.ACCESS_ADVICE in m and "HF_TOKEN" in m for m in messages)
    reworded = [errors.with_token_advice(m, "put a token in the Secret") for m in messages]
    assert not any("HF_TOKEN" in m for m in reworded)
    assert reworded[0] == (
        "acme/x: repository not found (if it is private, put a token in the Secret that can "
        "read it)"
    )
