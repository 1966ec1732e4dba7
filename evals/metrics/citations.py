"""Citation quality: HotpotQA supporting-fact scores, document-level citation precision/recall,
ALCE citation recall/precision with a pluggable entailment function, and the verbatim-quote rate."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence

from agentkit.types import Citation, Document

Entails = Callable[[str, str], float]  # (premise, hypothesis) -> P(entailed) in [0, 1]


def supporting_fact_scores(
    predicted: Iterable[tuple[str, int]], gold: Iterable[tuple[str, int]]
) -> dict[str, float]:
    """HotpotQA ``update_sp``: set precision/recall/F1/EM over (doc_id, sentence index) pairs.
    As in the official script, nothing predicted gives precision 0 (not undefined)."""
    pred, ref = {tuple(p) for p in predicted}, {tuple(g) for g in gold}
    tp, fp, fn = len(pred & ref), len(pred - ref), len(ref - pred)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"sp_em": float(fp + fn == 0), "sp_precision": precision, "sp_recall": recall, "sp_f1": f1}


def cited_sentences(citations: Iterable[Citation], documents: Mapping[str, Document]) -> set[tuple[str, int]]:
    """(doc_id, sentence index) pairs whose span overlaps a citation, using ``metadata["sentence_spans"]``
    (set by the HotpotQA loader). Citations of documents without sentence spans are ignored."""
    out: set[tuple[str, int]] = set()
    for c in citations:
        doc = documents.get(c.doc_id)
        spans = doc.metadata.get("sentence_spans") if doc else None
        for i, (start, end) in enumerate(spans or []):
            if start < c.end and c.start < end:
                out.add((c.doc_id, i))
    return out


def citation_doc_precision(cited_doc_ids: Iterable[str], gold_doc_ids: Iterable[str]) -> float | None:
    """Fraction of distinct cited documents that are gold evidence documents; None when nothing is cited."""
    cited, gold = set(cited_doc_ids), set(gold_doc_ids)
    return len(cited & gold) / len(cited) if cited else None


def citation_doc_recall(cited_doc_ids: Iterable[str], gold_doc_ids: Iterable[str]) -> float | None:
    """Fraction of gold evidence documents cited at least once; None when there is no gold evidence."""
    cited, gold = set(cited_doc_ids), set(gold_doc_ids)
    return len(cited & gold) / len(gold) if gold else None


def alce_citation_scores(
    sentences: Sequence[tuple[str, Sequence[str]]], entails: Entails, threshold: float = 0.5
) -> dict[str, float]:
    """ALCE (Gao et al. 2023) citation recall and precision.

    ``sentences``: each answer sentence with the texts of the passages it cites. Recall: share of sentences
    entailed by the concatenation of their citations (no citation = not supported). Precision: share of
    citations that are relevant, where a citation of a supported multi-citation sentence is irrelevant when
    it alone does not entail the sentence and the other citations still do; citations of an unsupported
    sentence are all counted as not precise.
    """
    if not sentences:
        return {"citation_recall": 0.0, "citation_precision": 0.0, "n_sentences": 0, "n_citations": 0}

    def ok(premise: str, hypothesis: str) -> bool:
        return entails(premise, hypothesis) >= threshold

    supported = precise = n_citations = 0
    for text, passages in sentences:
        n_citations += len(passages)
        joint = bool(passages) and ok("\n".join(passages), text)
        supported += joint
        if not joint:
            continue
        if len(passages) == 1:
            precise += 1
            continue
        for i, passage in enumerate(passages):
            if ok(passage, text):
                precise += 1
                continue
            rest = [p for j, p in enumerate(passages) if j != i]
            if not ok("\n".join(rest), text):
                precise += 1  # needed jointly: not alone, but the others fail without it
    return {
        "citation_recall": supported / len(sentences),
        "citation_precision": precise / n_citations if n_citations else 0.0,
        "n_sentences": len(sentences),
        "n_citations": n_citations,
    }


def quote_verbatim_rate(citations: Iterable[Citation], documents: Mapping[str, Document]) -> float | None:
    """Share of citations whose quote is exactly ``document.text[start:end]`` (unknown document = not
    verbatim); None when there are no citations."""
    citations = list(citations)
    if not citations:
        return None
    good = sum(
        1
        for c in citations
        if (d := documents.get(c.doc_id)) is not None and d.text[c.start : c.end] == c.quote
    )
    return good / len(citations)
