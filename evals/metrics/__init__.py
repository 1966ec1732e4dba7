"""Pure metric functions for answers, citations, abstention, conflicts, calibration and cost.
``ragas_adapter`` is not imported here: importing ragas is slow and only needed for ragas metrics."""

from evals.metrics.abstention import abstention_scores, crag_outcome, crag_score
from evals.metrics.answer import answer_scores, exact_match, f1, normalize_answer
from evals.metrics.calibration import ReliabilityBin, auroc, ece, reliability_bins
from evals.metrics.citations import (
    alce_citation_scores,
    citation_doc_precision,
    citation_doc_recall,
    cited_sentences,
    quote_verbatim_rate,
    supporting_fact_scores,
)
from evals.metrics.conflict import (
    both_sides_cited,
    conflict_handled,
    conflict_scores,
    misinformation_as_sole_answer,
    names,
    ramdocs_exact_match,
)
from evals.metrics.cost import CostRecord, cost_summary, percentile

__all__ = [
    "CostRecord",
    "ReliabilityBin",
    "abstention_scores",
    "alce_citation_scores",
    "answer_scores",
    "auroc",
    "both_sides_cited",
    "citation_doc_precision",
    "citation_doc_recall",
    "cited_sentences",
    "conflict_handled",
    "conflict_scores",
    "cost_summary",
    "crag_outcome",
    "crag_score",
    "ece",
    "exact_match",
    "f1",
    "misinformation_as_sole_answer",
    "names",
    "normalize_answer",
    "percentile",
    "quote_verbatim_rate",
    "ramdocs_exact_match",
    "reliability_bins",
    "supporting_fact_scores",
]
