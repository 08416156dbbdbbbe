"""answer-match on open-ended traffic: an essay has no result to compare, so it is no
reference (a tie marked open-ended) instead of a flagship win; a number deep in prose is not a
worked answer's result; and on the real MT-Bench pairs the judge's verdicts move from
"flagship wins almost always" toward GPT-4's grades while GSM8K's stay as they were."""

from __future__ import annotations

from pathlib import Path

from shadowgap.judging.answer_match import SHORT_ANSWER_WORDS, AnswerMatchJudge
from shadowgap.judging.datasets import load_gsm8k, load_mtbench
from shadowgap.judging.extract import extract_answer

ESSAY_QUESTION = "Write a short blog post about a trip to Hawaii."
FLAGSHIP_ESSAY = (
    "Aloha! Our week on Oahu began at sunrise on Diamond Head, where the whole of Waikiki "
    "spread out below us. We spent the afternoons snorkelling at Hanauma Bay. The reef was "
    "alive with parrotfish and the odd green turtle. Evenings meant poke bowls and slack-key "
    "guitar. If you go, take the early trail: the light is worth the alarm clock."
)
CHEAP_ESSAY = (
    "Hawaii was amazing. We visited 3 beaches and ate a lot of pineapple. The people were "
    "friendly and the weather was warm every single day. I would recommend it to anyone who "
    "loves the ocean, sunshine and relaxing on the sand with a good book."
)


def test_an_open_ended_flagship_answer_is_no_reference() -> None:
    verdict = AnswerMatchJudge().judge(ESSAY_QUESTION, CHEAP_ESSAY, FLAGSHIP_ESSAY)
    assert verdict.winner == "tie"
    assert verdict.raw["mode"] == "open-ended"
    assert "pairwise" in verdict.rationale


def test_short_text_answers_still_compare() -> None:
    judge = AnswerMatchJudge()
    question = "Which city is the capital of Australia?"
    assert len("Canberra is the capital.".split()) <= SHORT_ANSWER_WORDS
    differ = judge.judge(question, "Sydney.", "Canberra is the capital.")
    assert differ.winner == "flagship" and differ.raw["mode"] == "flagship-reference"
    assert judge.judge(question, "Canberra.", "Canberra.").winner == "tie"


def test_a_number_deep_in_prose_is_not_the_result() -> None:
    # The only number sits four sentences before the end: it is a detail, not a result.
    text = (
        "We visited 3 beaches. The sand was white. The water was clear. The food was good. "
        "Everyone should go once."
    )
    assert extract_answer(text).kind == "text"
    # In the last three sentences it is read as the result, as GSM8K's free-form answers need.
    worked = "She sells 16 - 3 - 4 = 9 eggs. Each is $2. So she makes $18 every day."
    assert extract_answer(worked).value == "18"


def test_mt_bench_prose_moves_toward_gpt4_and_gsm8k_stays(routellm_dir: Path) -> None:
    judge = AnswerMatchJudge()
    items = load_mtbench(routellm_dir)
    verdicts = [judge.judge(i.question, i.cheap, i.flagship) for i in items]
    flagship_wins = sum(v.winner == "flagship" for v in verdicts)
    gpt4 = [
        "flagship"
        if i.flagship_score > i.cheap_score
        else "tie"
        if i.flagship_score == i.cheap_score
        else "cheap"
        for i in items
    ]
    agree = sum(v.winner == g for v, g in zip(verdicts, gpt4, strict=True))
    # Before open-ended answers were recognised: 126 of 160 flagship wins, 43% agreement.
    # Now 43 (GPT-4's grades favour the flagship in 53) and 58%.
    assert flagship_wins <= 0.4 * len(items), flagship_wins
    assert agree >= 0.55 * len(items), agree
    essays = [v for v, i in zip(verdicts, items, strict=True) if i.category == "writing"]
    assert sum(v.raw["mode"] == "open-ended" for v in essays) >= 0.8 * len(essays)

    rows = load_gsm8k(routellm_dir)
    gsm = [judge.judge(r.question, r.cheap, r.flagship) for r in rows]
    assert not any(v.raw["mode"] == "open-ended" for v in gsm)
