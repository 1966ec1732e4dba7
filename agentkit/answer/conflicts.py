"""Conflicting evidence: one short constrained call per document, then cluster and decide.

In the spirit of MADAM-RAG: each source speaks for itself (so one persuasive passage cannot drown
the others), candidate answers are clustered, and the decision is explicit:
- one answer backed by several sources against single dissenters: that answer, dissent reported;
- a tie that metadata can break (a newer date, a higher authority): the favoured answer, and it says why;
- otherwise: status ``conflict`` with every candidate and its citations. Never pick one silently.
"""

from __future__ import annotations

import json
import re
import string
import unicodedata
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from functools import lru_cache

from agentkit.answer.evidence import EvidenceSet, as_data, best_covering, content_words
from agentkit.answer.prompts import extract_messages, extract_schema, stance_messages
from agentkit.errors import GenerationError
from agentkit.ingest import split_sentences
from agentkit.retrieve.links import bare_title
from agentkit.types import Citation, ConflictCandidate, ScoredPassage

AUTHORITY_RANK = {"regulator": 6, "official": 5, "peer-reviewed": 5, "audited": 5, "company": 3,
                  "press": 2, "blog": 1, "unknown": 0}
# what a model writes when a source gives no answer
NO_ANSWERS = {"", "none", "unknown", "not stated", "n/a", "insufficient evidence", "no answer", "not mentioned"}
_ARTICLES = re.compile(r"\b(a|an|the)\b")


_UNITS = {"milligrams": "mg", "milligram": "mg", "grams": "g", "gram": "g", "kilograms": "kg", "kilogram": "kg",
          "micrograms": "mcg", "µg": "mcg", "percent": "%", "per cent": "%", "pct": "%", "millions": "million",
          "billions": "billion", "thousands": "thousand", "usd": "$", "dollars": "$", "dollar": "$"}
_UNIT_RE = re.compile(r"\b(" + "|".join(sorted(map(re.escape, _UNITS), key=len, reverse=True)) + r")\b")


def normalize_answer(text: str) -> str:
    text = _UNIT_RE.sub(lambda m: _UNITS[m.group(1)], text.lower())
    text = re.sub(r"\s*%", " %", text)
    text = "".join(ch for ch in text if ch not in set(string.punctuation) - {".", "%"})
    text = re.sub(r"(?<!\d)\.|\.(?!\d)", " ", text)  # keep decimal points only
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def same_answer(a: str, b: str) -> bool:
    na, nb = normalize_answer(a), normalize_answer(b)
    if not na or not nb:
        return False
    if na == nb:
        return True
    nums_a, nums_b = re.findall(r"\d+(?:\.\d+)?", na), re.findall(r"\d+(?:\.\d+)?", nb)
    if (nums_a or nums_b) and sorted(nums_a) != sorted(nums_b):
        return False
    ta, tb = na.split(), nb.split()
    if set(ta) <= set(tb) or set(tb) <= set(ta):
        return True
    if a.islower() and b.islower() and {w[:6] for w in ta} == {w[:6] for w in tb}:
        return True  # one common noun in two forms ("sumo wrestler", "sumo wrestling"); names are capitalized
    common = len(set(ta) & set(tb))
    if common == 0:
        return False
    p, r = common / len(set(ta)), common / len(set(tb))
    return 2 * p * r / (p + r) >= 0.6


@dataclass
class DocAnswer:
    doc_id: str
    answer: str
    citations: list[Citation]
    date: str | None = None
    authority: str | None = None
    source_group: str = ""  # near-duplicate documents share one: copies are one source, not several
    aligned: bool = False  # one side of a minimal pair (found by alignment, not by a model call)
    stance_support: float | None = None  # a yes/no stance read from the document's passages: how clearly


@dataclass
class Cluster:
    answer: str
    members: list[DocAnswer] = field(default_factory=list)

    @property
    def support(self) -> int:
        """Independent sources: a document and its copies (mirrors, excerpts) count once."""
        return len({m.source_group or m.doc_id for m in self.members})

    @property
    def newest(self) -> str:
        return max((m.date or "" for m in self.members), default="")

    @property
    def authority(self) -> int:
        return max((AUTHORITY_RANK.get((m.authority or "unknown").lower(), 0) for m in self.members), default=0)

    def candidate(self, note: str = "") -> ConflictCandidate:
        cites = [c for m in self.members for c in m.citations]
        return ConflictCandidate(answer=self.answer, citations=cites, support=self.support, note=note)


@dataclass
class ConflictDecision:
    kind: str  # "none" | "majority" | "metadata" | "conflict" | "subjects"
    winner: Cluster | None
    clusters: list[Cluster]
    note: str = ""
    # the candidates the answer states: every cluster of a conflict; for "subjects", each subject's answer
    # (or every side where one subject's sources disagree among themselves)
    shown: list[Cluster] | None = None

    @property
    def reported(self) -> list[Cluster]:
        return self.clusters if self.shown is None else self.shown


_CAPITALISED = re.compile(r"(?<![.!?]\s)(?<!^)\b([A-Z][\w-]+|\d[\d.,]*)")


def key_terms(question: str) -> set[str]:
    """Names and numbers in the question (not the first word): the entities a source must be about."""
    return {m.lower() for m in _CAPITALISED.findall(question.strip())}


_CLAUSE_BREAK = re.compile(r"[,;:?!()\"“”]")


def name_text(text: str) -> str:
    """Lower case, punctuation as spaces, padded: "Guns N' Roses" and "guns n roses" match as words."""
    return " " + " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split()) + " "


# A title before a name is the question's wording, rarely the page's ("Senator Tate", "Justice Ritchie").
HONORIFICS = {"senator", "justice", "judge", "general", "president", "governor", "mayor", "king", "queen",
              "prince", "princess", "sir", "dame", "lord", "lady", "dr", "mr", "mrs", "ms", "professor", "bishop",
              "archbishop", "pope", "captain", "colonel", "major", "lieutenant", "admiral", "sergeant",
              "representative", "congressman", "congresswoman", "chancellor", "premier", "minister"}


def key_names(question: str) -> list[str]:
    """Runs of capitalised words and numbers in the question ("Lewiston Maineiacs", "888 7th Avenue"), not
    its first word, as ``name_text``: whole names, where ``key_terms`` has single words ("Lewiston" also
    names a town in New York), without a title before a name (``HONORIFICS``)."""
    names = []
    for i, clause in enumerate(_CLAUSE_BREAK.split(question.strip())):
        run: list[str] = []
        for j, word in enumerate(clause.split() + [""]):
            if word and not (i == 0 and j == 0) and (word[0].isupper() or word[0].isdigit()):
                run.append(re.sub(r"['’]s$", "", word))  # "Terry McDonald's profession": his page says "McDonald"
            elif run:
                if len(run) > 1 and run[0].rstrip(".").lower() in HONORIFICS:
                    run = run[1:]  # "Senator Tate": his page says "Tate was a Republican member ..."
                name = name_text(" ".join(run))
                if any(len(t) > 1 for t in name.split()):  # "S/S" is no name to look for
                    names.append(name)
                run = []
    return list(dict.fromkeys(names))


def about_question(question: str, text: str) -> bool:
    """A source that mentions none of the question's names is about something else: its "answer"
    would be a different entity's fact, not a conflicting one."""
    terms = key_terms(question)
    if not terms:
        return True
    low = text.lower()
    return any(t in low for t in terms)


_COMPARISON = re.compile(r"\b(or|both|same|either|neither|than)\b", re.IGNORECASE)


def is_comparison(question: str) -> bool:
    """"Were A and B of the same nationality?", "Which is older, A or B?": the answer combines documents,
    so documents answering differently is expected, not a conflict."""
    return bool(_COMPARISON.search(question)) and len(key_terms(question)) >= 2


def conflict_documents(question: str, evidence: EvidenceSet, max_docs: int, margin: float,
                       name_margin: float = 0.0) -> list[str]:
    """The documents worth asking for their own answer (each costs one model call): about the question's
    names, nearly as relevant as the best document, at most ``max_docs``. Fewer than two: no conflict check.

    With ``name_margin``, also the documents whose subject carries every name of the question (a title
    that tells one of several subjects of that name apart, or the first words of an untitled document:
    ``_subject_named``), down to that margin below the best by the question's
    own similarity (the "query" score). The reranked relevance puts the best passage far ahead, since its
    text is in the expanded query: two albums named "Holy Smoke" scored 0.94 and 0.54, so the second
    artist was never asked. On RAMDocs (250 questions, mostly names shared by two subjects) the documents
    asked held every gold answer in 36 questions by relevance alone, ~112 with these; on 73 pooled
    HotpotQA questions 10 ask documents instead of 9 ("The Hard Easy (film)", "... (Adventure Time)")."""
    if is_comparison(question):
        return []
    ranked = evidence.doc_relevance()
    if not ranked:
        return []

    def text_of(doc_id: str) -> str:
        sub = evidence.for_doc(doc_id)
        return (evidence.passages[sub.sentences[0].passage_index].title or "") + " " + " ".join(
            s.text for s in sub.sentences)

    top = next(iter(ranked.values()))
    chosen = []
    for doc_id, rel in ranked.items():
        if rel < top - margin or len(chosen) >= max_docs:
            break
        if about_question(question, text_of(doc_id)):
            chosen.append(doc_id)
    names = key_names(question)
    if name_margin > 0 and names:
        by_query = evidence.doc_relevance("query")
        top = next(iter(by_query.values()))
        for doc_id, rel in by_query.items():
            if rel < top - name_margin or len(chosen) >= max_docs:
                break
            if doc_id not in chosen and _subject_named(evidence, doc_id, names):
                chosen.append(doc_id)
    return chosen if len(chosen) >= 2 else []


OPENING_CHARS = 40


def _subject_named(evidence: EvidenceSet, doc_id: str, names: list[str]) -> bool:
    """Whether a document's subject carries every name of the question. A titled page counts only by a
    title that tells one of several subjects of that name apart ("Holy Smoke (Peter Murphy album)"): pages
    titled with the name alone are one subject's pages (a monograph, a press release), which the relevance
    margin decides on, and a name elsewhere is context (band pages opening "South Korean boy group" gave
    2014 S/S a three-way conflict once its gold pages were removed). An untitled document (RAMDocs' pages)
    counts by its first words."""
    title = next((p.title or "" for p in evidence.passages if p.chunk.doc_id == doc_id), "")
    if title:
        subject = bare_title(title)
        return subject != title.strip() and all(n in name_text(subject) for n in names)
    return all(n in name_text(evidence.opening(doc_id)[:OPENING_CHARS]) for n in names)


# "Van Horn High School (Texas) Van Horn High School is a public ...": an untitled page that opens with its
# own title, disambiguation included. Not a parenthesis after a clause ("Roland Almon Ritchie, (June 19,
# 1910 – June 5, 1988) was ..."): a life span or a birth date says nothing of which subject it is.
_OPENING_TITLE = re.compile(r"^\s*(?P<name>[^()\n,;:]{1,100}?)\s*\((?P<qualifier>[^()\n]{1,60})\)")
_NOT_QUALIFIER = re.compile(r"\d{3,4}\s*[–-]|^\s*(?:born|b\.|died|d\.)\s", re.IGNORECASE)


def subject_qualifier(evidence: EvidenceSet, doc_id: str, names: list[str]) -> str | None:
    """Which of several subjects of the question's name a document is about: the disambiguation of its
    title ("Holy Smoke (Peter Murphy album)" -> "Peter Murphy album"), or of the title an untitled document
    opens with, when the name before it carries every name of the question. None when the document does
    not say (no qualifier, another name, the opening not retrieved)."""
    if not names:
        return None
    title = next((p.title or "" for p in evidence.passages if p.chunk.doc_id == doc_id), "")
    if title:
        m = _OPENING_TITLE.match(title)
    else:
        m = _OPENING_TITLE.match(evidence.opening(doc_id))
    if m is None or _NOT_QUALIFIER.search(m.group("qualifier")) \
            or not all(n in name_text(m.group("name")) for n in names):
        return None
    return " ".join(m.group("qualifier").split()) or None


_WORDS = re.compile(r"[a-z0-9]+")
_EDGE_PUNCT = ".,;:!?()[]\"'“”‘’"


@lru_cache(maxsize=512)  # the same passages are compared in rerank, gate routing and the conflict stage
def _shingles(text: str, n: int = 3) -> frozenset[tuple[str, ...]]:
    words = _WORDS.findall(text.lower())
    return frozenset(tuple(words[i:i + n]) for i in range(max(1, len(words) - n + 1))) if words else frozenset()


def near_duplicate(a: str, b: str, threshold: float = 0.5) -> bool:
    """Whether one text is mostly a copy of the other (3-word shingle containment): a mirror, an excerpt,
    or an edited version. A swapped answer changes a few shingles, not half of them."""
    sa, sb = _shingles(a), _shingles(b)
    return bool(sa and sb) and len(sa & sb) / min(len(sa), len(sb)) >= threshold


def source_groups(passages: list[ScoredPassage]) -> dict[str, str]:
    """doc_id -> a representative doc_id shared by near-duplicate documents (union-find over their shown text).
    Copies of one text are one source: two copies against one original is a tie, not a majority."""
    texts: dict[str, str] = {}
    for p in passages:
        texts[p.chunk.doc_id] = (texts.get(p.chunk.doc_id, "") + " " + p.chunk.text).strip()
    parent = {d: d for d in texts}

    def find(d: str) -> str:
        while parent[d] != d:
            parent[d] = parent[parent[d]]
            d = parent[d]
        return d

    ids = list(texts)
    for i, a in enumerate(ids):
        for b in ids[i + 1:]:
            if find(a) != find(b) and near_duplicate(texts[a], texts[b]):
                parent[find(b)] = find(a)
    return {d: find(d) for d in ids}


def near_copies(chosen: list[ScoredPassage], candidates: list[ScoredPassage], limit: int) -> list[ScoredPassage]:
    """Candidates (not chosen) from other documents that nearly copy a chosen passage but not exactly: the
    reranker scores copies alike, so a cut-off can keep one version of a text and drop the one that
    disagrees with it. Identical mirrors add nothing and stay out."""
    taken = {p.chunk.doc_id for p in chosen}
    texts = {" ".join(p.chunk.text.split()) for p in chosen}
    out: list[ScoredPassage] = []
    for p in candidates:
        if len(out) >= limit:
            break
        text = " ".join(p.chunk.text.split())
        if p.chunk.doc_id in taken or text in texts:
            continue
        if any(near_duplicate(p.chunk.text, c.chunk.text) for c in chosen):
            out.append(p)
            taken.add(p.chunk.doc_id)
            texts.add(text)
    return out


_NAME_END = tuple(",;:)].")


def _name_like(token: str) -> bool:
    return token[:1].isupper()


def _cosmetic(a: list[str], b: list[str]) -> bool:
    """An edit that changes no claim: punctuation, case or spacing ("Kalamazoo" vs "Kalamazoo.", "#761" vs
    "# 761"), words only added, or a one-letter spelling fix of a word ("chuch" vs "church"). On RAMDocs
    such edits beside the swapped year made the copy of a page read as agreeing with it ("Kalamazoo" on
    both sides)."""
    ka, kb = (re.sub(r"\W", "", unicodedata.normalize("NFKC", " ".join(t)).casefold()) for t in (a, b))
    if ka == kb:
        return True
    wa, wb = ({re.sub(r"\W", "", t.casefold()) for t in x} - {""} for x in (a, b))
    if wa < wb or wb < wa:
        return True  # words only added ("1607, currently" vs "1607"): rewording, like an insertion
    if len(a) != 1 or len(b) != 1 or min(len(ka), len(kb)) < 4 or any(ch.isdigit() for ch in ka + kb):
        return False
    return _one_letter_apart(ka, kb)


def _one_letter_apart(x: str, y: str) -> bool:
    """One letter inserted, deleted or replaced."""
    if len(x) > len(y):
        x, y = y, x
    if len(y) - len(x) > 1:
        return False
    i = next((k for k, (cx, cy) in enumerate(zip(x, y)) if cx != cy), len(x))
    return x[i + (len(x) == len(y)):] == y[i + 1:]


def _swapped_span(wa: list[str], wb: list[str]) -> tuple[str, str] | None:
    """The one short span two nearly identical sentences disagree on, widened to the whole name
    ("New York City" vs "New Orleans", not "York City" vs "Orleans"); None for any other kind of edit.
    Edits that change no claim (``_cosmetic``) are not counted."""
    sm = SequenceMatcher(a=wa, b=wb, autojunk=False)
    if sm.ratio() < 0.6:
        return None
    ops = [op for op in sm.get_opcodes() if op[0] != "equal" and not _cosmetic(wa[op[1]:op[2]], wb[op[3]:op[4]])]
    # insertions and deletions alone are rewording, not a swapped answer; beside one swap they are an added
    # caption or clause ("[Close up view of the house]" in a copy that also changed "1912" to "1895")
    ops = [op for op in ops if op[0] == "replace"]
    if not ops:
        return None
    pairs = set()
    for _, i1, i2, j1, j2 in ops:
        # widen only a diff that starts (ends) inside a name on both sides: "managed Manchester United from
        # 1986" vs "managed Manchester United 3,677" differ in "from 1986", not in "Manchester United from 1986";
        # a comma or a bracket ends it ("in Cloutierville, Louisiana" vs "in New Orleans, Louisiana" is one swap
        # with the sentence's "(Cloutierville," vs "(New Orleans,")
        if _name_like(wa[i1]) and _name_like(wb[j1]):
            while i1 > 0 and j1 > 0 and wa[i1 - 1] == wb[j1 - 1] and _name_like(wa[i1 - 1]):
                i1, j1 = i1 - 1, j1 - 1
        if _name_like(wa[i2 - 1]) and _name_like(wb[j2 - 1]) and not (
                wa[i2 - 1][-1:] in _NAME_END or wb[j2 - 1][-1:] in _NAME_END):
            while i2 < len(wa) and j2 < len(wb) and wa[i2] == wb[j2] and _name_like(wa[i2]):
                i2, j2 = i2 + 1, j2 + 1
        a, b = wa[i1:i2], wb[j1:j2]
        if len(a) > 1 and all(_WORDS.fullmatch(t.strip(_EDGE_PUNCT).replace(",", "").replace(".", "")) and
                              t.strip(_EDGE_PUNCT)[:1].isdigit() for t in a + b):
            return None  # several numbers changed at once (a table row): no single answer to report
        pairs.add((" ".join(a).strip(_EDGE_PUNCT), " ".join(b).strip(_EDGE_PUNCT)))
    if len(pairs) != 1:
        return None
    a, b = pairs.pop()
    if not (content_words(a) and content_words(b)) or max(len(a.split()), len(b.split())) > 6:
        return None
    return a, b


def _aligned_answer(p: ScoredPassage, answer: str, start: int, end: int) -> DocAnswer:
    """One side of an aligned pair: its span as the answer, its sentence (chunk offsets) as the citation."""
    cite = Citation(doc_id=p.chunk.doc_id, chunk_id=p.chunk.id, source=p.source, title=p.title,
                    start=p.chunk.start + start, end=p.chunk.start + end, quote=p.chunk.text[start:end])
    return DocAnswer(p.chunk.doc_id, answer, [cite], date=_s(p.metadata.get("date")),
                     authority=_s(p.metadata.get("authority")), aligned=True)


def _different_subjects(pa: ScoredPassage, pb: ScoredPassage) -> bool:
    """Pages of a series ("2012–13 VCU Rams men's basketball team", "2013–14 ...") share their wording
    and differ where each describes its own subject (its season, its coach's year): two subjects under two
    titles, not two claims about one. A copy of a page (a mirror, a tampered version) keeps its title."""
    ta, tb = (name_text(bare_title(p.title or "")) for p in (pa, pb))
    return bool(ta.strip() and tb.strip()) and ta != tb


def minimal_pair_answers(question: str, evidence: EvidenceSet) -> list[DocAnswer]:
    """Sources that agree word for word except for a short span in a sentence about the question (it shares
    a word with the question, or it was picked as evidence for it): each side's span is that source's
    answer. Found by alignment, with no model call, so a tampered copy cannot be misread into agreement;
    the verifier still checks each side against its quote."""
    q_words = content_words(question)
    unique = list({p.chunk.id: p for p in evidence.passages}.values())
    shown = {(s.doc_id, s.start) for s in evidence.sentences}
    sentences = {p.chunk.id: [(s, e, p.chunk.text[s:e].split()) for s, e in split_sentences(p.chunk.text)]
                 for p in unique}
    best: dict[tuple[str, str], tuple[int, DocAnswer, DocAnswer]] = {}
    for i, pa in enumerate(unique):
        for pb in unique[i + 1:]:
            if (pa.chunk.doc_id == pb.chunk.doc_id or _different_subjects(pa, pb)
                    or not near_duplicate(pa.chunk.text, pb.chunk.text)):
                continue
            for sa, ea, wa in sentences[pa.chunk.id]:
                overlap = len(q_words & content_words(" ".join(wa))) + ((pa.chunk.doc_id, pa.chunk.start + sa) in shown)
                if not overlap:
                    continue
                for sb, eb, wb in sentences[pb.chunk.id]:
                    if wa == wb or (swap := _swapped_span(wa, wb)) is None:
                        continue
                    key = (pa.chunk.doc_id, pb.chunk.doc_id)
                    if key not in best or overlap > best[key][0]:
                        best[key] = (overlap, _aligned_answer(pa, swap[0], sa, ea), _aligned_answer(pb, swap[1], sb, eb))
    answers: dict[tuple[str, str], DocAnswer] = {}
    for _, a, b in sorted(best.values(), key=lambda t: -t[0]):
        for ans in (a, b):
            answers.setdefault((ans.doc_id, normalize_answer(ans.answer)), ans)
    return list(answers.values())


def takes_up(question: str, text: str) -> bool:
    """Whether a sentence of ``text`` takes up what a yes/no question asks, not only whom it is about: a
    third of the question's words beyond its names (compared by their first five letters, so "elect" meets
    "elected"). The stance prompt reads a passage that only mentions the subject as "no" (P(yes) 0.13-0.35
    for six such passages), so it must not vote; 95% of ConflictQA's 600 arguing passages pass."""
    asked = {w[:5] for w in content_words(question) - key_terms(question)}
    if not asked:
        return True
    best = max((len(asked & {w[:5] for w in content_words(text[s:e])}) for s, e in split_sentences(text)), default=0)
    return best >= len(asked) / 3


def polar_stances(generator, question: str, evidence: EvidenceSet, doc_ids: list[str], center: float,
                  margin: float, at_least: int = 2) -> tuple[list[DocAnswer], int]:
    """Each document's yes/no stance: P(yes) of one stance prompt over the document's shown passages (one
    prefill each, no decoding). Above ``center + margin`` it says yes, below ``center - margin`` no, between
    it takes no side, and a document none of whose sentences takes up the question (``takes_up``) is not
    asked. Fewer than ``at_least`` documents left: none is asked (one stance cannot disagree with itself).
    Its citation is its sentence nearest the question. Returns (stances, prompt tokens)."""
    texts: dict[str, list[str]] = {}
    for s in evidence.sentences:
        if s.doc_id in doc_ids:
            chunk = evidence.passages[s.passage_index].chunk.text
            if chunk not in texts.setdefault(s.doc_id, []):
                texts[s.doc_id].append(chunk)
    ids = [d for d in doc_ids if d in texts and takes_up(question, " ".join(texts[d]))]
    if len(ids) < at_least or not ids:
        return [], 0
    probs = generator.yes_probability([stance_messages(question, as_data(" ".join(texts[d]))) for d in ids])
    usage = getattr(generator, "last_usage", None)  # backends that count tokens
    results = []
    for doc_id, p in zip(ids, probs):
        if abs(p - center) < margin:
            continue
        sub = evidence.for_doc(doc_id)
        stating = best_covering(question, sub, max_sentences=1)
        if not stating:
            continue
        meta = evidence.passages[sub.sentences[0].passage_index].metadata
        results.append(DocAnswer(doc_id, "yes" if p > center else "no", [s.citation() for s in stating],
                                 date=_s(meta.get("date")), authority=_s(meta.get("authority")),
                                 stance_support=round(min(1.0, max(0.0, 0.5 + abs(p - center))), 4)))
    return results, (usage.prompt_tokens if usage else 0)


def extract_per_document(generator, question: str, evidence: EvidenceSet, doc_ids: list[str], max_tokens: int = 48,
                         sentences_per_doc: int = 3):
    """One constrained call per document; returns (answers, prompt_tokens, completion_tokens)."""
    results: list[DocAnswer] = []
    ptoks = ctoks = 0
    schema = extract_schema()
    # Best document last: its block opens the answer prompt's evidence too, so the answer call that follows
    # reuses that KV prefix. The calls are independent, so their order changes nothing else.
    for doc_id in reversed(doc_ids):
        sub = evidence.for_doc(doc_id)
        if not sub.sentences:
            continue
        # The sentences nearest the question carry this document's answer; the rest would only be prefilled.
        best = {s.id for s in best_covering(question, sub, max_sentences=sentences_per_doc)} or {sub.ids[0]}
        sub = EvidenceSet(passages=sub.passages, sentences=[s for s in sub.sentences if s.id in best])
        try:
            comp = generator.chat(extract_messages(question, sub.render()), json_schema=schema,
                                  max_tokens=max_tokens)
        except GenerationError:
            continue  # garbage from one document's call costs that document's vote, nothing else
        ptoks += comp.prompt_tokens
        ctoks += comp.completion_tokens
        try:
            answer = str(json.loads(comp.text).get("answer", "")).strip()
        except (ValueError, AttributeError):
            continue
        if normalize_answer(answer) in NO_ANSWERS:
            continue
        required = None if normalize_answer(answer) in ("yes", "no") else content_words(answer)
        stating = best_covering(f"{question} {answer}", sub, max_sentences=1, required=required)
        if not stating:
            continue  # the document does not state what the model says it does
        meta = evidence.passages[sub.sentences[0].passage_index].metadata
        results.append(DocAnswer(doc_id, answer, [s.citation() for s in stating],
                                 date=_s(meta.get("date")), authority=_s(meta.get("authority"))))
    return results[::-1], ptoks, ctoks


def _s(v) -> str | None:
    return None if v is None else str(v)


def cluster_answers(answers: list[DocAnswer]) -> list[Cluster]:
    clusters: list[Cluster] = []
    for a in answers:
        for c in clusters:
            if same_answer(a.answer, c.answer):
                c.members.append(a)
                # the shortest phrasing is the canonical short answer
                if len(normalize_answer(a.answer)) < len(normalize_answer(c.answer)):
                    c.answer = a.answer
                break
        else:
            clusters.append(Cluster(a.answer, [a]))
    return sorted(clusters, key=lambda c: -c.support)


def subject_groups(clusters: list[Cluster], subjects: dict[str, str | None]) -> list[list[Cluster]]:
    """Clusters split by the subject their documents are about (``subject_qualifier``): answers from pages
    about different subjects of one name ("Van Horn High School (Missouri)", "(Texas)") answer different
    questions, so they are never weighed against each other. Clusters sharing a subject stay together, and
    so do clusters whose documents are copies of one text (``source_group``): a tampered copy may change
    the title's qualifier with the answer ("Kate Chopin House (New Orleans, Louisiana)"). Clusters none of
    whose documents says its subject join the best-supported group, where they are weighed as before.
    One group: the subjects do not tell the answers apart."""
    groups: list[tuple[set[tuple[str, str]], list[Cluster], bool]] = []  # (keys, clusters, subject known)
    for c in clusters:  # best-supported first (cluster_answers' order)
        keys = {("subject", name_text(q)) for m in c.members if (q := subjects.get(m.doc_id))}
        known = bool(keys)
        keys |= {("source", m.source_group or m.doc_id) for m in c.members}
        joined = [g for g in groups if g[0] & keys]
        merged = (keys.union(*(g[0] for g in joined)), [x for g in joined for x in g[1]] + [c],
                  known or any(g[2] for g in joined))
        groups = [g for g in groups if not any(g is j for j in joined)] + [merged]
    placed = [g[1] for g in groups if g[2]]
    if len(placed) < 2:
        return [clusters]
    unplaced = [c for g in groups if not g[2] for c in g[1]]
    best = max(range(len(placed)), key=lambda i: max(c.support for c in placed[i]))
    placed[best] = sorted(placed[best] + unplaced, key=lambda c: -c.support)
    return sorted(placed, key=lambda g: -max(c.support for c in g))


def decide(clusters: list[Cluster], subjects: dict[str, str | None] | None = None) -> ConflictDecision:
    """The explicit decision over clustered answers. With ``subjects`` (doc_id -> its subject qualifier),
    answers about different subjects of the question's name are each reported ("subjects"), and only
    answers about one subject are weighed against each other: a page about another "Van Horn High School"
    is not a single source dissenting from the majority."""
    groups = subject_groups(clusters, subjects or {})
    if len(groups) > 1:
        shown: list[Cluster] = []
        for group in groups:
            part = _decide_one(group)
            shown += [part.winner] if part.winner is not None else part.clusters
        named = "; ".join(f"{c.answer} ({q})" for c in shown
                          if (q := next((subjects[m.doc_id] for m in c.members if subjects.get(m.doc_id)), None)))
        return ConflictDecision("subjects", None, clusters,
                                f"The documents are about different subjects of this name: {named}.", shown=shown)
    return _decide_one(clusters)


def _decide_one(clusters: list[Cluster]) -> ConflictDecision:
    if len(clusters) <= 1:
        return ConflictDecision("none", clusters[0] if clusters else None, clusters)
    top, second = clusters[0], clusters[1]
    if top.support >= 2 and top.support > second.support and all(c.support == 1 for c in clusters[1:]):
        others = ", ".join(f'"{c.answer}"' for c in clusters[1:])
        return ConflictDecision("majority", top, clusters,
                                f"{top.support} sources agree; a single source says {others}.")
    leaders = [c for c in clusters if c.support == top.support]
    by_date = sorted(leaders, key=lambda c: c.newest, reverse=True)
    if all(c.newest for c in leaders) and by_date[0].newest > by_date[1].newest:
        w = by_date[0]
        return ConflictDecision("metadata", w, clusters,
                                f"Sources disagree; the most recent source ({w.newest}) is preferred.")
    by_auth = sorted(leaders, key=lambda c: c.authority, reverse=True)
    if by_auth[0].authority > by_auth[1].authority:
        w = by_auth[0]
        label = next((m.authority for m in w.members if m.authority), "higher")
        return ConflictDecision("metadata", w, clusters,
                                f"Sources disagree; the more authoritative source ({label}) is preferred.")
    return ConflictDecision("conflict", None, clusters, "Sources disagree and nothing in them settles which is right.")
