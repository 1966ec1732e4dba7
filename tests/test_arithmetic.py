"""The calculate stage without a model: the expression a model would write is scripted; what is tested is
what the stage does with it (numbers must come from the evidence, units from the question or document)."""

import json

import pytest

from agentkit.answer.arithmetic import calc_schema, calculate, document_unit, format_result, is_arithmetic
from agentkit.answer.evidence import build_evidence
from agentkit.generate.llm import Completion
from agentkit.types import Chunk, ScoredPassage

TABLE = ("| | 2019 | 2018 |\n|---|---|---|\n| Fixed Price | $ 1,452.4 | $ 1,146.2 |\n| Other | 44.1 | 56.7 |\n\n"
         "The table presents total net sales by contract type (in millions).")


def _evidence(question, text=TABLE):
    p = ScoredPassage(chunk=Chunk(id="r::0", doc_id="r", text=text, start=0, end=len(text)), title="Report",
                      source="r.md", score=1.0, scores={"rerank": 0.8})
    return build_evidence(question, [p], max_sentences=10)


class Writes:
    """Answers every prompt with one fixed model output, and records the schema it was given."""

    def __init__(self, text):
        self.text, self.schemas = text, []

    def chat(self, messages, *, json_schema=None, max_tokens=256, temperature=0.0, stop=None):
        self.schemas.append(json_schema)
        return Completion(text=self.text, prompt_tokens=100, completion_tokens=20, seconds=0.1)


def _row(ev, word):
    return next(s.id for s in ev.sentences if word in s.text)


def test_change_is_computed_from_cited_cells_with_the_documents_unit():
    q = "What is the change in Other in 2019 from 2018?"
    ev = _evidence(q)
    gen = Writes(json.dumps({"cite": [_row(ev, "Other")], "expression": "44.1 - 56.7"}))
    calc, reason, _ = calculate(gen, q, ev)
    assert reason == "" and calc.answer == "-12.6 million" and calc.value == pytest.approx(-12.6)
    assert calc.cite == [_row(ev, "Other")] and "44.1 - 56.7 = -12.6 million" in calc.sentence
    assert gen.schemas[0]["properties"]["cite"]["items"]["enum"] == ev.ids  # only shown ids


def test_percentage_questions_get_a_percent_and_uncited_numbers_add_their_row():
    q = "What is the percentage change in Other in 2019 from 2018?"
    ev = _evidence(q)
    header = next(s.id for s in ev.sentences if "2019" in s.text and "Other" not in s.text)
    gen = Writes(json.dumps({"cite": [header], "expression": "(44.1 - 56.7) / 56.7 * 100"}))
    calc, _, _ = calculate(gen, q, ev)
    assert calc.answer == "-22.22%" and _row(ev, "Other") in calc.cite  # 44.1 is in the Other row


@pytest.mark.parametrize("output, reason", [
    (json.dumps({"cite": ["1"], "expression": "44.1 - 57.9"}), "57.9 is not in the evidence"),  # invented
    (json.dumps({"cite": ["1"], "expression": "44.1 / (56.7 - 56.7)"}), "calculator"),
    ('{"cite": ["1"], "expression": ', "unparsable"),
    (json.dumps({"cite": ["1"], "expression": "( )"}), "not a calculation"),
    (json.dumps({"cite": ["1"], "expression": "44.1"}), "not a calculation"),  # a lookup: answered normally
])
def test_unusable_expressions_are_rejected_with_a_reason(output, reason):
    q = "What is the change in Other in 2019 from 2018?"
    calc, why, _ = calculate(Writes(output), q, _evidence(q))
    assert calc is None and reason in why


def test_units_come_from_the_document_and_results_have_no_float_noise():
    q = "What is the average of Other?"
    ev = _evidence(q)
    assert document_unit(ev, [_row(ev, "Other")]) == "million"
    ev2 = _evidence(q, "| Other | 44.1 | 56.7 |\n\nAll amounts are in $'000.")
    assert document_unit(ev2, [ev2.sentences[0].id]) == "thousand"
    assert document_unit(_evidence(q, "| Other | 44.1 | 56.7 |"), ["1"]) == ""
    assert (format_result(-12.600000000000001), format_result(22.2222), format_result(3.0)) == ("-12.6", "22.22", "3")


def test_which_questions_are_arithmetic():
    assert is_arithmetic("What was the percentage change in revenue?")
    assert is_arithmetic("What is the average Other sales for 2018 and 2019?")
    assert not is_arithmetic("Who directed Big Stone Gap?")
    assert not is_arithmetic("What was the revenue in 2019?")


def test_the_grammar_admits_only_arithmetic():
    import re

    pattern = re.compile(calc_schema(["1"])["properties"]["expression"]["pattern"])
    assert pattern.match("(44.1 - 56.7) / 56.7 * 100")
    assert not pattern.match("__import__('os')") and not pattern.match("44.1 - x")


def test_table_rows_are_shown_with_their_column_headers_but_cited_verbatim():
    from agentkit.answer.evidence import table_row_shown

    text = ("|  |  | Years Ended September 30, |  |\n|---|---|---|---|\n|  | 2019 | 2018 | 2017 |\n"
            "| Other | 44.1 | 56.7 | 70.8 |\n")
    row = text.index("| Other")
    assert table_row_shown(text, row, text.index("\n", row)) == "Other: 2019 = 44.1; 2018 = 56.7; 2017 = 70.8"
    spanned = ("|  | Domestic |  | International |  |\n|---|---|---|---|---|\n|  | 2019 | 2018 | 2019 | 2018 |\n"
               "| Discount rate | 4.00% | 3.75% | 1.90% | 2.80% |\n")
    row = spanned.index("| Discount")
    assert table_row_shown(spanned, row, spanned.index("\n", row)) == (
        "Discount rate: Domestic 2019 = 4.00%; Domestic 2018 = 3.75%; International 2019 = 1.90%; "
        "International 2018 = 2.80%")
    assert table_row_shown(text, 0, text.index("\n")) is None  # the header itself
    assert table_row_shown("Plain prose. More prose.", 0, 12) is None
    q = "What is the change in Other in 2019 from 2018?"
    ev = _evidence(q)
    other = next(s for s in ev.sentences if "Other" in s.text)
    assert other.text == "| Other | 44.1 | 56.7 |" and other.shown == "Other: 2019 = 44.1; 2018 = 56.7"
    assert "Other: 2019 = 44.1; 2018 = 56.7" in ev.render() and other.citation().quote == other.text


def test_a_currency_scale_in_the_header_is_the_unit():
    ev = _evidence("What is the change in net interest income?",
                   "| GBP million | 2024 | 2023 |\n|---|---|---|\n| Net interest income | 1,146 | 1,058 |\n")
    row = next(s.id for s in ev.sentences if "Net interest" in s.text)
    assert document_unit(ev, [row]) == "million"


@pytest.mark.parametrize("written, expected", [
    ("56.7 - 44.1", "44.1 - 56.7"),  # the earlier year first: turned round
    ("(56.7 - 44.1) / 44.1 * 100", "(44.1 - 56.7) / 56.7 * 100"),  # and the base is the earlier value
    ("44.1 - 56.7", "44.1 - 56.7"),  # already right
    ("(44.1 + 56.7) / 2", "(44.1 + 56.7) / 2"),  # not a change
])
def test_a_change_is_later_minus_earlier_by_the_column_headers(written, expected):
    from agentkit.answer.arithmetic import later_minus_earlier

    q = "What is the change in Other in 2019 from 2018?"
    ev = _evidence(q)
    assert later_minus_earlier(written, q, ev, [_row(ev, "Other")]) == expected
    # a difference between two items is not a change over time: left as written
    assert later_minus_earlier("56.7 - 44.1", "What is the difference between Other and Fixed Price?", ev,
                               [_row(ev, "Other")]) == "56.7 - 44.1"


def test_calculated_draft_is_supported_by_construction_and_cites_documents_only():
    from agentkit.answer.grounded import Draft, verify_calculation

    q = "What is the change in Other in 2019 from 2018?"
    ev = _evidence(q)
    row = _row(ev, "Other")
    v = verify_calculation(Draft(answer="-12.6 million", sentences=[(("From the cited figures, 44.1 - 56.7 = "
                                                                       "-12.6 million."), [row, "C1"])],
                                 calculated=True), ev)
    assert [c.quote for c in v.sentences[0].citations] == [ev.by_id(row).text] and v.sentences[0].support == 1.0


def test_a_calculation_over_rows_the_question_is_not_about_is_rejected():
    q = "What is the change in Other in 2019 from 2018?"
    ev = _evidence(q)
    gen = Writes(json.dumps({"cite": [_row(ev, "Fixed Price")], "expression": "1452.4 - 1146.2"}))
    calc, reason, _ = calculate(gen, q, ev)
    assert calc is None and "is about the question" in reason


def test_an_average_written_without_parentheses_is_read_as_an_average():
    q = "What is the average of Other in 2019 and 2018?"
    ev = _evidence(q)
    calc, _, _ = calculate(Writes(json.dumps({"cite": [_row(ev, "Other")], "expression": "44.1 + 56.7 / 2"})), q, ev)
    assert calc.expression == "(44.1 + 56.7) / 2" and calc.answer == "50.4 million"
    ev2 = _evidence(q, "| | 2019 €m | 2018 €m |\n|---|---|---|\n| Other | 44.1 | 56.7 |\n")
    assert document_unit(ev2, [_row(ev2, "Other")]) == "million"


def test_the_most_explicit_unit_statement_wins_and_ordinary_words_are_not_units():
    text = ("| | 2019 | 2018 |\n|---|---|---|\n| Other | 44.1 | 56.7 |\n\nSales from the term contracts "
            "rose; the table presents sales by contract type (in millions).")
    ev = _evidence("What is the change in Other?", text)
    assert document_unit(ev, [_row(ev, "Other")]) == "million"  # not "thousand" from "term" or "from"
    ev2 = _evidence("What is the change in Other?", "| | 2019 | 2018 |\n|---|---|---|\n| Other | 44.1 | 56.7 |\n\n"
                    "Figures are from the firm.")
    assert document_unit(ev2, [_row(ev2, "Other")]) == ""


def test_a_ratio_has_no_unit():
    q = "What is the ratio of Other in 2019 to Other in 2018?"
    ev = _evidence(q)
    calc, _, _ = calculate(Writes(json.dumps({"cite": [_row(ev, "Other")], "expression": "44.1 / 56.7"})), q, ev)
    assert calc.answer == "0.78"
