"""answer-match on multiple-choice answers: every common phrasing of a letter, the prose "A"
trap, and a multiple-choice version of the real GSM8K pairs."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from shadowgap.judging.answer_match import AnswerMatchJudge
from shadowgap.judging.choices import parse_options, read_choice
from shadowgap.judging.datasets import GsmRow, load_gsm8k, load_mtbench
from shadowgap.judging.extract import extract_answer

QUESTION = "Which city is the capital of France?\nA) London\nB) Paris\nC) Rome\nD) Berlin"
OPTION_TEXT = {"A": "London", "B": "Paris", "C": "Rome", "D": "Berlin"}

# Ways chat models state a choice; {L} is the letter, {l} the lower-case letter, {T} the text.
STYLES = [
    "{L}. {T}",
    "({L}) {T}",
    "{L}) {T}",
    "**{L}**",
    "{L}",
    "{L}.",
    "Answer: {L}",
    "The answer is ({L}).",
    "{L} - {T}",
    "[{L}]",
    "Option {L}",
    "I'd go with {L} because {T} is the capital of France.",
    "{l})",
    "{l}) {T}",
    "{L}: {T}",
    "**{L}. {T}**",
    "*{L}*",
    "_{L}_",
    "**Answer:** ({L}) {T}",
    "The correct answer is **{L}**.",
    "Final answer: {L}",
    "{L} is correct.",
    "{L} is the correct answer: {T} has been the capital for centuries.",
    "The correct option is {l}.",
    "My choice is {L}.",
    "Let me think step by step.\nThe question asks for a capital city.\n{T} is the capital.\n\n"
    "Answer: {L}",
    "Let me think step by step.\nThe question asks for a capital city.\n\n**{L}) {T}**",
    "{L}. {T}\n\nExplanation: {T} has been the seat of government for centuries, "
    "and the other cities are capitals of other countries.",
    "The answer is {L}, {T}.",
    "It's {L}.",
    "I'm fairly confident it's {L} - {T}.",
    "Let's analyze each option:\n\n- **A) London**: capital of the UK.\n- **B) Paris**: capital"
    " of France.\n- **C) Rome**: Italy.\n\nTherefore, the correct answer is **{L}) {T}**.",
    "The answer is {L}.\n\nA) London is wrong.\nC) Rome is wrong.\nD) Berlin is wrong.",
    "{T} (option {L}) is the capital.",
    "\\boxed{{{L}}}",
    "$\\boxed{{\\text{{{L}}}}}$",
    '{{"answer": "{L}"}}',
    "### Answer\n{L}) {T}",
    "{T}",
    "Answer: Option {L}",
    "The correct answer is option ({l}).",
    "Best option: {L}",
    "{L} would be my answer.",
    "{L} is the answer.",
    "ANSWER: {L}",
    "I think it's {L}.",
    "{L}\n\nReasoning: {T} is the capital of France.",
    "The capital of France is {T}.",
    "The answer is {T}.",
]


def phrase(style: str, letter: str) -> str:
    return style.format(L=letter, l=letter.lower(), T=OPTION_TEXT[letter])


@pytest.mark.parametrize("style", STYLES)
def test_every_style_reads_the_letter(style: str) -> None:
    for letter in "BCD":
        found = extract_answer(phrase(style, letter), QUESTION)
        assert (found.kind, found.value) == ("choice", letter), (style, found)


@pytest.mark.parametrize("shift", [1, 7, 13, 19])
@pytest.mark.parametrize("style", STYLES)
def test_same_letter_in_different_styles_is_a_tie(style: str, shift: int) -> None:
    other = STYLES[(STYLES.index(style) + shift) % len(STYLES)]
    judge = AnswerMatchJudge()
    verdict = judge.judge(QUESTION, phrase(style, "B"), phrase(other, "B"))
    assert verdict.winner == "tie", (style, other, verdict.raw)
    assert verdict.raw["options"] == "ABCD"
    verdict = judge.judge(QUESTION, phrase(style, "C"), phrase(other, "B"))
    assert (verdict.winner, verdict.gap_score) == ("flagship", 1.0), (style, other, verdict.raw)


# Letter styles that need no options in the question (the judge may see only the answers).
LETTER_STYLES = [s for s in STYLES if "{L}" in s or "{l}" in s]


@pytest.mark.parametrize("style", LETTER_STYLES)
def test_letters_are_read_without_the_question(style: str) -> None:
    found = extract_answer(phrase(style, "B"))
    assert (found.kind, found.value) == ("choice", "B"), (style, found)


@pytest.mark.parametrize(
    "text",
    [
        "A train leaves the station at 3 pm and arrives at 11 pm, so the trip takes 8 hours.",
        "A farmer has 12 cows. A neighbour buys 4 of them, so 8 are left.",
        "The answer is a total of 8 cows.",
        "Answer: A total of 8 cows.",
        "It is a herd of 8 cows.",
        # GSM8K row 276 (real): letters named as letters, not as options.
        "24 - 15 = 9 cards are left, and the rest have the letter D: 17 - 9 = 8.",
        "Statement A says 5 and statement B says 3, so there are 8.",
        "If we choose A and B as the two piles, A + B = 8.",
        "CABBAGE costs 3 dollars, BEANS cost 5, so that is 8 dollars.",
        "Vitamin A deficiency affects 8 children here.",
        "Plan B costs 8 dollars more.",
        "I have a cat and a dog, 8 legs in all.",
    ],
)
def test_prose_a_and_letters_inside_words_are_no_choice(text: str) -> None:
    found = extract_answer(text)
    assert (found.kind, found.value) == ("number", "8"), found


def test_a_colon_is_an_answer_label_unless_the_question_has_options() -> None:
    text = "A: The train travels 60 * 3 = 180 miles."
    assert extract_answer(text).value == "180"
    assert extract_answer(text, "How far?\nA) 180 miles\nB) 120 miles").value == "A"


def test_prose_a_answers_in_a_pair_compare_by_number() -> None:
    judge = AnswerMatchJudge()
    cheap = "A train covers 60 miles in an hour, so in 3 hours it covers 180 miles."
    flagship = "A quick calculation: 60 * 3 = 180. The train travels 180 miles."
    assert judge.judge("A train goes 60 mph. How far in 3 h?", cheap, flagship).winner == "tie"
    wrong = "A train covers 60 miles in an hour, so in 3 hours it covers 120 miles."
    assert judge.judge("A train goes 60 mph. How far in 3 h?", wrong, flagship).winner == (
        "flagship"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # An analysis of every option with no conclusion states no choice.
        ("Let us check each:\nA) London - no\nB) Paris - yes\nC) Rome - no", None),
        # ... but a conclusion after it does.
        ("Let us check each:\nA) London - no\nB) Paris - yes\nC) Rome - no\n\nSo: B.", "B"),
        ("Option A is wrong, option C is wrong too. The answer is B.", "B"),
        ("Option A is wrong. Option B is not right either. Option D.", "D"),
        ("Not A. The answer is (c)", "C"),
        ("The answer is not A.", None),
        ("B is incorrect, and so is C.", None),
        ("I'd pick D here.", "D"),
        ("Answer - E", "E"),
        ("Vitamin C is needed.", None),
    ],
)
def test_statements_negations_and_lists(text: str, expected: str | None) -> None:
    choice = read_choice(text)
    assert (choice.letter if choice else None) == expected, (text, choice)


def test_options_that_only_mention_a_number_do_not_take_numeric_answers() -> None:
    question = (
        "Extract the year of publication:\n"
        "a) A tale of wizards, published in 1997, about an orphan.\n"
        "b) A space opera published in 2028 about a mechanic."
    )
    found = extract_answer("Zylo, The Prism Galaxy Chronicles, 2028", question)
    assert (found.kind, found.value) == ("number", "2028")
    units = "How fast?\nA) 2.5 km per hour\nB) 4 km per hour"
    assert extract_answer("She walks 4 km per hour.", units).value == "B"


def test_a_name_that_an_option_contains_is_not_its_letter() -> None:
    question = "Which vitamin helps clotting?\nA) Vitamin A\nB) Vitamin K\nC) Vitamin C"
    assert extract_answer("Vitamin K is the correct one.", question).value == "B"
    assert extract_answer("Vitamin C is the most likely.", question).value == "C"
    assert extract_answer("C is the most likely.", question).value == "C"
    # A letter that ends a name is no choice: the number is the answer, option C.
    boxes = "How much more does box C cost than box B?\nA) 1\nB) 5\nC) 2"
    found = extract_answer("Juice Box C costs 11 - 9 = $2 more than Juice Box B.", boxes)
    assert (found.kind, found.value, found.rule) == ("choice", "C", "last-number+option-text")


@pytest.mark.parametrize(
    ("question", "letters", "b_text"),
    [
        (QUESTION, "ABCD", "Paris"),
        ("Pick one: (A) 12 (B) 15 (C) 18", "ABC", "15"),
        ("Which?\na. red\nb. blue\nc. green", "ABC", "blue"),
        ("Which?\n**A.** red\n**B.** blue", "AB", "blue"),
        ("Choose:\n[A] red\n[B] blue\n[C] vitamin C. or D\n[D] none", "ABCD", "blue"),
        ("Vitamin A is good. Which one?\nA: carrots\nB: bread\nC: milk", "ABC", "bread"),
        ("Options A-J:\n" + "\n".join(f"{c}) item {c}" for c in "ABCDEFGHIJ"), "ABCDEFGHIJ", ""),
    ],
)
def test_parse_options(question: str, letters: str, b_text: str) -> None:
    options = parse_options(question)
    assert options is not None and options.letters == letters
    if b_text:
        assert options.texts["B"] == b_text


def test_questions_without_options() -> None:
    assert parse_options("A train leaves at 3 pm. How far has it gone by 5 pm?") is None
    assert parse_options(None) is None


def test_letters_beyond_e_need_the_options() -> None:
    question = "Pick:\n" + "\n".join(f"{c}) item {c.lower()}" for c in "ABCDEFGH")
    assert extract_answer("The answer is G.", question).value == "G"
    assert extract_answer("The answer is G.").kind == "text"


def test_ground_truth_mode_reads_letters() -> None:
    judge = AnswerMatchJudge()
    verdict = judge.judge_with_reference(QUESTION, "**B**", "C) Rome", "(B) Paris")
    assert (verdict.winner, verdict.raw["reference"]["value"]) == ("cheap", "B")
    verdict = judge.judge_with_reference(QUESTION, "Paris", "Answer: b", "B")
    assert verdict.winner == "tie" and verdict.raw["cheap"]["correct"] is True


def test_the_multiple_choice_item_in_mt_bench(routellm_dir: Path) -> None:
    """MT-Bench question 110 lists situations a) to d); Mixtral answers "C) A group of ...",
    GPT-4 "The aides should report situation c) ...": the same choice."""
    item = next(i for i in load_mtbench(routellm_dir) if (i.question_id, i.turn) == (110, 1))
    verdict = AnswerMatchJudge().judge(item.question, item.cheap, item.flagship)
    assert verdict.winner == "tie", verdict.raw
    assert verdict.raw["cheap"]["value"] == verdict.raw["flagship"]["value"] == "C"


# --- GSM8K as multiple choice ---------------------------------------------------------------

ANSWER_FIRST = ["{L}. {T}\n\n{A}", "({L}) {T}\n\n{A}", "**{L}**\n\n{A}", "{l}) {T}\n{A}"]
ANSWER_LAST = [
    "{A}\n\nAnswer: {L}",
    "{A}\n\nThe answer is ({L}).",
    "{A}\n\n**{L}) {T}**",
    "{A}\nSo I'd go with {L}.",
    "{A}\n\nFinal answer: [{L}]",
    "{A}\n\n{L}: {T}",
]
AS_IS = ["{A}"]  # the real answer alone: its number must map onto the option's letter


def _multiple_choice(row: GsmRow, rng: random.Random) -> tuple[str, dict[str, str]] | None:
    """The row's question with four numeric options: the right value, the wrong side's value
    and two near misses, shuffled. None when the right value is unknown."""
    right_side = row.flagship if row.flagship_correct else row.cheap
    if not (row.flagship_correct or row.cheap_correct):
        return None
    right = extract_answer(right_side)
    wrong_side = row.cheap if row.flagship_correct else row.flagship
    wrong = extract_answer(wrong_side)
    if right.kind != "number":
        return None
    values = [right.value]
    if wrong.kind == "number" and not wrong.same_as(right):
        values.append(wrong.value)
    base = float(right.value)
    for candidate in (base + 1, base * 2, base - 1, base + 10, base * 3):
        text = f"{candidate:g}"
        if len(values) < 4 and all(abs(float(v) - candidate) > 1e-9 for v in values):
            values.append(text)
    rng.shuffle(values)
    options = dict(zip("ABCD", values, strict=True))
    listed = "\n".join(f"{letter}) {value}" for letter, value in options.items())
    return f"{row.question}\n\n{listed}", options


def _restyle(answer: str, options: dict[str, str], style: str) -> str | None:
    found = extract_answer(answer)
    letter = next(
        (
            k
            for k, v in options.items()
            if found.kind == "number" and found.same_as(extract_answer(v))
        ),
        None,
    )
    if letter is None:
        return None
    return style.format(L=letter, l=letter.lower(), T=options[letter], A=answer)


def test_gsm8k_as_multiple_choice_keeps_the_numeric_verdicts(routellm_dir: Path) -> None:
    """Each labelled GSM8K pair becomes a four-option question, and each side restates its
    real answer as a letter in one of many styles (answer first, final line, or the number
    alone). The verdict must match the one the judge gives the original numeric pair."""
    judge = AnswerMatchJudge()
    rng = random.Random(11)
    styles = ANSWER_FIRST + ANSWER_LAST + AS_IS
    compared = agreed = 0
    disagreements: list[tuple[int, str, str]] = []
    for row in load_gsm8k(routellm_dir):
        built = _multiple_choice(row, rng)
        if built is None:
            continue
        question, options = built
        cheap_style, flagship_style = rng.sample(styles, 2)
        cheap = _restyle(row.cheap, options, cheap_style)
        flagship = _restyle(row.flagship, options, flagship_style)
        if cheap is None or flagship is None:
            continue
        numeric = judge.judge(row.question, row.cheap, row.flagship).winner
        choice = judge.judge(question, cheap, flagship)
        compared += 1
        if choice.winner == numeric:
            agreed += 1
        else:
            disagreements.append((row.index, cheap_style, flagship_style))
        assert choice.raw["cheap"]["kind"] == choice.raw["flagship"]["kind"] == "choice", (
            row.index,
            choice.raw,
        )
    assert compared >= 1000, compared
    assert agreed == compared, disagreements[:10]
