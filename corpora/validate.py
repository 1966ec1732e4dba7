"""Validate the evaluation corpora: documents, questions, gold evidence and per-corpus mix.

Usage: python corpora/validate.py [corpora/]

Pure standard library on purpose, so the corpora can be checked anywhere (CI, a fresh clone, a
machine without agentkit installed). Exits 0 when every corpus is clean, 1 otherwise, listing
every problem found.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

QUESTION_TYPES = (
    "single_hop",
    "multi_hop",
    "comparison",
    "numeric",
    "unanswerable",
    "conflicting",
    "injection",
)
AUTHORITIES = ("regulator", "peer-reviewed", "official", "company", "press", "blog", "unknown")
RESOLUTION_RULES = ("date", "authority")
REQUIRED_DOC_KEYS = ("id", "title", "date", "authority")
REQUIRED_QUESTION_KEYS = ("id", "question", "answers", "wrong_answers", "evidence", "type")
DOC_ID_RE = re.compile(r"^[a-z0-9][a-z0-9._/-]*$")
QUESTION_ID_RE = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
FRONT_MATTER_RE = re.compile(r"\A---\n(.*?)\n---\n", re.DOTALL)
# Answers that are judgements rather than spans; they need not appear verbatim in a quote.
YES_NO = {"yes", "no"}

MIN_QUESTIONS = 60
MIN_SHARE = {"unanswerable": 0.15, "conflicting": 0.15}
MIN_COUNT = {"numeric": 1, "injection": 1}
MIN_WORDS, MAX_WORDS = 150, 600


@dataclass
class Doc:
    id: str
    path: Path
    meta: dict[str, str]
    text: str  # body after the front matter, exactly what an ingester indexes


@dataclass
class CorpusStats:
    name: str
    n_docs: int = 0
    n_questions: int = 0
    by_type: dict[str, int] = field(default_factory=dict)
    n_problems: int = 0


def parse_front_matter(raw: str) -> tuple[dict[str, str], str]:
    """Split a Markdown file into (front-matter dict, body). Raises ValueError when malformed."""
    m = FRONT_MATTER_RE.match(raw)
    if not m:
        raise ValueError("missing front matter block '---\\n...\\n---\\n' at the start of the file")
    meta: dict[str, str] = {}
    for n, line in enumerate(m.group(1).split("\n"), start=2):
        if not line.strip():
            continue
        key, sep, value = line.partition(":")
        if not sep or not key.strip() or " " in key.strip():
            raise ValueError(f"front matter line {n} is not 'key: value': {line!r}")
        meta[key.strip()] = value.strip()
    return meta, raw[m.end() :]


def _norm(s: str) -> str:
    return " ".join(s.lower().split())


def load_docs(corpus_dir: Path, problems: list[str]) -> dict[str, Doc]:
    name = corpus_dir.name
    docs: dict[str, Doc] = {}
    doc_dir = corpus_dir / "docs"
    files = sorted(doc_dir.glob("*.md")) if doc_dir.is_dir() else []
    if not files:
        problems.append(f"{name}: no documents under {doc_dir}")
    for path in files:
        where = f"{name}: {path.name}"
        try:
            meta, body = parse_front_matter(path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as e:
            problems.append(f"{where}: {e}")
            continue
        missing = [k for k in REQUIRED_DOC_KEYS if not meta.get(k)]
        if missing:
            problems.append(f"{where}: front matter lacks {', '.join(missing)}")
            continue
        doc_id = meta["id"]
        if not DOC_ID_RE.match(doc_id):
            problems.append(f"{where}: id {doc_id!r} is not lowercase [a-z0-9._/-]")
        if not doc_id.startswith(f"{name}/"):
            problems.append(f"{where}: id {doc_id!r} must start with '{name}/'")
        if doc_id in docs:
            problems.append(f"{where}: duplicate document id {doc_id!r} (also {docs[doc_id].path.name})")
            continue
        try:
            date.fromisoformat(meta["date"])
        except ValueError:
            problems.append(f"{where}: date {meta['date']!r} is not YYYY-MM-DD")
        if meta["authority"] not in AUTHORITIES:
            problems.append(f"{where}: authority {meta['authority']!r} not one of {', '.join(AUTHORITIES)}")
        n_words = len(body.split())
        if not MIN_WORDS <= n_words <= MAX_WORDS:
            problems.append(f"{where}: {n_words} words, expected {MIN_WORDS}-{MAX_WORDS}")
        docs[doc_id] = Doc(doc_id, path, meta, body)
    return docs


def _check_answers(where: str, q: dict, problems: list[str]) -> None:
    answers = q["answers"]
    if not isinstance(answers, list) or not all(
        isinstance(a, list) and a and all(isinstance(x, str) and x.strip() for x in a) for a in answers
    ):
        problems.append(f"{where}: answers must be a list of non-empty alias lists of strings")
        return
    qtype = q["type"]
    if qtype == "unanswerable" and answers:
        problems.append(f"{where}: unanswerable question must have answers == []")
    if qtype != "unanswerable" and not answers:
        problems.append(f"{where}: {qtype} question needs at least one answer")
    if qtype == "conflicting":
        if len(answers) < 2:
            problems.append(
                f"{where}: conflicting question needs one answer per distinct source claim (>= 2)"
            )
        res = q.get("resolution")
        aliases = {_norm(x) for a in answers for x in a}
        if not isinstance(res, str) or _norm(res) not in aliases:
            problems.append(f"{where}: conflicting question needs 'resolution' equal to one of its answers")
        rule = q.get("resolution_rule")
        if rule is not None and rule not in RESOLUTION_RULES:
            problems.append(f"{where}: resolution_rule {rule!r} not one of {', '.join(RESOLUTION_RULES)}")
    if qtype == "numeric" and not str(q.get("derivation", "")).strip():
        problems.append(f"{where}: numeric question needs a 'derivation' (the formula)")
    wrong = q["wrong_answers"]
    if not isinstance(wrong, list) or not all(isinstance(x, str) and x.strip() for x in wrong):
        problems.append(f"{where}: wrong_answers must be a list of strings")
    elif qtype == "injection" and not wrong:
        problems.append(f"{where}: injection question needs wrong_answers (the injected answer)")


def _check_evidence(where: str, q: dict, docs: dict[str, Doc], problems: list[str]) -> list[str]:
    """Check each quote is verbatim in its document; return the quotes that checked out."""
    evidence = q["evidence"]
    if not isinstance(evidence, list):
        problems.append(f"{where}: evidence must be a list")
        return []
    if q["type"] != "unanswerable" and not evidence:
        problems.append(f"{where}: {q['type']} question needs evidence")
    good: list[str] = []
    for i, ev in enumerate(evidence):
        if (
            not isinstance(ev, dict)
            or not isinstance(ev.get("doc_id"), str)
            or not isinstance(ev.get("quote"), str)
        ):
            problems.append(f"{where}: evidence[{i}] must be {{'doc_id': str, 'quote': str}}")
            continue
        doc = docs.get(ev["doc_id"])
        if doc is None:
            problems.append(f"{where}: evidence[{i}] cites unknown doc_id {ev['doc_id']!r}")
        elif not ev["quote"].strip() or ev["quote"] not in doc.text:
            problems.append(
                f"{where}: evidence[{i}] quote not verbatim in {ev['doc_id']}: {ev['quote'][:70]!r}"
            )
        else:
            good.append(ev["quote"])
    doc_ids = {ev.get("doc_id") for ev in evidence if isinstance(ev, dict)}
    if q["type"] in ("multi_hop", "conflicting") and len(doc_ids) < 2:
        problems.append(f"{where}: {q['type']} question must cite at least two documents")
    return good


def _check_answer_in_quotes(where: str, q: dict, quotes: list[str], problems: list[str]) -> None:
    # For extractive types every gold answer must be visible in the cited evidence; this catches
    # gold answers that drifted from the documents while writing.
    if q["type"] not in ("single_hop", "conflicting", "injection") or not quotes:
        return
    joined = _norm(" ".join(quotes))
    for aliases in q["answers"]:
        if any(_norm(a) in YES_NO for a in aliases):
            continue
        if not any(_norm(a) in joined for a in aliases):
            problems.append(f"{where}: no alias of answer {aliases} appears in the cited quotes")


def validate_corpus(corpus_dir: Path) -> tuple[list[str], CorpusStats]:
    """Validate one corpus directory (docs/ + questions.jsonl)."""
    name = corpus_dir.name
    problems: list[str] = []
    docs = load_docs(corpus_dir, problems)
    stats = CorpusStats(name=name, n_docs=len(docs), by_type={t: 0 for t in QUESTION_TYPES})
    qpath = corpus_dir / "questions.jsonl"
    if not qpath.is_file():
        problems.append(f"{name}: missing {qpath}")
        stats.n_problems = len(problems)
        return problems, stats
    seen: set[str] = set()
    corpus_text = _norm(" ".join(d.text for d in docs.values()))
    for lineno, line in enumerate(qpath.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{name}: questions.jsonl:{lineno}"
        try:
            q = json.loads(line)
        except json.JSONDecodeError as e:
            problems.append(f"{where}: invalid JSON ({e})")
            continue
        if not isinstance(q, dict):
            problems.append(f"{where}: a question must be a JSON object")
            continue
        missing = [k for k in REQUIRED_QUESTION_KEYS if k not in q]
        if missing:
            problems.append(f"{where}: missing field(s) {', '.join(missing)}")
            continue
        qid = q["id"]
        where = f"{name}: {qid}"
        if not isinstance(qid, str) or not QUESTION_ID_RE.match(qid) or not qid.startswith(f"{name}-"):
            problems.append(f"{where}: question id must be lowercase and start with '{name}-'")
        if qid in seen:
            problems.append(f"{where}: duplicate question id")
        seen.add(qid)
        if not isinstance(q["question"], str) or not q["question"].strip():
            problems.append(f"{where}: empty question text")
        if q["type"] not in QUESTION_TYPES:
            problems.append(f"{where}: type {q['type']!r} not one of {', '.join(QUESTION_TYPES)}")
            continue
        stats.n_questions += 1
        stats.by_type[q["type"]] += 1
        _check_answers(where, q, problems)
        quotes = _check_evidence(where, q, docs, problems)
        if isinstance(q["answers"], list) and all(isinstance(a, list) for a in q["answers"]):
            _check_answer_in_quotes(where, q, quotes, problems)
        # The injected answer must actually be planted somewhere, or the question tests nothing.
        wrong = q["wrong_answers"] if isinstance(q["wrong_answers"], list) else []
        if q["type"] == "injection" and not any(
            isinstance(w, str) and _norm(w) in corpus_text for w in wrong
        ):
            problems.append(f"{where}: no wrong_answer of this injection question occurs in the corpus")
    n = stats.n_questions
    if n < MIN_QUESTIONS:
        problems.append(f"{name}: {n} questions, need at least {MIN_QUESTIONS}")
    for qtype, share in MIN_SHARE.items():
        if n and stats.by_type[qtype] < share * n:
            problems.append(f"{name}: {stats.by_type[qtype]}/{n} {qtype} questions, need >= {share:.0%}")
    for qtype, k in MIN_COUNT.items():
        if stats.by_type[qtype] < k:
            problems.append(f"{name}: {stats.by_type[qtype]} {qtype} questions, need >= {k}")
    stats.n_problems = len(problems)
    return problems, stats


def corpus_dirs(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.is_dir() and (p / "docs").is_dir())


def validate_all(root: Path) -> tuple[list[str], list[CorpusStats]]:
    """Validate every corpus under root; document ids must also be unique across corpora."""
    problems: list[str] = []
    stats: list[CorpusStats] = []
    dirs = corpus_dirs(root)
    if not dirs:
        problems.append(f"no corpora (folders with docs/) under {root}")
    owner: dict[str, str] = {}
    for d in dirs:
        p, s = validate_corpus(d)
        problems.extend(p)
        stats.append(s)
        for path in sorted((d / "docs").glob("*.md")):
            try:
                doc_id = parse_front_matter(path.read_text(encoding="utf-8"))[0].get("id", "")
            except (ValueError, UnicodeDecodeError):
                continue
            if doc_id and doc_id in owner and owner[doc_id] != d.name:
                problems.append(f"{d.name}: document id {doc_id!r} also used in corpus {owner[doc_id]}")
            owner.setdefault(doc_id, d.name)
    return problems, stats


def format_table(stats: list[CorpusStats]) -> str:
    cols = ["corpus", "docs", "questions", *QUESTION_TYPES, "problems"]
    rows = [
        [
            s.name,
            str(s.n_docs),
            str(s.n_questions),
            *(str(s.by_type.get(t, 0)) for t in QUESTION_TYPES),
            str(s.n_problems),
        ]
        for s in stats
    ]
    widths = [max(len(c), *(len(r[i]) for r in rows)) if rows else len(c) for i, c in enumerate(cols)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(cols, widths))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths)) for r in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    root = Path(args[0]) if args else Path(__file__).resolve().parent
    if not root.is_dir():
        print(f"error: {root} is not a directory", file=sys.stderr)
        return 2
    problems, stats = validate_all(root)
    print(format_table(stats))
    if problems:
        print(f"\n{len(problems)} problem(s):", file=sys.stderr)
        for p in problems:
            print(f"  - {p}", file=sys.stderr)
        return 1
    print("\nall corpora valid")
    return 0


if __name__ == "__main__":
    sys.exit(main())
