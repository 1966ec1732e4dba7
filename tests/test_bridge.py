"""The agent strategies' escalation: a failed single pass tries the bridge hop, then the tool loop."""

import json

from agentkit.answer.bridge import bridge_answer
from agentkit.generate.llm import Completion
from agentkit.graph.builder import GraphBuilder
from agentkit.graph.components import Components
from agentkit.settings import Settings
from agentkit.types import Chunk, ScoredPassage


def _p(doc_id, title, text, rel=0.8):
    return ScoredPassage(chunk=Chunk(id=f"{doc_id}::0", doc_id=doc_id, text=text, start=0, end=len(text)),
                         title=title, source=f"{doc_id}.md", score=rel, scores={"rerank": rel})


TEAM = _p("lm", "Lewiston Maineiacs", "The Lewiston Maineiacs were a junior ice hockey team. "
                                      "The team played its home games at the Androscoggin Bank Colisée.")


class Says:
    def __init__(self, answer):
        self.answer, self.prompts = answer, []

    def chat(self, messages, *, json_schema=None, max_tokens=256, temperature=0.0, stop=None):
        self.prompts.append(messages[-1]["content"])
        return Completion(text=json.dumps({"answer": self.answer}), prompt_tokens=40, completion_tokens=6, seconds=0.1)


def test_the_first_hop_answer_must_be_stated_by_a_shown_sentence():
    q = "Which arena did the Lewiston Maineiacs play their home games in?"
    assert bridge_answer(Says("Androscoggin Bank Colisée"), q, [TEAM])[0] == "Androscoggin Bank Colisée"
    assert bridge_answer(Says("Madison Square Garden"), q, [TEAM])[0] == ""  # the model's, not the documents'
    assert bridge_answer(Says("none"), q, [TEAM])[0] == ""
    assert bridge_answer(Says("Androscoggin Bank Colisée"), q, [])[0] == ""


def test_react_and_reflexion_escalate_once_to_each_stage_and_grounded_never():
    escalate = GraphBuilder(Components(Settings())).escalate
    assert escalate({"strategy": "grounded", "escalation": 0}) == "abstain"
    assert [escalate({"strategy": s, "escalation": level}) for s in ("react", "reflexion") for level in (0, 1, 2)] \
        == ["bridge", "plan", "abstain"] * 2
