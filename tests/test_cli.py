"""The `agentkit` command line as a user scripts it: exit statuses, JSON lines in order, errors that name a fix.

Unit tests run ingest and search on the real MiniLM; the tests that answer questions run the default 1.5B
generator and are marked ``integration``.
"""

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agentkit import Answer, AnswerSentence, AnswerStatus, Citation, Corpus, cli
from agentkit.cli import app
from agentkit.types import ConflictCandidate

ROOT = Path(__file__).resolve().parents[1]
DEMO_Q = "What is the maximum daily dose of Veltrazine for adults with normal kidney function?"
BRIDGE = ("# Quillmouth Bridge\n\nThe Quillmouth Bridge crosses the river Quill at Marrowby. "
          "It opened to traffic in 1931 and was designed by the engineer Ada Fenwright.\n")
HARBOUR = ("# Marrowby Harbour\n\nMarrowby Harbour was dredged in 1978. "
           "Its lighthouse is painted red and white.\n")


def _run(*args: str):
    return CliRunner().invoke(app, [str(a) for a in args])


def _json_lines(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def docs(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("docs")
    (root / "bridge.md").write_text(BRIDGE, encoding="utf-8")
    (root / "harbour.md").write_text(HARBOUR, encoding="utf-8")
    (root / "scan.pdf").write_bytes(b"not a pdf at all")
    return root


@pytest.fixture(scope="module")
def built(docs, tmp_path_factory):
    """One ingest of the folder: two good files and a broken one."""
    index = tmp_path_factory.mktemp("idx") / "index"
    return index, _run("ingest", docs, "--index", index, "--corpus", "towns", "--json")


def test_ingest_indexes_the_good_files_reports_the_bad_one_and_exits_1(built):
    index, result = built
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    by_name = {Path(f["path"]).name: f for f in report["files"]}
    assert by_name["scan.pdf"]["status"] == "error" and "PDF" in by_name["scan.pdf"]["reason"]
    assert by_name["bridge.md"]["status"] == by_name["harbour.md"]["status"] == "ok"
    assert sorted(d.id for d in Corpus.open(index).documents()) == ["bridge", "harbour"]


def test_ingest_of_unchanged_good_files_exits_0_and_embeds_nothing(built, docs):
    index, _ = built
    result = _run("ingest", docs / "bridge.md", docs / "harbour.md", "--index", index, "--corpus", "towns", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert sorted(report["unchanged"]) == ["bridge", "harbour"] and report["n_embedded"] == 0


def test_ingest_of_a_mistyped_path_is_an_error_not_a_skipped_file(tmp_path):
    result = _run("ingest", tmp_path / "docs-typo", "--index", tmp_path / "index", "--json")
    assert result.exit_code == 1, result.output
    (only,) = json.loads(result.stdout)["files"]
    assert only["status"] == "error" and only["reason"] == "file not found"
    # the index that run left holds nothing, and search says so instead of printing nothing
    result = _run("search", "bridge", "--index", tmp_path / "index")
    printed = " ".join(result.stdout.split())  # rich wraps long paths
    assert result.exit_code == 0 and "No passages found" in printed and "holds 0 chunks" in printed


def test_ingest_summary_counts_the_documents_a_sync_deleted(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "bridge.md").write_text(BRIDGE, encoding="utf-8")
    (docs / "harbour.md").write_text(HARBOUR, encoding="utf-8")
    assert _run("ingest", docs, "--index", tmp_path / "index").exit_code == 0
    (docs / "harbour.md").unlink()
    result = _run("ingest", docs, "--index", tmp_path / "index")
    assert result.exit_code == 0, result.output
    assert "added 0, updated 0, unchanged 1, deleted 1, 1 chunks" in " ".join(result.output.split())


def test_search_batch_prints_one_line_per_query_in_order_with_exact_spans(built, tmp_path):
    index, _ = built
    queries = tmp_path / "q.jsonl"
    queries.write_text('{"question": "Who designed the Quillmouth Bridge?"}\n\nWhen was Marrowby Harbour dredged?\n',
                       encoding="utf-8")
    result = _run("search", "--queries", queries, "--index", index, "-k", "2")
    assert result.exit_code == 0, result.output
    lines = _json_lines(result.stdout)
    assert [r["query"] for r in lines] == ["Who designed the Quillmouth Bridge?", "When was Marrowby Harbour dredged?"]
    assert [r["results"][0]["doc_id"] for r in lines] == ["bridge", "harbour"]
    corpus = Corpus.open(index)
    for r in lines:
        for hit in r["results"]:
            assert corpus.document(hit["doc_id"]).text[hit["start"]:hit["end"]] == hit["text"]
            assert Path(hit["source"]).name in ("bridge.md", "harbour.md")


def test_search_batch_keeps_a_rejected_query_in_its_place_and_exits_1(built, tmp_path):
    index, _ = built
    queries = tmp_path / "q.jsonl"
    queries.write_text('{"question": ""}\nWhen was Marrowby Harbour dredged?\n', encoding="utf-8")
    result = _run("search", "--queries", queries, "--index", index, "-k", "1")
    assert result.exit_code == 1, result.output
    rejected, answered = _json_lines(result.stdout)
    assert rejected["query"] == "" and rejected["error_type"] == "InvalidQuestionError"
    assert answered["results"][0]["doc_id"] == "harbour"


def test_search_with_k_below_1_is_a_usage_error(built):
    index, _ = built
    result = _run("search", "bridge", "--index", index, "-k", "0")
    assert result.exit_code == 2 and "-k" in result.output


def test_ask_without_an_index_exits_2_and_says_how_to_build_one(tmp_path):
    result = _run("ask", "Who designed the bridge?", "--index", tmp_path / "nowhere")
    assert result.exit_code == 2
    assert "no index at" in result.stderr and "agentkit ingest" in result.stderr


def test_ask_with_an_empty_question_exits_2_with_the_reason(built):
    index, _ = built
    result = _run("ask", "   ", "--index", index)
    assert result.exit_code == 2
    assert "the question is empty" in result.stderr


def test_ask_batch_of_rejected_questions_keeps_one_typed_error_line_each_and_exits_1(built, tmp_path):
    index, _ = built
    questions = tmp_path / "bad.jsonl"
    questions.write_text(json.dumps({"question": ""}) + "\n" + json.dumps({"question": "why? " * 500}) + "\n",
                         encoding="utf-8")
    result = _run("ask", "--questions", questions, "--index", index, "--json")
    assert result.exit_code == 1, result.output
    lines = _json_lines(result.stdout)
    assert len(lines) == 2 and all(r["error_type"] == "InvalidQuestionError" for r in lines)
    assert "empty" in lines[0]["error"] and "limit" in lines[1]["error"]


def test_ask_in_a_thread_without_a_checkpoint_file_exits_2_and_names_the_option(built):
    index, _ = built
    result = _run("ask", "And who designed it?", "--index", index, "--thread", "t1")
    assert result.exit_code == 2 and "--checkpoint" in result.stderr


def test_ask_needs_exactly_one_of_a_question_and_a_file(built, tmp_path):
    index, _ = built
    assert _run("ask", "--index", index).exit_code == 2
    missing = _run("ask", "--questions", tmp_path / "missing.jsonl", "--index", index)
    assert missing.exit_code == 2 and "cannot read" in missing.stderr


def _cite(doc_id: str, text: str, quote: str) -> Citation:
    start = text.index(quote)
    return Citation(doc_id=doc_id, chunk_id=f"{doc_id}::0", source=f"/docs/{doc_id}.md", title=doc_id.title(),
                    start=start, end=start + len(quote), quote=quote)


def test_a_conflict_is_printed_with_each_sides_marker_and_its_quote_beneath():
    a = _cite("bridge", BRIDGE, "It opened to traffic in 1931")
    b = _cite("harbour", HARBOUR + " The bridge [opened] in 1932.", "The bridge [opened] in 1932.")
    ans = Answer(question="When did the bridge open?", status=AnswerStatus.conflict, answer="1931; 1932",
                 sentences=[AnswerSentence(text="One source says 1931.", citations=[a]),
                            AnswerSentence(text="Another says 1932.", citations=[b])],
                 conflicts=[ConflictCandidate(answer="1931", citations=[a], support=1),
                            ConflictCandidate(answer="1932", citations=[b], support=1)],
                 note="The sources disagree and nothing breaks the tie.")
    with cli.out.capture() as captured:
        cli._print_answer(ans, explain=False)
    text = captured.get()
    assert text.startswith("Sources disagree: 1931; 1932\n")
    assert "One source says 1931. [1]" in text and "Another says 1932. [2]" in text
    sources = text.split("\nSources\n", 1)[1]
    assert sources.index("[1] Bridge") < sources.index("“It opened to traffic in 1931”") < sources.index("[2] Harbour")
    assert "“The bridge [opened] in 1932.”" in sources  # document text is printed as is, never read as markup


def test_an_abstention_is_printed_with_its_reason_and_no_sources():
    ans = Answer(question="Who painted the lighthouse?", status=AnswerStatus.abstained,
                 abstain_reason="no_relevant_evidence")
    with cli.out.capture() as captured:
        cli._print_answer(ans, explain=False)
    text = captured.get()
    assert text.startswith("Cannot answer (no_relevant_evidence): no passage in the documents is relevant")
    assert "Sources" not in text


# -- answering: the real default generator -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def medicine(tmp_path_factory) -> Path:
    index = tmp_path_factory.mktemp("idx") / "med"
    result = _run("ingest", ROOT / "corpora" / "medicine" / "docs", "--index", index, "--corpus", "medicine")
    assert result.exit_code == 0, result.output
    return index


@pytest.mark.integration
def test_ask_batch_json_answers_in_order_with_sources_and_verbatim_quotes(medicine, tmp_path):
    questions = tmp_path / "q.jsonl"
    questions.write_text("\n".join([DEMO_Q, json.dumps({"question": ""}),
                                    "Which team won the 1998 FIFA World Cup final?"]) + "\n", encoding="utf-8")
    result = _run("ask", "--questions", questions, "--index", medicine, "--json")
    assert result.exit_code == 1, result.output  # the empty question is rejected; the other two are answered
    first, rejected, out_of_scope = _json_lines(result.stdout)
    assert first["question"] == DEMO_Q and first["status"] == "answered" and "40" in first["answer"]
    corpus = Corpus.open(medicine)
    cites = [c for s in first["sentences"] for c in s["citations"]]
    assert cites and all(s["citations"] for s in first["sentences"])
    for c in cites:
        assert Path(c["source"]).is_file()
        assert corpus.document(c["doc_id"]).text[c["start"]:c["end"]] == c["quote"]
    assert rejected["error_type"] == "InvalidQuestionError"
    assert out_of_scope["status"] == "abstained" and out_of_scope["abstain_reason"] == "out_of_scope"
    assert out_of_scope["sentences"] == []


@pytest.mark.integration
def test_ask_prints_the_answer_with_markers_and_the_quoted_sources_beneath(medicine):
    result = _run("ask", DEMO_Q, "--index", medicine, "--explain")
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert text.startswith("Answer: ") and "40" in text.splitlines()[0]
    answer, sources = text.split("\nSources\n", 1)
    # every source beneath: "[n] title — path [start:end]" then its quote, which is that span of the document
    listed = re.findall(r"^  \[(\d+)\] [^\n]+ — (\S+) \[(\d+):(\d+)\]\n      “(.*?)”\n", sources,
                        flags=re.MULTILINE | re.DOTALL)
    assert listed and [int(n) for n, *_ in listed] == list(range(1, len(listed) + 1))
    docs = {d.source: d for d in Corpus.open(medicine).documents()}
    for n, source, start, end, quote in listed:
        assert f"[{n}]" in answer  # each source is marked in the answer
        assert docs[source].text[int(start):int(end)] == quote
    assert "generate" in text and "verify" in text  # --explain: the trace table with the stages
