"""Deterministic judge: compares the final answers the two models state.

Without ground truth (production), the flagship's answer is the reference: the same final
answer is a tie (gap 0), a different one means the flagship wins (gap 1), and a cheap answer
with no extractable result loses. A multiple-choice answer is its letter, however it is
phrased ("B. Paris", "(B)", "**B**", "I'd go with B", "Paris" when option B reads Paris), so
two answers that chose the same letter tie. When the flagship states nothing extractable there is no
reference, so the pair is a tie and the raw record says why.

An open-ended flagship answer (no stated result, more than ``SHORT_ANSWER_WORDS`` words) is no
reference either: the pair is a tie with mode ``open-ended`` in the raw record, which the
segment's judge coverage counts (a pairwise judge is the one for such traffic).

With a known reference answer (``judge-eval`` on labelled data), :meth:`judge_with_reference`
grades each answer against it: flagship-better, tie (both right or both wrong), cheap-better.
"""

from __future__ import annotations

import time

from shadowgap.judging.base import Winner, rule_verdict
from shadowgap.judging.choices import parse_options
from shadowgap.judging.extract import Extracted, extract_answer
from shadowgap.schemas import Verdict

PROMPT_VERSION = "extract-v3"
# A flagship answer with no stated result and more words than this is open-ended (an essay, a
# story, an explanation): two such texts always differ, so comparing them as text would call
# nearly every pair a flagship win (MT-Bench: 126 of 160 pairs, where GPT-4's grades favour
# the flagship in 53). Shorter texts ("Paris", "the mitochondria") are answers in themselves.
SHORT_ANSWER_WORDS = 20


def _describe(found: Extracted) -> dict[str, str]:
    return {"kind": found.kind, "value": found.value, "rule": found.rule}


def _option_letters(question: str) -> str | None:
    """The option letters the question lists ("ABCD"), kept for audits; None without."""
    options = parse_options(question)
    return options.letters if options else None


class AnswerMatchJudge:
    name = "answer-match"
    model: str | None = None
    # Versions the extraction rules, so verdicts made by older rules can be told apart.
    prompt_version: str | None = PROMPT_VERSION

    def judge(self, question: str, cheap: str, flagship: str) -> Verdict:
        started = time.perf_counter()
        cheap_found = extract_answer(cheap, question)
        flagship_found = extract_answer(flagship, question)
        winner: Winner
        mode = "flagship-reference"
        if flagship_found.kind == "none":
            winner, why = Winner.TIE, "no final answer found in the flagship's answer: no reference"
        elif flagship_found.rule == "text" and len(flagship.split()) > SHORT_ANSWER_WORDS:
            winner, mode = Winner.TIE, "open-ended"
            why = (
                "open-ended answer with no stated result: answer-match cannot compare it "
                "(a pairwise judge can; see SHADOWGAP_JUDGE_BY_SEGMENT)"
            )
        elif cheap_found.kind == "none":
            winner, why = Winner.FLAGSHIP, "no final answer found in the cheap answer"
        elif cheap_found.same_as(flagship_found):
            winner, why = Winner.TIE, f"both answers conclude {flagship_found.value!r}"
        else:
            winner = Winner.FLAGSHIP
            why = (
                f"cheap answer {cheap_found.value!r} differs from the flagship's "
                f"{flagship_found.value!r} (the flagship is the reference)"
            )
        return self._verdict(
            winner,
            why,
            {
                "mode": mode,
                "options": _option_letters(question),
                "cheap": _describe(cheap_found),
                "flagship": _describe(flagship_found),
            },
            started,
        )

    def judge_with_reference(
        self, question: str, cheap: str, flagship: str, reference: str
    ) -> Verdict:
        """Grade both answers against a known correct ``reference`` answer."""
        started = time.perf_counter()
        expected = extract_answer(reference, question)
        cheap_found = extract_answer(cheap, question)
        flagship_found = extract_answer(flagship, question)
        cheap_ok, flagship_ok = cheap_found.same_as(expected), flagship_found.same_as(expected)
        winner: Winner
        if flagship_ok == cheap_ok:
            winner = Winner.TIE
            state = "right" if cheap_ok else "wrong"
            why = f"both answers are {state} (reference {expected.value!r})"
        elif flagship_ok:
            winner, why = (
                Winner.FLAGSHIP,
                f"only the flagship matches the reference {expected.value!r}",
            )
        else:
            winner, why = (
                Winner.CHEAP,
                f"only the cheap answer matches the reference {expected.value!r}",
            )
        return self._verdict(
            winner,
            why,
            {
                "mode": "ground-truth",
                "options": _option_letters(question),
                "reference": _describe(expected),
                "cheap": {**_describe(cheap_found), "correct": cheap_ok},
                "flagship": {**_describe(flagship_found), "correct": flagship_ok},
            },
            started,
        )

    def _verdict(self, winner: Winner, why: str, raw: dict[str, object], started: float) -> Verdict:
        return rule_verdict(self, winner, why, raw, started)
