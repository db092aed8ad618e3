import pytest

from erank_studio import parse

OK = [
    # (raw output, finish reason, expected score, expected trace)
    ("<think> The document explains purring. </think><answer> 8 </answer>", "stop", 8, "The document explains purring."),
    ("<think>Relevant.</think><answer>10</answer>", "stop", 10, "Relevant."),
    ("<think>\nNothing about cats.\n</think>\n<answer>0</answer>", "stop", 0, "Nothing about cats."),
    ("<think>ok</think>\n\n<answer>\n7\n</answer>\n", "stop", 7, "ok"),
    # The chat template opened <think>; the model only closes it.
    ("The query asks about X. The document covers X.\n</think>\n\n<answer>9</answer>", "stop", 9, "The query asks about X. The document covers X."),
    ("Some reasoning</think><answer> 3 </answer>", "stop", 3, "Some reasoning"),
    # Text around the tags.
    ("Sure! <think>short</think> Final: <answer>5</answer> Hope this helps.", "stop", 5, "short"),
    ("<think>a</think><answer>4</answer><|im_end|>", "stop", 4, "a"),
    # The last answer counts when a draft answer appears in the reasoning.
    ("<think>Maybe <answer>2</answer>? No, more.</think><answer>6</answer>", "stop", 6, "Maybe <answer>2</answer>? No, more."),
    ("<THINK>upper case tags</THINK><ANSWER>2</ANSWER>", "stop", 2, "upper case tags"),
    ("<think></think><answer>1</answer>", "stop", 1, ""),
    ("<answer>7</answer>", "stop", 7, None),
    # Stopped at EOS right after the number, before closing the tag.
    ("<think>fine</think><answer> 8", "stop", 8, "fine"),
    ("<think>x</think><answer>+5</answer>", "stop", 5, "x"),
    ("<think>multi\nline\nreasoning with <b>html</b></think><answer>\t9\t</answer>", "stop", 9, "multi\nline\nreasoning with <b>html</b>"),
]

FAILED = [
    # (raw output, finish reason, failure class)
    ("", "stop", parse.NO_ANSWER),
    ("The document is relevant. Score: 8", "stop", parse.NO_ANSWER),
    ("<think>thinking done</think>", "stop", parse.NO_ANSWER),
    ("<think>I would give it 7/10</think> 7", "stop", parse.NO_ANSWER),
    ("0\n\nThe document is not related to the query.", "stop", parse.NO_ANSWER),
    ("<think>x</think><answer></answer>", "stop", parse.NOT_INTEGER),
    ("<think>x</think><answer>seven</answer>", "stop", parse.NOT_INTEGER),
    ("<think>x</think><answer>7.5</answer>", "stop", parse.NOT_INTEGER),
    ("<think>x</think><answer>8/10</answer>", "stop", parse.NOT_INTEGER),
    ("<think>x</think><answer>**8**</answer>", "stop", parse.NOT_INTEGER),
    ("<think>x</think><answer>Only allows an integer here</answer>", "stop", parse.NOT_INTEGER),
    ("<think>x</think><answer>7 8</answer>", "stop", parse.NOT_INTEGER),
    ("<think>x</think><answer>11</answer>", "stop", parse.OUT_OF_RANGE),
    ("<think>x</think><answer>100</answer>", "stop", parse.OUT_OF_RANGE),
    ("<think>x</think><answer>-1</answer>", "stop", parse.OUT_OF_RANGE),
    ("<think>a very long line of reasoning that never", "length", parse.CUT_AT_BUDGET),
    ("<think>done</think><answer> 1", "length", parse.CUT_AT_BUDGET),
    ("<think>done</think><answer>", "length", parse.CUT_AT_BUDGET),
    ("\n\n\n\n\n\n\n\n", "length", parse.CUT_AT_BUDGET),
    ("<think>done</think><answer>", "stop", parse.NOT_INTEGER),
]


@pytest.mark.parametrize("raw,finish,score,trace", OK)
def test_parsable_outputs(raw, finish, score, trace):
    parsed = parse.parse_output(raw, finish)
    assert parsed.ok and parsed.failure is None
    assert parsed.score == score
    assert parsed.trace == trace
    start, end = parsed.score_span
    assert int(raw[start:end]) == score


@pytest.mark.parametrize("raw,finish,failure", FAILED)
def test_failures_are_classified_never_zero(raw, finish, failure):
    parsed = parse.parse_output(raw, finish)
    assert parsed.failure == failure
    assert parsed.score is None and parsed.score_span is None
    assert parsed.detail


def test_at_least_thirty_realistic_outputs_and_every_failure_class():
    assert len(OK) + len(FAILED) >= 30
    classes = {failure for _, _, failure in FAILED}
    assert classes == {parse.NO_ANSWER, parse.NOT_INTEGER, parse.OUT_OF_RANGE, parse.CUT_AT_BUDGET}


def test_failure_detail_names_the_bad_answer():
    assert "'seven'" in parse.parse_output("<answer>seven</answer>").detail
    assert "11" in parse.parse_output("<answer>11</answer>").detail


def test_trace_of_unclosed_think_runs_to_the_answer():
    assert parse.extract_trace("<think>still going<answer>3</answer>") == "still going"
    assert parse.extract_trace("<think>cut mid-sentence") == "cut mid-sentence"
    assert parse.extract_trace("no tags at all") is None


# Strictness (README, "How ERank is reproduced"): decided rules, each pinned here.

@pytest.mark.parametrize("digits", ["٧", "७", "７", "1０", "৫"])
def test_non_ascii_digits_are_not_a_score(digits):
    raw = f"<think>x</think><answer>{digits}</answer>"
    parsed = parse.parse_output(raw)
    assert parsed.failure == parse.NOT_INTEGER and parsed.score is None
    assert "non-ASCII" in parsed.detail


@pytest.mark.parametrize("digits,failure", [("7" * 5000, parse.OUT_OF_RANGE), ("0" * 4999 + "11", parse.OUT_OF_RANGE),
                                            ("-" + "9" * 5000, parse.OUT_OF_RANGE), ("9" * 5000 + "x", parse.NOT_INTEGER)])
def test_huge_digit_strings_are_classified_without_raising(digits, failure):
    parsed = parse.parse_output(f"<think>x</think><answer>{digits}</answer>")
    assert parsed.failure == failure and parsed.score is None
    assert len(parsed.detail) < 200  # the detail shows a head of the answer, not 5000 digits


def test_huge_digit_string_that_is_a_small_number_counts():
    raw = "<think>x</think><answer>" + "0" * 5000 + "7</answer>"
    parsed = parse.parse_output(raw)
    assert parsed.score == 7 and raw[slice(*parsed.score_span)] == "0" * 5000 + "7"


@pytest.mark.parametrize("answer,score", [("07", 7), ("+5", 5), ("010", 10), ("00", 0), ("-0", 0)])
def test_leading_zeros_and_signs_are_the_integer_they_spell(answer, score):
    raw = f"<think>x</think><answer>{answer}</answer>"
    parsed = parse.parse_output(raw)
    assert parsed.score == score
    assert raw[slice(*parsed.score_span)] == answer  # P(N) covers every token that spells it


def test_an_answer_only_inside_think_is_a_draft_not_the_answer():
    raw = "<think>Maybe <answer>7</answer>, let me think more.</think> I am not sure."
    parsed = parse.parse_output(raw)
    assert parsed.failure == parse.NO_ANSWER and parsed.score is None
    assert "inside <think>" in parsed.detail
    assert parsed.trace == "Maybe <answer>7</answer>, let me think more."
    # The template opened <think>; the model's draft answer precedes its only </think>.
    assert parse.parse_output("draft <answer>4</answer></think>").failure == parse.NO_ANSWER


def test_an_unclosed_think_ends_at_the_answer_so_the_answer_counts():
    parsed = parse.parse_output("<think>still going<answer>3</answer>")
    assert parsed.score == 3 and parsed.trace == "still going"


def test_failures_keep_their_class_and_detail_for_every_strictness_case():
    for raw in ("<answer>٣</answer>", "<answer>" + "5" * 5000 + "</answer>", "<think><answer>1</answer></think>"):
        parsed = parse.parse_output(raw)
        assert parsed.failure in parse.FAILURE_MESSAGES and parsed.detail
