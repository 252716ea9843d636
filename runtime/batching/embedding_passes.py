"""Which texts share an embedding pass: similar lengths together, so padding costs little.

A pass pads every text to its longest, and the padding is computed like real tokens: one
long text among short ones makes the whole pass as wide as it. So the texts gathered for one
turn (every waiting request's inputs) are sorted by token count and cut into consecutive
passes of at most `max_texts` texts, a new pass starting where the next text would make more
than `max_waste` of the pass padding. Each text's vector does not depend on its pass-mates
(the attention mask hides the padding), only its pass's shape does, up to float rounding.
sentence-transformers' own `encode` sorts by length for the same reason.
"""

from __future__ import annotations


def plan(lengths: list[int], *, max_texts: int, max_waste: float) -> list[list[int]]:
    """Indices into `lengths` (token counts), pass by pass, shortest texts first."""
    passes: list[list[int]] = []
    current: list[int] = []
    real = 0
    for index in sorted(range(len(lengths)), key=lengths.__getitem__):
        width = lengths[index]  # sorted: the new text is the pass's longest
        padded = (len(current) + 1) * width
        if current and (len(current) == max_texts or padded - (real + width) > max_waste * padded):
            passes.append(current)
            current, real = [], 0
        current.append(index)
        real += width
    if current:
        passes.append(current)
    return passes
