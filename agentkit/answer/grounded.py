"""Grounded answering stages: retrieve, rerank, build evidence, generate (constrained), verify, resolve
conflicts, finalize. Each stage is a plain function over typed values; the LangGraph graph in
``agentkit.graph`` wires them together and owns the loops.
"""

from __future__ import annotations

import json
import math
import re
import time

from pydantic import BaseModel, Field

from agentkit.answer.conflicts import (
    ConflictDecision,
    cluster_answers,
    conflict_documents,
    decide,
    extract_per_document,
    is_comparison,
    key_names,
    minimal_pair_answers,
    name_text,
    normalize_answer,
    polar_stances,
    source_groups,
    subject_qualifier,
)
from agentkit.answer.evidence import EvidenceSet, best_covering, content_words, relevance
from agentkit.answer.prompts import INSUFFICIENT, POLAR_ANSWERS, answer_messages, answer_schema, is_polar
from agentkit.errors import GenerationError, InvalidQuestionError
from agentkit.ingest import split_sentences
from agentkit.retrieve.links import names_title
from agentkit.settings import Settings
from agentkit.types import Answer, AnswerSentence, AnswerStatus, Citation, ScoredPassage, TraceStep


def validate_question(question: str, settings: Settings) -> str:
    if not isinstance(question, str):
        raise InvalidQuestionError("the question must be a string")
    q = " ".join(question.split())
    if not q:
        raise InvalidQuestionError("the question is empty")
    if len(q) > settings.max_question_chars:
        raise InvalidQuestionError(
            f"the question has {len(q)} characters; the limit is {settings.max_question_chars} "
            "(set AGENTKIT_MAX_QUESTION_CHARS to change it)")
    return q


def question_similarity(ranked: list[ScoredPassage]) -> float:
    """The question's own embedding similarity to the closest passage found (retrieval's ``dense`` score)."""
    return max((p.scores.get("dense", 0.0) for p in ranked), default=0.0)


def out_of_scope(question: str, ranked: list[ScoredPassage], threshold: float) -> bool:
    """Nothing in the allowed corpora is about the question: no passage at all, or the question's own
    embedding similarity to every passage found is below ``threshold`` and none carries any of its names
    (``key_names``: whole runs of capitalised words and numbers). The question's own similarity, not the
    reranker's: that one compares the best passage with a query that holds its own text. A name found in
    a passage keeps the question in scope, since the embedding model does not know invented names ("How
    many sites took part in the OCEAN-AF trial?": similarity 0.32, and its trial is in the corpus)."""
    if not ranked:
        return True
    if question_similarity(ranked) >= threshold:
        return False
    names = [n for n in key_names(question) if n.strip()]
    return not any(n in name_text(f"{p.title or ''} {p.text}") for p in ranked for n in names)


def merge_results(results: list[list[ScoredPassage]], k: int) -> list[ScoredPassage]:
    """Results from several corpora: their fused RRF scores share one scale, so sort and cut."""
    merged = [p for r in results for p in r]
    merged.sort(key=lambda p: -p.score)
    return merged[:k]


class Draft(BaseModel):
    answer: str
    sentences: list[tuple[str, list[str]]] = Field(default_factory=list)  # (text, cited evidence ids)
    calculated: bool = False  # written by the calculate stage: cited numbers + the calculator's result
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    drafted_tokens: int = 0
    seconds: float = 0.0
    prefill_seconds: float | None = None
    decode_seconds: float | None = None
    parse_error: str | None = None
    answer_prob: float | None = Field(None, description="geometric mean probability of the short answer's tokens")
    answer_min_prob: float | None = Field(None, description="probability of the short answer's least likely token")

    @property
    def insufficient(self) -> bool:
        return normalize_answer(self.answer) in {"insufficient evidence", "none", ""} or self.parse_error is not None


def computation_ids(extra: list[str]) -> list[str]:
    return [f"C{i}" for i in range(1, len(extra) + 1)]


def render_with_computations(evidence: EvidenceSet, extra: list[str]) -> str:
    """Tool results (calculator, dates) are shown beside the passages with C-ids; they can support a
    sentence but never count as its citation: a sentence must still cite a document."""
    block = evidence.render()
    if extra:
        block += "\n<computations>\n" + "\n".join(f"[{cid}] {c}" for cid, c in zip(computation_ids(extra), extra))
        block += "\n</computations>"
    return block


def generate_draft(generator, question: str, evidence: EvidenceSet, settings: Settings,
                   feedback: str | None = None, extra: list[str] | None = None,
                   answers: tuple[str, ...] | None = None) -> Draft:
    """One constrained answer call. ``answers`` closes the short answer to a fixed set (default: yes / no /
    insufficient evidence for a yes/no question, free otherwise)."""
    extra = extra or []
    ids = evidence.ids + computation_ids(extra)
    schema = answer_schema(ids, max_sentences=min(2, settings.max_answer_sentences),
                           max_sentence_chars=settings.max_sentence_chars,
                           answers=answers or (POLAR_ANSWERS if is_polar(question) else None))
    t0 = time.perf_counter()
    try:
        comp = generator.chat(answer_messages(question, render_with_computations(evidence, extra), feedback),
                              json_schema=schema, max_tokens=settings.max_answer_tokens)
    except GenerationError as exc:  # garbage or truncated output: an explicit failure, never an answer
        return Draft(answer="", parse_error=str(exc), seconds=time.perf_counter() - t0)
    draft = parse_draft(comp.text, set(ids))
    draft.answer_prob, draft.answer_min_prob = answer_token_probs(comp)
    draft.prompt_tokens, draft.completion_tokens = comp.prompt_tokens, comp.completion_tokens
    draft.cached_tokens, draft.drafted_tokens = comp.cached_tokens, comp.drafted_tokens
    draft.prefill_seconds, draft.decode_seconds = comp.prefill_seconds, comp.decode_seconds
    draft.seconds = time.perf_counter() - t0
    return draft


_ANSWER_VALUE = re.compile(r'"answer"\s*:\s*"((?:[^"\\]|\\.)*)"')


def answer_token_probs(comp) -> tuple[float | None, float | None]:
    """How sure the model was of the short answer it wrote: the geometric mean and the minimum probability
    of its tokens (None when the backend reports no log-probabilities)."""
    m = _ANSWER_VALUE.search(comp.text)
    lps = comp.span_logprobs(*m.span(1)) if m and m.end(1) > m.start(1) else []
    if not lps:
        return None, None
    return math.exp(sum(lps) / len(lps)), math.exp(min(lps))


def parse_draft(text: str, allowed_ids: set[str]) -> Draft:
    """Parse the model's JSON. Anything malformed becomes an explicit parse error, never an answer."""
    try:
        data = json.loads(text)
        if not isinstance(data, dict):
            raise TypeError("not a JSON object")
        answer = str(data.get("answer", "")).strip()
        sentences = []
        for item in data.get("sentences") or []:
            if not isinstance(item, dict):
                continue
            s_text = " ".join(str(item.get("text", "")).split())
            cites = [str(c) for c in dict.fromkeys(item.get("cite") or []) if str(c) in allowed_ids]
            if s_text:
                sentences.append((s_text, cites))
        return Draft(answer=answer, sentences=sentences)
    except (ValueError, TypeError) as exc:
        return Draft(answer="", sentences=[], parse_error=f"unparsable generator output: {exc}")


class VerifiedDraft(BaseModel):
    answer: str
    sentences: list[AnswerSentence] = Field(default_factory=list)
    dropped: list[str] = Field(default_factory=list)
    seconds: float = 0.0
    # The sentences held but the short answer did not (not stated, or not an answer to the question). A
    # regeneration repeats it: in 20 such regenerations on HotpotQA dev, 16 gave the same answer and the
    # two that passed were wrong, so such a draft ends in abstention instead.
    answer_rejected: bool = False


def contributing_citations(claim: str, cited: list, question: str = "", answer: str = "") -> list:
    """The cited evidence sentences that each add something to the claim: small models list every id they
    were shown, and a paragraph that adds nothing is not the claim's support (citation precision). Greedy
    cover over the claim's content words, plus the names the question asks about and the short answer,
    so a comparison keeps one citation per thing compared."""
    if len(cited) < 2:
        return cited
    want, names = content_words(f"{claim} {answer}"), key_names(question)
    words = []
    for s in cited:
        text = f"{s.title} {s.shown or s.text}"
        words.append((want & content_words(text)) | {n for n in names if name_text(n) in name_text(text)})
    kept, covered = set(), set()
    for i in sorted(range(len(cited)), key=lambda i: -len(words[i])):
        if not kept or words[i] - covered:
            kept.add(i)
            covered |= words[i]
    return [s for i, s in enumerate(cited) if i in kept]


def verify_draft(draft: Draft, evidence: EvidenceSet, verifier, settings: Settings,
                 extra: list[str] | None = None, question: str = "") -> VerifiedDraft:
    """Keep only sentences whose cited evidence entails them; each kept sentence carries its citations.

    A sentence whose own citations do not support it gets one repair attempt: small models often cite a
    neighbouring sentence, so the evidence sentences that best cover the claim are tried instead. Repaired
    citations are still ids the model was shown, and they are verified like any other.
    """
    t0 = time.perf_counter()
    comps = dict(zip(computation_ids(extra or []), extra or []))
    cited = []
    for text, ids in draft.sentences:
        sents = [s for s in (evidence.by_id(i) for i in ids) if s is not None]
        sents = contributing_citations(text, sents, question, draft.answer)
        cited.append((sents, [comps[i] for i in ids if i in comps]))
    supports = _support(verifier, [(text, sents, more) for (text, _), (sents, more) in zip(draft.sentences, cited)])

    for i, ((text, _), (sents, more)) in enumerate(zip(draft.sentences, cited)):
        if sents and supports[i] >= settings.entailment_threshold:
            continue
        alternative = best_covering(text, evidence)
        if alternative and {s.id for s in alternative} != {s.id for s in sents}:
            p = _support(verifier, [(text, alternative, more)])[0]
            if p >= settings.entailment_threshold:
                cited[i], supports[i] = (alternative, more), p

    kept, dropped = [], []
    for (text, _), (sents, _more), p in zip(draft.sentences, cited, supports):
        if sents and p >= settings.entailment_threshold:
            kept.append(AnswerSentence(text=text, citations=[s.citation() for s in sents], support=round(p, 4)))
        else:
            dropped.append(text)
    return VerifiedDraft(answer=draft.answer, sentences=kept, dropped=dropped, seconds=time.perf_counter() - t0)


def verify_calculation(draft: Draft, evidence: EvidenceSet) -> VerifiedDraft:
    """A calculated sentence is supported by construction: each number in it was found in the sentences it
    cites and the calculator computed the result. An LLM verifier cannot check arithmetic reliably (it
    rejected right calculations in testing), so neither it nor the answer check is asked; the calculate
    stage already required a cited row about the question."""
    kept = []
    for text, ids in draft.sentences:
        sents = [x for x in (evidence.by_id(i) for i in ids) if x is not None]
        if sents:
            kept.append(AnswerSentence(text=text, citations=[x.citation() for x in sents], support=1.0))
    return VerifiedDraft(answer=draft.answer, sentences=kept,
                         dropped=[] if kept else [t for t, _ in draft.sentences])


def _support(verifier, items) -> list[float]:
    """items: (claim, cited evidence sentences, extra premises). No document citation: no support."""
    out = [0.0] * len(items)
    todo = [i for i, (_, sents, _) in enumerate(items) if sents]
    if not todo:
        return out
    if verifier is None:
        for i in todo:
            out[i] = 1.0
        return out
    scores = verifier.support([(items[i][0], [s.shown or s.text for s in items[i][1]] + list(items[i][2]))
                               for i in todo])
    for i, p in zip(todo, scores):
        out[i] = float(p)
    return out


def answer_is_grounded(answer: str, sentences: list[AnswerSentence]) -> bool:
    """The short answer must be stated by the verified sentences or their quotes (yes/no excepted)."""
    norm = normalize_answer(answer)
    if norm in {"yes", "no"}:
        return True
    words = content_words(answer)
    if not words:
        return False
    pool = set()
    for s in sentences:
        pool |= content_words(s.text)
        for c in s.citations:
            # the title names what the quote's "he" or "it" is: "His film credits include..." in "David Weissman"
            pool |= content_words(c.quote) | content_words(c.title or "")
    return len(words & pool) / len(words) >= 0.5


def cites_question_entity(question: str, verified: VerifiedDraft, evidence: EvidenceSet | None = None) -> bool:
    """A whole name of the question ("Lewiston Maineiacs") is in a cited quote or its document's title (for
    an untitled document, its first sentence, which names what its "it" is, given ``evidence``). An
    answer whose citations name none of them is a fact about something else ("the main rink can seat
    1,400" of another arena), however fluent; the small verifier passed such answers at P 0.84. A yes/no
    comparison needs every name cited. Only the documents count, not the model's own sentences. A
    question without names passes."""
    names = key_names(question)
    if not names:
        return True
    cites = [c for s in verified.sentences for c in s.citations]
    cited = name_text(" ".join(f"{c.quote} {c.title or _first_sentence(evidence, c.doc_id)}" for c in cites))
    if is_polar(question) and is_comparison(question):
        # "Were A and B of the same nationality?": a yes or no needs evidence about each of them
        return all(n in cited for n in names)
    return any(n in cited for n in names)


# what the question asks for, not what it says about it: shared, they tie nothing to the question
_ANSWER_TYPE_WORDS = frozenset([
    "year", "years", "date", "day", "month", "name", "names", "called", "number", "many", "much", "long",
    "old",
])


def relation_words(question: str) -> set[str]:
    """The question's content words outside its names and answer types ("founded" in "In what year was
    the Harbor Museum founded?"), as 5-letter stems."""
    capitalised = {w.lower() for w in re.findall(r"\b[A-Z][A-Za-z0-9]*", question)}
    return {w[:5] for w in content_words(question) - capitalised - _ANSWER_TYPE_WORDS
            if len(w) > 2 and not w.isdigit()}


def cites_question_relation(question: str, verified: VerifiedDraft) -> bool:
    """A cited quote shares a word with the question beyond its names ("VCU was founded in 1838" for "...
    founded in what year?"), or the question has no such word. Asked after a reflection, where the
    rejected answer's sentences are left out and the model takes another number from the same pages: "In
    2019 the Harbor Museum welcomed 212,000 visitors" passed the answer check (P 0.66) as the year the
    museum was founded."""
    wanted = relation_words(question)
    if not wanted:
        return True
    quotes = " ".join(c.quote for s in verified.sentences for c in s.citations)
    return bool(wanted & {w[:5] for w in content_words(quotes)})


def _first_sentence(evidence: EvidenceSet | None, doc_id: str) -> str:
    """An untitled document's opening sentence: what it is about (RAMDocs' pages carry no title field)."""
    text = evidence.opening(doc_id) if evidence is not None else ""
    spans = split_sentences(text)
    return text[spans[0][0]:spans[0][1]] if spans else ""


def answer_check(question: str, verified: VerifiedDraft, verifier, settings: Settings,
                 extra: list[str] | None = None, evidence: EvidenceSet | None = None) -> float | None:
    """Every sentence can be entailed by its citation while the short answer is about something else (a
    copied fact about a neighbouring entity). P(the cited quotes, with any tool computations, answer the
    question with the short answer); None when the check is off. With ``evidence``, a cited table row is
    given as the model saw it, labelled with its column headers."""
    if verifier is None or settings.answer_check_threshold <= 0:
        return None
    shown = {(x.doc_id, x.start): x.shown for x in evidence.sentences if x.shown} if evidence is not None else {}
    # Quotes without their page titles. With titles (fc75f70 vs dc21b32) the verifier passed two more
    # answers whose gold paragraphs had been removed (drop-gold abstention 0.867 -> 0.800), while on 30
    # pooled questions it passed one right answer and rejected two wrong ones (F1 0.569 -> 0.602, citation
    # precision 0.829 -> 0.871). Undecided at n <= 30; abstaining on missing evidence is kept.
    quotes = list(dict.fromkeys(shown.get((c.doc_id, c.start)) or c.quote
                                for s in verified.sentences for c in s.citations)) + list(extra or [])
    return float(verifier.support([(answer_claim(question, verified.answer), quotes)])[0])


def answer_check_bar(draft: Draft, settings: Settings) -> float:
    """The answer check's pass mark for this draft: higher when the generator itself hesitated over the
    short answer, lower when it was sure. Replayed on HotpotQA drafts, the generator's probability alone
    as a veto-waiver (p >= 0.9 passes) wrote answers whose evidence had been removed ("Robert Erskine
    Childers" at p 0.957); as a shift of the bar it only moves borderline checks."""
    base = settings.answer_check_threshold
    if base <= 0 or draft.answer_prob is None or settings.answer_prob_weight <= 0:
        return base
    return min(1.0, max(0.01, base + settings.answer_prob_weight * (settings.answer_prob_center - draft.answer_prob)))


def answer_claim(question: str, answer: str) -> str:
    """The claim the answer check puts to the verifier. For a yes/no question the 1.5B verifier reads
    "the evidence shows that the answer is no" far better than "the answer to the question is no" (on
    ten hand-checked yes/no cases, 8 vs 6 judged right; a correct "no" scored 0.72 vs 0.48)."""
    if is_polar(question):
        return f'Question: "{question}" The evidence shows that the answer is {answer}.'
    return f'The answer to the question "{question}" is {answer}.'


def bridge_evidence(question: str, verified: VerifiedDraft, evidence: EvidenceSet, max_sentences: int = 2) -> list:
    """Shown sentences that cover the question's words the cited quotes leave out. A multi-hop answer
    often cites only its last hop ("X was born in 1965"), so the question's first hop ("the photographer
    who shot Annie Morton") is missing when the answer check weighs the citations alone."""
    cites = [c for s in verified.sentences for c in s.citations]
    covered = set()
    for s in verified.sentences:
        covered |= content_words(s.text) | {w for c in s.citations for w in content_words(c.quote)}
    missing = content_words(question) - covered
    if not missing:
        return []
    cited_docs = {c.doc_id for c in cites}
    cited_spans = {(c.doc_id, c.start) for c in cites}
    uncited = [s for s in evidence.sentences if (s.doc_id, s.start) not in cited_spans]
    # the cited document's own context (the sentence naming what "it" or "the song" is) ...
    same = best_covering(" ".join(sorted(missing)), EvidenceSet(
        passages=evidence.passages, sentences=[s for s in uncited if s.doc_id in cited_docs]), max_sentences=1)
    # ... and the other hop: another document's sentences naming the missing words or the cited entity
    link = {w for c in cites for w in content_words(c.title or "")}
    other = best_covering(" ".join(sorted(missing | link)), EvidenceSet(
        passages=evidence.passages, sentences=[s for s in uncited if s.doc_id not in cited_docs]),
        max_sentences=max_sentences)
    found = same + other
    return found if any(content_words(s.text) & missing for s in found) else []


def add_citations(verified: VerifiedDraft, sentences: list) -> VerifiedDraft:
    """Evidence sentences that link the answer to the question (a bridge, the row stating the short answer)
    join the first sentence's citations."""
    first = verified.sentences[0]
    cites = first.citations + [c for c in (s.citation() for s in sentences) if c not in first.citations]
    return verified.model_copy(update={"sentences": [first.model_copy(update={"citations": cites}),
                                                     *verified.sentences[1:]]})


def bridge_connects(verified: VerifiedDraft, bridge: list) -> bool:
    """A bridge sentence from another document is a link in the chain only if it names a cited document
    ("... played their home games at the Androscoggin Bank Colisée" for the Colisée's seating). Without
    that it is a neighbouring fact: "The Lewiston Maineiacs finished first overall" does not make another
    arena's 1,400 seats theirs, though the verifier passed the pair at P 0.82."""
    cited = {c.doc_id: c.title or "" for s in verified.sentences for c in s.citations}
    return all(b.doc_id in cited or any(names_title(b.text, t) for t in cited.values() if t) for b in bridge)


def bridged_answer_check(question: str, verified: VerifiedDraft, evidence: EvidenceSet, verifier, settings: Settings,
                         base: float, extra: list[str] | None = None,
                         require_entity: bool = False) -> tuple[VerifiedDraft, float, list[str] | None]:
    """After a failed answer check (probability ``base``), or citations that name nothing of the question
    (``require_entity``): the check once more with the bridge sentences added; those it does not need are
    pruned again (each costs citation precision). Returns (draft, probability, the bridge quotes kept or
    None when no bridge passes)."""
    full = [b for b in bridge_evidence(question, verified, evidence) if bridge_connects(verified, [b])]
    if not full:
        return verified, base, None

    def passes(bridge: list) -> float | None:
        draft = add_citations(verified, bridge)
        if require_entity and not cites_question_entity(question, draft, evidence):
            return None
        p = answer_check(question, draft, verifier, settings, extra, evidence)
        return p if p is not None and p >= settings.answer_check_threshold else None

    # the nearest link first (an unneeded sentence can also distract the verifier), then all of them
    for bridge in ([full[:2], full] if len(full) > 2 else [full]):
        if (p := passes(bridge)) is not None:
            break
    else:
        return verified, base, None
    for s in list(reversed(bridge)):
        fewer = [b for b in bridge if b is not s]
        if not fewer:
            break
        q = passes(fewer)
        if q is not None:
            bridge, p = fewer, q
    return add_citations(verified, bridge), p, [s.text for s in bridge]


def cite_short_answer(question: str, verified: VerifiedDraft, evidence: EvidenceSet, verifier,
                      settings: Settings) -> VerifiedDraft:
    """The sentences are supported but none of their citations states the short answer (a small model
    often cites a table's caption, not its row): add the evidence sentence that states it, if the verifier
    agrees that it answers the question. Still an id the model was shown, still verified."""
    words = content_words(verified.answer)
    if not words:
        return verified
    stating = best_covering(f"{question} {verified.answer}", evidence, max_sentences=1, required=words)
    if not stating:
        return verified
    p = _support(verifier, [(f"{question} {verified.answer}", stating, [])])[0]
    if p < settings.entailment_threshold:
        return verified
    return add_citations(verified, stating)


def _conflict_documents(question: str, evidence: EvidenceSet, settings: Settings) -> list[str]:
    margin = settings.conflict_polar_margin if is_polar(question) else settings.conflict_relevance_margin
    return conflict_documents(question, evidence, settings.conflict_max_docs, margin, settings.conflict_name_margin)


def resolve_conflicts(generator, question: str, evidence: EvidenceSet, settings: Settings):
    """Each source's own answer: by alignment where near-copies disagree on a span (free), else one short
    constrained call per document, or for a yes/no question its stance read from the logits. Copies of one
    text count as one source when the answers are weighed."""
    t0 = time.perf_counter()
    paired = minimal_pair_answers(question, evidence)
    covered = {a.doc_id for a in paired}
    docs = [d for d in _conflict_documents(question, evidence, settings) if d not in covered]
    if is_polar(question):
        # a stance is one prefill per document, read from the logits: nothing to decode
        extracted, ptoks = polar_stances(generator, question, evidence, docs, settings.stance_center,
                                         settings.stance_margin, at_least=2 - len(covered))
        ctoks = 0
    else:
        extracted, ptoks, ctoks = extract_per_document(generator, question, evidence, docs)
    answers = paired + extracted
    groups = source_groups(evidence.passages)
    for a in answers:
        a.source_group = groups.get(a.doc_id, a.doc_id)
    names = key_names(question)
    subjects = {a.doc_id: subject_qualifier(evidence, a.doc_id, names) for a in answers}
    decision = decide(cluster_answers(answers), subjects)
    step = TraceStep(stage="conflicts", seconds=time.perf_counter() - t0, prompt_tokens=ptoks, completion_tokens=ctoks,
                     detail={"asked": [*dict.fromkeys(a.doc_id for a in paired), *docs],
                             "documents": len({a.doc_id for a in answers}), "aligned": len(paired),
                             "clusters": [[c.answer, c.support] for c in decision.clusters],
                             "decision": decision.kind,
                             **({"reported": [c.answer for c in decision.reported]} if decision.kind == "subjects" else {})})
    return decision, step


def needs_conflict_check(question: str, evidence: EvidenceSet, settings: Settings) -> bool:
    """Several documents worth asking for their own answer, or near-copies that disagree on a span."""
    return bool(_conflict_documents(question, evidence, settings)
                or minimal_pair_answers(question, evidence))


def confidence_from(signals: dict[str, float], settings: Settings) -> float:
    """Logistic combination of retrieval, entailment and agreement signals; weights fitted on dev data."""
    w = settings.confidence_weights
    z = w[0] + w[1] * signals.get("relevance", 0.0) + w[2] * signals.get("support", 0.0) + w[3] * signals.get("agreement", 1.0)
    return round(1.0 / (1.0 + math.exp(-z)), 4)


def abstain(question: str, reason: str, trace: list[TraceStep], strategy: str, confidence: float = 0.0,
            conflicts=None) -> Answer:
    return Answer(question=question, status=AnswerStatus.abstained, abstain_reason=reason, trace=trace,
                  strategy=strategy, confidence=confidence, conflicts=conflicts or [])


def conflict_answer(question: str, decision: ConflictDecision, verifier, settings: Settings,
                    trace: list[TraceStep], strategy: str, relevance_score: float) -> Answer:
    """Status conflict: each candidate stated with its own sources; candidates that do not survive
    verification against their own citations are dropped."""
    scored = []
    for c in decision.reported:
        cand = c.candidate()
        stances = [m.stance_support for m in c.members if m.stance_support is not None]
        if stances and len(stances) == len(c.members):
            # a yes/no stance was read from each whole document; the answer check over one cited sentence
            # leans yes and dropped the side arguing no in 2 of 5 ConflictQA conflicts
            p = max(stances)
        else:
            # the answer check's phrasing: "<question> no" reads as nonsense to the verifier for a yes/no stance
            p = verifier.support([(answer_claim(question, c.answer), [x.quote for x in cand.citations])])[0] \
                if verifier else 1.0
        scored.append((c, cand, p))
    # The sides of a minimal pair are one sentence with the answer span swapped: if one side answers the
    # question, so does the other, with its own span. The verifier's world knowledge (a planted answer
    # "reads wrong") must not pick the side, so aligned sides share their best score.
    aligned_best = max((p for c, _, p in scored if any(m.aligned for m in c.members)), default=0.0)
    candidates = []
    for c, cand, p in scored:
        if any(m.aligned for m in c.members):
            p = max(p, aligned_best)
        if p >= settings.entailment_threshold * 0.6:
            candidates.append((cand, p))
    if len(candidates) < 2:
        return None  # type: ignore[return-value]  # not a real conflict after verification
    sentences = [AnswerSentence(text=f"{_titles(cand.citations)} gives {cand.answer}.", citations=cand.citations,
                                support=round(p, 4)) for cand, p in candidates]
    for cand, _ in candidates:
        cand.note = decision.note
    conf = confidence_from({"relevance": relevance_score, "support": min(p for _, p in candidates), "agreement": 0.0},
                           settings)
    return Answer(question=question, status=AnswerStatus.conflict,
                  answer="; ".join(c.answer for c, _ in candidates), sentences=sentences, confidence=conf,
                  conflicts=[c for c, _ in candidates], note=decision.note, trace=trace, strategy=strategy)


def compared_answer(question: str, result, strategy: str, relevance_score: float, settings: Settings) -> Answer:
    """A decided yes/no comparison (``answer.compare``): each side's sentence, verbatim, with its citation."""
    sentences = [AnswerSentence(text=s.cited[0].text, citations=[x.citation() for x in s.cited],
                                support=round(s.support, 4)) for s in result.sides]
    conf = confidence_from({"relevance": relevance_score, "support": min(s.support for s in result.sides),
                            "agreement": 1.0}, settings)
    return Answer(question=question, status=AnswerStatus.answered, answer=result.answer, sentences=sentences,
                  confidence=conf, strategy=strategy)


def _titles(cites: list[Citation]) -> str:
    titles = list(dict.fromkeys(c.title or c.doc_id for c in cites))
    if len(titles) == 1:
        return f"“{titles[0]}”"
    return ", ".join(f"“{t}”" for t in titles[:-1]) + f" and “{titles[-1]}”"


__all__ = [
    "INSUFFICIENT",
    "Draft",
    "VerifiedDraft",
    "abstain",
    "add_citations",
    "answer_check",
    "answer_check_bar",
    "answer_claim",
    "answer_is_grounded",
    "bridge_connects",
    "bridge_evidence",
    "bridged_answer_check",
    "cite_short_answer",
    "cites_question_entity",
    "compared_answer",
    "confidence_from",
    "conflict_answer",
    "contributing_citations",
    "generate_draft",
    "merge_results",
    "needs_conflict_check",
    "parse_draft",
    "relevance",
    "resolve_conflicts",
    "validate_question",
    "verify_calculation",
    "verify_draft",
]
