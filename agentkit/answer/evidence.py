"""Evidence shown to the generator: numbered sentences grouped by passage, mapped back to document spans.

The model only ever sees ids from this set, and the grammar only admits these ids, so every citation
resolves to a verbatim span (``Document.text[start:end] == quote``) by construction.
"""

from __future__ import annotations

import re

import numpy as np
from pydantic import BaseModel, Field

from agentkit.ingest import split_sentences
from agentkit.retrieve.links import bare_title
from agentkit.types import Citation, ScoredPassage

# Characters that could let document text close or forge the <passage> wrapper the prompt uses.
_DATA_ESCAPES = str.maketrans({"<": "‹", ">": "›"})


def relevance(p: ScoredPassage) -> float:
    """The score abstention thresholds apply to: the reranker's if it ran, else dense cosine."""
    return float(p.scores.get("rerank", p.scores.get("dense", 0.0)))


def titled(text: str, title: str | None) -> str:
    """A quote as the verifier reads it. "His film credits include ..." says nothing about whom without the
    page it is on, so a title the quote does not name is put before it (the generator saw it too)."""
    name = bare_title(title or "")
    if not name or name.lower() in text.lower():
        return text
    return f"{name}: {text}"


class EvidenceSentence(BaseModel):
    id: str
    passage_index: int
    doc_id: str
    chunk_id: str
    source: str
    title: str
    start: int  # offset in Document.text
    end: int
    text: str
    shown: str | None = None  # what the model sees when it differs from the quote (a table row with its headers)

    def premise(self) -> str:
        """A side claim's premise in the compare stage: the sentence as the model saw it, with its page's
        title. (The answer check reads bare quotes: see ``grounded.answer_check``.)"""
        return titled(self.shown or self.text, self.title)

    def citation(self) -> Citation:
        return Citation(doc_id=self.doc_id, chunk_id=self.chunk_id, source=self.source, title=self.title,
                        start=self.start, end=self.end, quote=self.text)


class EvidenceSet(BaseModel):
    """Pydantic so it checkpoints with the graph state."""

    passages: list[ScoredPassage]
    sentences: list[EvidenceSentence] = Field(default_factory=list)

    @property
    def ids(self) -> list[str]:
        return [s.id for s in self.sentences]

    def by_id(self, sid: str) -> EvidenceSentence | None:
        for s in self.sentences:
            if s.id == sid:
                return s
        return None

    def doc_ids(self) -> list[str]:
        seen: dict[str, None] = {}
        for s in self.sentences:
            seen.setdefault(s.doc_id)
        return list(seen)

    def doc_relevance(self, score: str | None = None) -> dict[str, float]:
        """Each shown document's best passage relevance (or its ``score``, e.g. "query", where the passage
        has one), best document first."""
        best: dict[str, float] = {}
        for s in self.sentences:
            p = self.passages[s.passage_index]
            r = float(p.scores[score]) if score and score in p.scores else relevance(p)
            best[s.doc_id] = max(best.get(s.doc_id, r), r)
        return dict(sorted(best.items(), key=lambda kv: -kv[1]))

    def opening(self, doc_id: str) -> str:
        """The text of a document's first chunk, where a retrieved passage holds it ("" otherwise): what an
        untitled document is about."""
        return next((p.chunk.text for p in self.passages if p.chunk.doc_id == doc_id and p.chunk.start == 0), "")

    def for_doc(self, doc_id: str) -> EvidenceSet:
        return EvidenceSet(passages=self.passages, sentences=[s for s in self.sentences if s.doc_id == doc_id])

    def render(self, with_metadata: bool = True) -> str:
        """Passages as quoted data blocks; sentence ids in brackets. Document text cannot forge the tags."""
        blocks: list[str] = []
        current: int | None = None
        lines: list[str] = []
        for s in self.sentences:
            if s.passage_index != current:
                if lines:
                    blocks.append("\n".join(lines) + "\n</passage>")
                current = s.passage_index
                lines = [self._header(self.passages[s.passage_index], with_metadata)]
            lines.append(f"[{s.id}] {as_data(s.shown or s.text)}")
        if lines:
            blocks.append("\n".join(lines) + "\n</passage>")
        return "\n".join(blocks)

    @staticmethod
    def _header(p: ScoredPassage, with_metadata: bool) -> str:
        attrs = [f'title="{as_data(p.title or p.doc_id)}"']
        if with_metadata:
            for key in ("date", "authority"):
                value = p.metadata.get(key)
                if value:
                    attrs.append(f'{key}="{as_data(str(value))}"')
        return "<passage " + " ".join(attrs) + ">"


_SEPARATOR = re.compile(r"^\|[\s:|-]+\|$")
_HAS_DIGIT = re.compile(r"\d")


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def table_row_shown(text: str, start: int, end: int, max_label_chars: int = 40) -> str | None:
    """A markdown table row with each cell labelled by its column headers: "| Other | 44.1 | 56.7 |" under
    "| | 2019 | 2018 |" is shown as "Other: 2019 = 44.1; 2018 = 56.7". A small model reads a bare row's
    columns wrongly; the quote (the citation) stays the verbatim row. None when it is not a table row
    with headers above it in the same passage."""
    row = text[start:end].strip()
    if not row.startswith("|") or _SEPARATOR.match(row):
        return None
    lines = text[:start].split("\n")[:-1]  # the lines above the row
    block: list[str] = []
    for line in reversed(lines):
        if not line.strip().startswith("|"):
            break
        block.insert(0, line.strip())
    seps = [i for i, line in enumerate(block) if _SEPARATOR.match(line)]
    if not seps:
        return None
    headers = block[:seps[0]] + [line for line in block[seps[0] + 1:] if not _cells(line)[0]]
    cells = _cells(row)
    labels: list[list[str]] = [[] for _ in cells]
    for line in headers:
        if 2 * sum(1 for c in _cells(line)[1:] if c) < len(cells) - 1:
            continue  # a caption over the columns ("Years Ended September 30", "(in millions)"), not labels
        filled, last = [], ""
        for i, cell in enumerate(_cells(line)):
            last = cell or (last if i > 0 else "")  # a header spanning empty cells to its right
            filled.append(last)
        for i, cell in enumerate(filled[: len(cells)]):
            if cell and cell not in labels[i]:
                labels[i].append(cell)
    values = [(" ".join(labels[i])[:max_label_chars], c) for i, c in enumerate(cells) if i > 0 and c]
    if not values or not any(_HAS_DIGIT.search(c) for _, c in values):
        return None
    return f"{cells[0]}: " + "; ".join(f"{label} = {c}" if label else c for label, c in values)


def as_data(text: str) -> str:
    """Document text made safe to quote inside a <passage> block: it cannot forge the tags."""
    return re.sub(r"\s+", " ", text.translate(_DATA_ESCAPES)).strip()


def build_evidence(
    question: str,
    passages: list[ScoredPassage],
    *,
    embed=None,
    max_sentences: int = 14,
    max_chars: int = 2200,
    min_per_passage: int = 2,
    exclude: frozenset[tuple[str, int]] = frozenset(),
) -> EvidenceSet:
    """Pick the sentences worth prefilling: the CPU pays for every prompt token.

    Every passage keeps its ``min_per_passage`` best sentences (multi-hop questions need the bridge
    sentence of each document); remaining budget goes to the best-scoring sentences overall. Sentences
    are shown in document order within their passage so pronouns still read naturally. ``exclude`` holds
    (doc_id, start) of sentences not to show again: a reflexion retry leaves out what a rejected answer
    cited, so their budget goes to other sentences.
    """
    candidates: list[tuple[int, int, int, str]] = []  # (passage_index, start, end, text) with doc offsets
    for pi, p in enumerate(passages):
        base = p.chunk.start
        for s, e in split_sentences(p.chunk.text):
            text = p.chunk.text[s:e]
            if len(text) < 3 or (p.chunk.doc_id, base + s) in exclude:
                continue
            candidates.append((pi, base + s, base + e, text))
    if not candidates:
        return EvidenceSet(passages=passages)

    scores = _sentence_scores(question, [c[3] for c in candidates], embed)
    # Favour sentences from better-ranked passages a little, so ties go to the stronger evidence.
    scores = scores - 0.02 * np.array([c[0] for c in candidates], dtype=np.float32)

    chosen: set[int] = set()
    budget = max_chars
    order = np.argsort(-scores)
    for pi in range(len(passages)):
        picked = 0
        for idx in order:
            if (candidates[idx][0] == pi and picked < min_per_passage and len(chosen) < max_sentences
                    and (len(candidates[idx][3]) <= budget or not chosen)):
                chosen.add(int(idx))
                budget -= len(candidates[idx][3])
                picked += 1
    for idx in order:
        if len(chosen) >= max_sentences or budget <= 0:
            break
        if int(idx) not in chosen and len(candidates[idx][3]) <= budget:
            chosen.add(int(idx))
            budget -= len(candidates[idx][3])

    selected = sorted(chosen, key=lambda i: (candidates[i][0], candidates[i][1]))
    sentences = []
    for n, idx in enumerate(selected, start=1):
        pi, start, end, text = candidates[idx]
        p = passages[pi]
        base = p.chunk.start
        shown = table_row_shown(p.chunk.text, start - base, end - base)
        sentences.append(EvidenceSentence(id=str(n), passage_index=pi, doc_id=p.chunk.doc_id, chunk_id=p.chunk.id,
                                          source=p.source, title=p.title, start=start, end=end, text=text,
                                          shown=shown))
    return EvidenceSet(passages=passages, sentences=sentences)


_WORD = re.compile(r"[a-z0-9]+")
_STOP = frozenset([
    "a", "an", "the", "of", "in", "on", "at", "to", "for", "by", "with", "and", "or", "is", "are", "was",
    "were", "be", "been", "what", "which", "who", "whom", "whose", "when", "where", "why", "how", "did",
    "does", "do", "from", "as", "that", "this", "it", "its",
])


def content_words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in _STOP}


def _sentence_scores(question: str, sentences: list[str], embed) -> np.ndarray:
    """Embedding cosine when an embedder is given, plus lexical overlap (catches names and numbers)."""
    q_words = content_words(question)
    lexical = np.array([len(q_words & content_words(s)) / (len(q_words) or 1) for s in sentences], dtype=np.float32)
    if embed is None:
        return lexical
    vecs = embed.encode([question] + sentences)
    cos = vecs[1:] @ vecs[0]
    return cos.astype(np.float32) + 0.5 * lexical


def states(required: set[str], text: str) -> bool:
    """Whether ``text`` states an answer given as its content words: every number in it, and at least
    two thirds of its other words."""
    have = content_words(text)
    numbers = {w for w in required if w.isdigit()}
    others = required - numbers
    return numbers <= have and (not others or len(others & have) / len(others) >= 2 / 3)


def best_covering(claim: str, evidence: EvidenceSet, max_sentences: int = 2,
                  required: set[str] | None = None) -> list:
    """The evidence sentences sharing the most content words with the claim (greedy set cover).

    ``required``: an answer's content words; the first sentence must state them (``states``), else [].
    """
    words = content_words(claim)
    chosen, covered = [], set()
    if required:
        def key(s):
            w = content_words(s.text)
            return len(required & w), len(words & w)
        first = max(evidence.sentences, key=key, default=None)
        if first is None or not states(required, first.text):
            return []
        chosen.append(first)
        covered |= content_words(first.text)
    while len(chosen) < max_sentences:
        best, gain = None, 0
        for s in evidence.sentences:
            if s in chosen:
                continue
            g = len((words - covered) & content_words(s.text))
            if g > gain:
                best, gain = s, g
        if best is None:
            break
        chosen.append(best)
        covered |= content_words(best.text)
    return chosen
