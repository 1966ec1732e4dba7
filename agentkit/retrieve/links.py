"""Link following: a bridge question names one document and needs another that the first one names.

"Where is the company that Sachin Warrier worked for headquartered?" ranks Sachin Warrier's page first; the
page that answers (Tata Consultancy Services) is about the question only through that name, so a reranker
scoring against the question leaves it just below the cut. Candidates whose title is named in the question
or in the best passages are kept. A title is a name, so matching it needs no model call.
"""

from __future__ import annotations

import re
from functools import lru_cache

from agentkit.types import ScoredPassage

_DISAMBIGUATION = re.compile(r"\s*\([^)]*\)\s*$")  # "Front Row (software)" is named "Front Row"


def bare_title(title: str) -> str:
    """The name a title gives its subject, without a disambiguation in parentheses."""
    return _DISAMBIGUATION.sub("", title).strip()


@lru_cache(maxsize=4096)
def _title_pattern(title: str) -> re.Pattern[str] | None:
    name = bare_title(title)
    if len(name) < 4 or not any(ch.isalpha() for ch in name):
        return None
    # a title is named when the text capitalises it: "science fantasy" in a question is a genre, not the
    # magazine "Science Fantasy"; the rest may differ in case ("WINNER" names "Winner (band)")
    return re.compile(r"(?<!\w)" + re.escape(name[0].upper()) + "(?i:" + re.escape(name[1:]) + r")(?!\w)")


def names_title(text: str, title: str) -> bool:
    pattern = _title_pattern(title)
    return bool(pattern and pattern.search(text))


def linked_passages(question: str, chosen: list[ScoredPassage], candidates: list[ScoredPassage], limit: int,
                    sources: int = 3) -> list[ScoredPassage]:
    """Up to ``limit`` candidates (best-ranked first) not already chosen, one per document, whose title is
    named by the question or by one of the first ``sources`` chosen passages."""
    if limit <= 0:
        return []
    have = {p.chunk.doc_id for p in chosen}
    texts = [question] + [p.chunk.text for p in chosen[:sources]]
    linked: list[ScoredPassage] = []
    for p in candidates:
        if p.chunk.doc_id in have or not p.title:
            continue
        if any(names_title(text, p.title) for text in texts):
            linked.append(p)
            have.add(p.chunk.doc_id)
            if len(linked) >= limit:
                break
    return linked


__all__ = ["bare_title", "linked_passages", "names_title"]
