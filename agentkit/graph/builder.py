"""The agent as a LangGraph state machine.

    start ─┬─ contextualize ─┐
           └─────────────────┴─ route ─┬─ closed_book ────────────────────────────────────┐
                                       └─ retrieve ─ rerank ─┬─ naive ─────────────────────┤
                                                             └─ gate ─┬─ conflicts ─┐      │
                                                                      ├─ answer ◄───┘      │
                                                                      └─ abstain ──────────┤
           gate / conflicts ─ calculate (arithmetic questions) ─┬─ verify
                                                                 └─ answer (no usable expression)
           gate / conflicts ─ compare (yes/no comparison or date choice of two names) ─ finalize
           answer ─ verify ─┬─ finalize ──────────────────────────────────────────────────┴─ END
                            ├─ answer (regenerate once, with feedback)
                            └─ abstain
           react / reflexion, where grounded would abstain (at the gate or after verify), escalate once each:
             bridge (the description's entity, the question naming it, its pages) ─ gate …
             plan ─ retrieve ─ act ⇄ tool ─ rerank ─ gate …  (reflexion: verify or an empty gate ─ reflect ─ act,
             bounded; the retry does not see what a rejected answer cited)

Nodes return partial updates; routing functions are pure and read only state; every loop is bounded
by counters in state (steps, attempts, reflections).
"""

from __future__ import annotations

import json
import re
import time
from typing import Any, get_args

from langgraph.config import get_stream_writer
from langgraph.graph import END, START, StateGraph

from agentkit.answer import grounded as G
from agentkit.answer.arithmetic import calculate, is_arithmetic
from agentkit.answer.bridge import (
    BridgeHop,
    asks_for,
    bridge_answer,
    description_span,
    first_question,
    substitute,
)
from agentkit.answer.compare import compare, parse_comparison, parse_date_choice, passages_naming
from agentkit.answer.conflicts import near_copies
from agentkit.answer.evidence import EvidenceSet, build_evidence
from agentkit.answer.prompts import (
    CLOSED_BOOK_SYSTEM,
    INSUFFICIENT,
    NAIVE_SYSTEM,
    closed_book_schema,
    is_polar,
)
from agentkit.errors import GenerationError, SettingsError
from agentkit.generate.llm import Completion
from agentkit.graph import prompts as P
from agentkit.graph.components import Components
from agentkit.graph.state import AgentState
from agentkit.retrieve.links import linked_passages
from agentkit.settings import Strategy
from agentkit.types import Answer, AnswerSentence, AnswerStatus, Citation, TraceStep

MAX_OBSERVATION_CHARS = 700


def _emit(kind: str, **data: Any) -> None:
    try:
        get_stream_writer()({"kind": kind, **data})
    except Exception:  # noqa: BLE001, S110 (outside a streaming run there is no writer; events are optional)
        pass


class GraphBuilder:
    def __init__(self, components: Components):
        self.c = components
        self.s = components.settings

    def _chat(self, msgs: list[dict], schema: dict, max_tokens: int) -> Completion:
        """A loop node's model call: garbage or a runaway output becomes empty text, which each node
        already treats as unparsable (one wasted step, bounded by the counters), never a crash."""
        try:
            return self.c.generator.chat(msgs, json_schema=schema, max_tokens=max_tokens)
        except GenerationError as exc:
            _emit("model_error", error=str(exc))
            return Completion(text="", prompt_tokens=0, completion_tokens=0, seconds=0.0)

    # ------------------------------------------------------------------ nodes
    def start(self, state: AgentState) -> dict:
        question = G.validate_question(state.get("question", ""), self.s)
        strategy = state.get("strategy") or self.s.strategy
        if strategy not in get_args(Strategy):
            raise SettingsError(f"unknown strategy {strategy!r}; use one of {', '.join(get_args(Strategy))}")
        return {"question": question, "strategy": strategy, "queries": [question], "multi_hop": False,
                "passages": None, "ranked": [], "evidence": None, "computations": None, "steps": None,
                "reflections": None, "attempts": 0, "escalation": 0, "hop": None, "draft": None, "verified": None,
                "rejected": None, "ruled_out": None,
                "conflict_note": "", "conflict_candidates": None, "pending": None, "trace": None, "answer": None}

    def contextualize(self, state: AgentState) -> dict:
        recent = state.get("history", [])[-3:]
        convo = "\n".join(f"Q: {h['question']}\nA: {h['answer']}" for h in recent)
        msgs = [{"role": "system", "content": P.CONTEXTUALIZE_SYSTEM},
                {"role": "user", "content": f"Conversation:\n{convo}\n\nFollow-up: {state['question']}"}]
        comp = self._chat(msgs, P.CONTEXTUALIZE_SCHEMA, 120)
        question = state["question"]
        try:
            rewritten = " ".join(str(json.loads(comp.text).get("question", "")).split())
            if 3 <= len(rewritten) <= self.s.max_question_chars:
                question = rewritten
        except ValueError:
            pass
        return {"question": question, "queries": [question],
                "trace": [TraceStep(stage="contextualize", seconds=comp.seconds, prompt_tokens=comp.prompt_tokens,
                                    completion_tokens=comp.completion_tokens, detail={"question": question})]}

    def plan(self, state: AgentState) -> dict:
        msgs = [{"role": "system", "content": P.PLAN_SYSTEM}, {"role": "user", "content": state["question"]}]
        comp = self._chat(msgs, P.PLAN_SCHEMA, 160)
        try:
            subs = [" ".join(str(s).split()) for s in json.loads(comp.text).get("subquestions", [])]
            subs = [s for s in subs if s][:3]
        except ValueError:
            subs = []
        queries = list(dict.fromkeys([state["question"], *subs]))
        # a new search: earlier hops' evidence stays in ``passages``, the failed draft goes
        return {"queries": queries, "multi_hop": len(subs) > 1, "escalation": 2, "hop": None, "draft": None,
                "verified": None, "attempts": 0,
                "trace": [TraceStep(stage="plan", seconds=comp.seconds, prompt_tokens=comp.prompt_tokens,
                                    completion_tokens=comp.completion_tokens, detail={"subquestions": subs})]}

    def bridge(self, state: AgentState) -> dict:
        """react / reflexion, after the single pass failed: the model copies the part of the question that
        describes an entity without naming it; one short call names the entity from the description's own
        search. The question is then asked with the name in place of the description, over only the bridge
        page and the entity's own pages (fewer distractors: the 1.5B model took another arena's "1,400
        seats" from a top-5 list that held the right arena's page too). The answer cites the hop sentence."""
        q, t0 = state["question"], time.perf_counter()
        comp = self._chat([{"role": "system", "content": P.BRIDGE_SYSTEM}, {"role": "user", "content": q}],
                          P.BRIDGE_SCHEMA, 60)
        step = TraceStep(stage="bridge", seconds=comp.seconds, prompt_tokens=comp.prompt_tokens,
                         completion_tokens=comp.completion_tokens)
        try:
            copied = str(json.loads(comp.text).get("describes", ""))
        except (ValueError, AttributeError):
            copied = ""
        update: dict[str, Any] = {"escalation": 1, "draft": None, "verified": None, "attempts": 0, "ranked": [],
                                  "hop": None}
        span = description_span(q, copied)
        found, ranked, hop, asked = [], [], None, None
        if span:
            # the description's own pages, and the question's: "an Italian physicist" alone found another
            # physicist; "Seven Brief Lessons on Physics ... by the Italian physicist Carlo Rovelli" is on
            # the page the rest of the question names
            first = first_question(span, q)
            top = []
            for query, ask in ((span, first_question(span)), (q, first)):
                hits = self._search(query, self.s.rerank_top_n, state.get("filters"))
                found += hits
                best = self.c.reranker.rerank(ask, hits, top_k=2) if self.c.reranker else hits[:2]
                top += [p for p in best if all(p.chunk.id != t.chunk.id for t in top)]
            hop = bridge_answer(self.c.generator, first, top, self.c.embedder, span=span,
                                require_name=not asks_for(q, span))
            step.prompt_tokens += hop.prompt_tokens
            step.completion_tokens += hop.completion_tokens
            if hop.answer:
                own = self._search(hop.answer, self.s.rerank_top_n, state.get("filters"))
                named, _ = passages_naming(hop.answer, own + top)
                page = [p for p in top if p.chunk.id == hop.sentence.chunk_id]
                ranked = list({p.chunk.id: p for p in [*page, *named]}.values())
                found += own
                asked = substitute(q, span, hop.answer)
                update["hop"] = BridgeHop(span=span, entity=hop.answer, sentence=hop.sentence, asked=asked)
        step.seconds = time.perf_counter() - t0
        step.detail = {"describes": span or copied or None, "entity": hop.answer if hop else None,
                       "asked": asked, "passages": [p.title for p in ranked]}
        return {**update, "queries": [asked] if asked else [q], "ranked": ranked,
                "passages": found, "multi_hop": bool(ranked), "trace": [step]}

    def _search(self, query: str, k: int, filters: dict | None = None) -> list:
        results = [corpus.search(query, k=k, filters=filters) for corpus in self.c.corpora]
        return G.merge_results(results, k)

    def retrieve(self, state: AgentState) -> dict:
        t0 = time.perf_counter()
        found = []
        for q in state.get("queries") or [state["question"]]:
            found.extend(self._search(q, self.s.rerank_top_n, state.get("filters")))
        return {"passages": found, "trace": [TraceStep(stage="retrieve", seconds=time.perf_counter() - t0,
                                                       detail={"queries": state.get("queries"), "passages": len(found)})]}

    def rerank(self, state: AgentState) -> dict:
        t0 = time.perf_counter()
        passages = list(state.get("passages") or [])
        reranker = self.c.reranker
        question = state["question"]
        if reranker is not None and passages:
            ranked = reranker.rerank(question, passages)
        else:
            ranked = sorted(passages, key=lambda p: -p.score)
        k = self.s.evidence_k
        chosen = ranked[:k]
        # Multi-hop: the best passage for each sub-question (and each search of the tool loop) stays in, even
        # if it looks weak for the whole question; without it the loop's answer call saw the first pass's pages.
        subs = list(dict.fromkeys([*(state.get("queries") or [])[1:], *_searches(state)]))
        if subs and reranker is not None:
            for q in subs:
                best = reranker.rerank(q, passages, top_k=1)
                if best and all(best[0].chunk.id != p.chunk.id for p in chosen):
                    chosen.append(best[0])
        linked = linked_passages(question, chosen, ranked[k:], self.s.follow_links) \
            if state["strategy"] != "naive" else []
        chosen += linked
        if self.s.detect_conflicts and state["strategy"] != "naive":  # a disagreeing near-copy must be seen
            chosen += near_copies(chosen, ranked[k:], self.s.conflict_max_docs)
        detail = {"reranker": self.s.reranker, "candidates": len(passages),
                  "best": round(G.relevance(chosen[0]), 4) if chosen else None, "linked": [p.title for p in linked]}
        return {"ranked": chosen,
                "trace": [TraceStep(stage="rerank", seconds=time.perf_counter() - t0, detail=detail)]}

    def gate(self, state: AgentState) -> dict:
        """Build the evidence the model will see (sentences, not whole passages: prefill is the cost)."""
        t0 = time.perf_counter()
        # after a reflection, the sentences a rejected answer cited are not shown again: told in words that
        # '1968' was wrong, the 1.5B model gave '1968' again from the same sentence in 5 of 5 retries
        exclude = frozenset(_sentence_key(k) for k in state.get("ruled_out") or []) \
            if state.get("reflections") else frozenset()
        evidence = build_evidence(_asked(state), state.get("ranked") or [], embed=self.c.embedder,
                                  max_chars=self.s.max_evidence_chars * self.s.evidence_k // 2, exclude=exclude)
        return {"evidence": evidence, "trace": [TraceStep(stage="evidence", seconds=time.perf_counter() - t0,
                                                          detail={"sentences": len(evidence.sentences),
                                                                  "documents": len(evidence.doc_ids())})]}

    def conflicts(self, state: AgentState) -> dict:
        evidence: EvidenceSet = state["evidence"]
        decision, step = G.resolve_conflicts(self.c.generator, _asked(state), evidence, self.s)
        update: dict[str, Any] = {"trace": [step]}
        if decision.kind in ("conflict", "subjects"):
            best = G.relevance(state["ranked"][0]) if state.get("ranked") else 0.0
            ans = G.conflict_answer(state["question"], decision, self.c.verifier, self.s, [], state["strategy"], best)
            if ans is not None:
                update["answer"] = ans
                return update
        if decision.kind in ("majority", "metadata") and decision.winner is not None:
            # dissenting documents leave the evidence so the answer cannot repeat them as fact
            dissent = {m.doc_id for c in decision.clusters if c is not decision.winner for m in c.members}
            update["evidence"] = EvidenceSet(passages=evidence.passages,
                                             sentences=[s for s in evidence.sentences if s.doc_id not in dissent])
            update["conflict_note"] = decision.note
            update["conflict_candidates"] = [c.candidate(note=decision.note) for c in decision.clusters]
        return update

    def calculate(self, state: AgentState) -> dict:
        """Arithmetic questions: the model writes an expression over cited numbers, the calculator computes
        it, and the result is a draft for the usual verification. Nothing usable: the answer node runs."""
        evidence: EvidenceSet = state["evidence"]
        calc, reason, stats = calculate(self.c.generator, _asked(state), evidence)
        detail = {"expression": calc.expression if calc else None, "answer": calc.answer if calc else None,
                  "rejected": reason or None}
        update: dict[str, Any] = {"trace": [TraceStep(stage="calculate", seconds=stats["seconds"],
                                                      prompt_tokens=stats["prompt_tokens"],
                                                      completion_tokens=stats["completion_tokens"], detail=detail)]}
        if calc is None:
            return update
        _emit("tool_call", tool="calculator", arguments={"expression": calc.expression}, thought="")
        cid = G.computation_ids([*(state.get("computations") or []), calc.computation])[-1]
        update.update({"computations": [calc.computation], "attempts": state.get("attempts", 0) + 1,
                       "draft": G.Draft(answer=calc.answer, sentences=[(calc.sentence, [*calc.cite, cid])],
                                        calculated=True)})
        return update

    def compare(self, state: AgentState) -> dict:
        """Yes/no comparisons of two named things: each is asked about on its own evidence, the short
        answer follows by rule (``answer.compare``). Undecided: an abstention, not the whole-question
        call, whose "yes" is what this stage exists to avoid."""
        q = _asked(state)
        check = self.s.answer_check_threshold

        def search(sub_question: str) -> list:
            found = self._search(sub_question, self.s.rerank_top_n, state.get("filters"))
            return self.c.reranker.rerank(sub_question, found, top_k=3) if self.c.reranker else found[:3]

        res = compare(self.c.generator, self.c.verifier if check > 0 else None, q, state.get("ranked") or [],
                      embed=self.c.embedder, threshold=check, search=search)
        detail = {"answer": res.answer, "sides": {s.name: s.value for s in res.sides}, "rejected": res.reason or None}
        step = TraceStep(stage="compare", seconds=res.seconds, prompt_tokens=res.prompt_tokens,
                         completion_tokens=res.completion_tokens, detail=detail)
        if res.answer is None:
            ans = G.abstain(q, "unsupported_after_verification", [], state["strategy"],
                            confidence=_abstain_confidence(state))
        else:
            best = G.relevance(state["ranked"][0]) if state.get("ranked") else 0.0
            ans = G.compared_answer(q, res, state["strategy"], best, self.s)
        return {"answer": ans, "trace": [step]}

    def answer(self, state: AgentState) -> dict:
        evidence: EvidenceSet = state["evidence"]
        feedback = None
        if state.get("verified") is not None and state["verified"].dropped:
            feedback = "these sentences were not supported by the sentences they cited: " + " | ".join(
                state["verified"].dropped)[:400]
        elif state.get("draft") is not None and state["draft"].parse_error:
            feedback = "the output was not valid JSON."
        elif state.get("rejected") and state.get("escalation", 0) >= 2:
            feedback = P.rejected_feedback(state["rejected"])
        hop = state.get("hop")
        # the question asks for the entity the bridge hop named ("D1NZ is a series based on what
        # oversteering technique?" -> "drifting"): the answer is that name or nothing; left free, the
        # model answered "oversteering" from the question's own words
        answers = (hop.entity, INSUFFICIENT) if hop is not None and asks_for(state["question"], hop.span) else None
        draft = G.generate_draft(self.c.generator, _asked(state), evidence, self.s, feedback,
                                 extra=state.get("computations") or [], answers=answers)
        return {"draft": draft, "attempts": state.get("attempts", 0) + 1,
                "trace": [TraceStep(stage="generate", seconds=draft.seconds, prompt_tokens=draft.prompt_tokens,
                                    completion_tokens=draft.completion_tokens,
                                    detail={"answer": draft.answer, "parse_error": draft.parse_error,
                                            "answer_prob": draft.answer_prob,
                                            "answer_min_prob": draft.answer_min_prob,
                                            "cached_tokens": draft.cached_tokens,
                                            "drafted_tokens": draft.drafted_tokens,
                                            "prefill_seconds": draft.prefill_seconds,
                                            "decode_seconds": draft.decode_seconds})]}

    def verify(self, state: AgentState) -> dict:
        draft, q = state["draft"], _asked(state)
        checked, bridged, bar = None, None, None
        if draft.insufficient:
            v = G.VerifiedDraft(answer=draft.answer)
        elif state.get("reflections") and G.normalize_answer(draft.answer) in {
                G.normalize_answer(a) for a in state.get("rejected") or []}:
            # after a reflection, an answer the check turned down is not checked again with other citations:
            # each new try is another draw from a noisy check ("Siri Remote", rejected twice at 0.48, passed
            # at 0.61 on a third sentence)
            v = G.VerifiedDraft(answer=draft.answer, answer_rejected=True,
                                dropped=[t for t, _ in draft.sentences] + [f"('{draft.answer}' was turned down before)"])
        else:
            v = G.verify_calculation(draft, state["evidence"]) if draft.calculated else G.verify_draft(
                draft, state["evidence"], self.c.verifier, self.s, extra=state.get("computations") or [],
                question=q)
            if v.sentences and not G.answer_is_grounded(draft.answer, v.sentences):
                v = G.cite_short_answer(q, v, state["evidence"], self.c.verifier, self.s)
            if v.sentences and state.get("hop") is not None:
                v = _with_hop(v, state["hop"])  # the answer cites both hops
            reason = None
            if v.sentences and not G.answer_is_grounded(draft.answer, v.sentences):
                reason = f"(the short answer '{draft.answer}' is not stated by the cited evidence)"
            elif v.sentences and not draft.calculated:  # a calculation's operands were checked when it was made
                # the pass mark moves with the generator's own probability for its short answer
                bar = G.answer_check_bar(draft, self.s)
                checking = self.s.model_copy(update={"answer_check_threshold": bar})
                checked = G.answer_check(q, v, self.c.verifier, checking,
                                         extra=state.get("computations") or [], evidence=state["evidence"])
                if checked is not None and checked < bar:
                    # one more look with the shown sentences that link the citations to the question
                    v, checked, bridged = G.bridged_answer_check(q, v, state["evidence"],
                                                                 self.c.verifier, checking, checked,
                                                                 extra=state.get("computations") or [])
                if checked is not None and checked < bar:
                    reason = f"(the cited evidence does not show that '{draft.answer}' answers the question)"
                elif checked is not None and not G.cites_question_entity(q, v, state["evidence"]):
                    # right-sounding, but about another entity: only a bridge to the question's names saves it
                    v, checked, bridged = G.bridged_answer_check(q, v, state["evidence"],
                                                                 self.c.verifier, checking, 0.0, require_entity=True,
                                                                 extra=state.get("computations") or [])
                    if not bridged:
                        reason = "(the cited evidence does not mention what the question asks about)"
            if not reason and v.sentences and state.get("reflections") and not G.cites_question_relation(q, v):
                # a retry without the rejected answer's sentences picks another number from the same pages
                reason = "(the cited evidence shares no word with the question beyond its names)"
            if reason:
                v = G.VerifiedDraft(answer=draft.answer, dropped=[s.text for s in v.sentences] + [reason],
                                    seconds=v.seconds, answer_rejected=True)
        rejected = [draft.answer] if v.answer_rejected and draft.answer else []
        cited = [state["evidence"].by_id(i) for _, ids in draft.sentences for i in ids] if v.answer_rejected else []
        ruled_out = list(dict.fromkeys(f"{e.start}:{e.doc_id}" for e in cited if e is not None))
        step = TraceStep(stage="verify", seconds=v.seconds, detail={"kept": len(v.sentences), "dropped": v.dropped,
                                                                    "answer_check": checked, "answer_check_bar": bar,
                                                                    "bridge": bridged})
        return {"verified": v, "rejected": rejected, "ruled_out": ruled_out, "trace": [step]}

    def reflect(self, state: AgentState) -> dict:
        draft = state.get("draft")
        what = "the evidence did not contain the answer" if draft is None or draft.insufficient else (
            f"the answer '{draft.answer}' was not supported by the cited evidence")
        seen = "; ".join(f"{s.get('tool')}({json.dumps(s.get('arguments', {}))[:80]})" for s in state.get("steps", []))
        msgs = [{"role": "system", "content": P.REFLECT_SYSTEM},
                {"role": "user", "content": f"Question: {state['question']}\nActions so far: {seen or 'none'}\n"
                                            f"Failure: {what}."}]
        comp = self._chat(msgs, P.REFLECT_SCHEMA, 120)
        next_query = ""
        try:
            data = json.loads(comp.text)
            next_query = _plain_query(str(data.get("next_query", "")))
            critique = f"{data.get('critique', '')} Next, search for: {next_query}".strip()
        except (ValueError, AttributeError):
            critique = f"Previous attempt failed: {what}. Search with different words."
        _emit("reflection", text=critique)
        update: dict[str, Any] = {"reflections": [critique], "draft": None, "verified": None, "attempts": 0}
        # the search the critique asks for is run here, not left to the next act step: after a reflection the
        # 1.5B model finished at once, or repeated its earlier searches, in 4 of 5 HotpotQA retries
        searched = {str(s.get("arguments", {}).get("query", "")).lower() for s in state.get("steps") or []}
        t0 = time.perf_counter()
        if next_query and next_query.lower() not in searched and "search_corpus" in self.c.tools:
            pending = {"thought": "the reflection's search", "tool": "search_corpus", "arguments": {"query": next_query}}
            _emit("tool_call", tool=pending["tool"], arguments=pending["arguments"], thought=pending["thought"])
            update.update(self.tool({**state, "pending": pending}))
        trace = [TraceStep(stage="reflect", seconds=comp.seconds + time.perf_counter() - t0,
                           prompt_tokens=comp.prompt_tokens, completion_tokens=comp.completion_tokens,
                           detail={"critique": critique, "searched": bool(update.get("steps"))}),
                 *update.pop("trace", [])]
        return {**update, "trace": trace}

    def act(self, state: AgentState) -> dict:
        from agentkit.tools import describe_tools, tool_call_schema

        registry = self.c.tools
        steps = state.get("steps") or []
        if len(steps) >= _step_bound(state, self.s):
            # the bound is met: whatever the model chose would be ignored (``after_act``), so it is not asked
            return {"pending": {"thought": "", "tool": "finish", "arguments": {}},
                    "trace": [TraceStep(stage="act", detail={"tool": "finish", "step_bound": True})]}
        history = "\n".join(
            f"Step {i + 1}: {s.get('thought', '')}\nAction: {s.get('tool')} {json.dumps(s.get('arguments', {}))}\n"
            f"Observation: {s.get('observation', '')[:MAX_OBSERVATION_CHARS]}" for i, s in enumerate(steps[-4:]))
        user = f"Question: {state['question']}\n"
        if len(state.get("queries") or []) > 1:
            user += "Plan: " + " / ".join(state["queries"][1:]) + "\n"
        if state.get("reflections"):
            user += "Lessons from failed attempts: " + " ".join(state["reflections"]) + "\n"
        user += f"\n{history or 'No actions yet.'}\n\nNext action?"
        msgs = [{"role": "system", "content": P.ACT_SYSTEM + describe_tools(registry)}, {"role": "user", "content": user}]
        comp = self._chat(msgs, tool_call_schema(registry), 160)
        try:
            data = json.loads(comp.text)
            action = data.get("action") or {}
            pending = {"thought": str(data.get("thought", ""))[:300], "tool": str(action.get("tool", "")),
                       "arguments": action.get("arguments") or {}}
        except (ValueError, AttributeError):
            pending = {"thought": "", "tool": "", "arguments": {}, "error": "unparsable action"}
        _emit("tool_call", tool=pending["tool"], arguments=pending["arguments"], thought=pending["thought"])
        return {"pending": pending, "trace": [TraceStep(stage="act", seconds=comp.seconds,
                                                        prompt_tokens=comp.prompt_tokens,
                                                        completion_tokens=comp.completion_tokens,
                                                        detail={"tool": pending["tool"]})]}

    def tool(self, state: AgentState) -> dict:
        pending = state.get("pending") or {}
        t0 = time.perf_counter()
        obs = self.c.tools.call(pending.get("tool", ""), pending.get("arguments") or {})
        update: dict[str, Any] = {}
        data = getattr(obs, "data", None)
        if obs.ok and isinstance(data, list) and data and hasattr(data[0], "chunk"):
            update["passages"] = data
        if obs.ok and pending.get("tool") in ("calculator", "date_diff", "date_add"):
            expr = json.dumps(pending.get("arguments"), ensure_ascii=False)
            update["computations"] = [f"{pending['tool']}({expr}) = {obs.content}"]
        step = {"thought": pending.get("thought", ""), "tool": pending.get("tool", ""),
                "arguments": pending.get("arguments") or {}, "ok": obs.ok,
                "observation": (obs.content if obs.ok else f"ERROR: {obs.error or obs.content}")[:MAX_OBSERVATION_CHARS]}
        _emit("observation", tool=step["tool"], ok=obs.ok, content=step["observation"])
        update.update({"steps": [step], "pending": None,
                       "trace": [TraceStep(stage=f"tool:{step['tool'] or '?'}", seconds=time.perf_counter() - t0,
                                           detail={"ok": obs.ok})]})
        return update

    def closed_book(self, state: AgentState) -> dict:
        msgs = [{"role": "system", "content": CLOSED_BOOK_SYSTEM}, {"role": "user", "content": state["question"]}]
        comp = self.c.generator.chat(msgs, json_schema=closed_book_schema(2, self.s.max_sentence_chars),
                                     max_tokens=self.s.max_answer_tokens)
        try:
            data = json.loads(comp.text)
            short, sents = str(data.get("answer", "")), [str(x) for x in data.get("sentences", [])]
        except ValueError:
            short, sents = "", []
        trace = [TraceStep(stage="generate", seconds=comp.seconds, prompt_tokens=comp.prompt_tokens,
                           completion_tokens=comp.completion_tokens)]
        if not short:
            return {"answer": G.abstain(state["question"], "unsupported_after_verification", trace, "closed_book")}
        return {"answer": Answer(question=state["question"], status=AnswerStatus.answered, answer=short,
                                 sentences=[AnswerSentence(text=s) for s in sents], confidence=0.5,
                                 strategy="closed_book"), "trace": trace}

    def naive(self, state: AgentState) -> dict:
        """Baseline: top passages pasted into a plain prompt, free-text answer, no grammar, no verification."""
        ranked = state.get("ranked") or []
        ctx = "\n\n".join(f"[{i + 1}] {p.title}: {p.text}" for i, p in enumerate(ranked))
        msgs = [{"role": "system", "content": NAIVE_SYSTEM},
                {"role": "user", "content": f"{ctx}\n\nQuestion: {state['question']}\nAnswer:"}]
        comp = self.c.generator.chat(msgs, max_tokens=96)
        text = " ".join(comp.text.split())
        cites = [Citation(doc_id=p.chunk.doc_id, chunk_id=p.chunk.id, source=p.source, title=p.title,
                          start=p.chunk.start, end=p.chunk.end, quote=p.chunk.text) for p in ranked]
        short = text.split(". ")[0].rstrip(".")
        return {"answer": Answer(question=state["question"], status=AnswerStatus.answered, answer=short,
                                 sentences=[AnswerSentence(text=text, citations=cites)] if text else [],
                                 confidence=0.5, strategy="naive"),
                "trace": [TraceStep(stage="generate", seconds=comp.seconds, prompt_tokens=comp.prompt_tokens,
                                    completion_tokens=comp.completion_tokens)]}

    def abstain(self, state: AgentState) -> dict:
        return {"answer": G.abstain(state["question"], _abstain_reason(state, self.s), [], state["strategy"],
                                    confidence=_abstain_confidence(state))}

    def finalize(self, state: AgentState) -> dict:
        ans: Answer | None = state.get("answer")
        if ans is None:
            v = state["verified"]
            best = G.relevance(state["ranked"][0]) if state.get("ranked") else 0.0
            support = sum(s.support for s in v.sentences) / len(v.sentences)
            cands = state.get("conflict_candidates") or []
            agreement = 1.0
            if cands:
                total = sum(c.support for c in cands) or 1
                agreement = max(c.support for c in cands) / total
            ans = Answer(question=state["question"], status=AnswerStatus.answered, answer=v.answer,
                         sentences=v.sentences, strategy=state["strategy"], conflicts=cands,
                         note=state.get("conflict_note", ""),
                         confidence=G.confidence_from({"relevance": best, "support": support,
                                                       "agreement": agreement}, self.s))
        ans = ans.model_copy(update={"trace": list(state.get("trace") or []), "strategy": state["strategy"]})
        turn = {"question": state["question"], "answer": ans.answer or ans.status.value}
        _emit("answer", status=ans.status.value)
        return {"answer": ans, "history": [turn]}

    # --------------------------------------------------------------- routing (pure)
    @staticmethod
    def route_start(state: AgentState) -> str:
        return "contextualize" if state.get("history") else "route"

    @staticmethod
    def route_strategy(state: AgentState) -> str:
        # react / reflexion start with the single grounded pass and escalate only when it fails
        return {"closed_book": "closed_book", "naive": "retrieve", "grounded": "retrieve",
                "react": "retrieve", "reflexion": "retrieve"}[state["strategy"]]

    @staticmethod
    def after_retrieve(state: AgentState) -> str:
        return "act" if state["strategy"] in ("react", "reflexion") and state.get("escalation", 0) >= 2 else "rerank"

    @staticmethod
    def escalate(state: AgentState) -> str:
        """Where a failed attempt goes: react / reflexion try the bridge hop, then the tool loop, once each."""
        if state["strategy"] not in ("react", "reflexion"):
            return "abstain"
        return {0: "bridge", 1: "plan"}.get(state.get("escalation", 0), "abstain")

    def after_bridge(self, state: AgentState) -> str:
        return "gate" if state.get("ranked") else self.escalate(state)

    @staticmethod
    def after_rerank(state: AgentState) -> str:
        return "naive" if state["strategy"] == "naive" else "gate"

    def after_gate(self, state: AgentState) -> str:
        ranked = state.get("ranked") or []
        if (not ranked or not state["evidence"].sentences or G.relevance(ranked[0]) < self.s.abstain_threshold
                or G.out_of_scope(_asked(state), ranked, self.s.out_of_scope_threshold)):
            return self._reflect_or_escalate(state)
        if self.s.detect_conflicts and G.needs_conflict_check(_asked(state), state["evidence"], self.s):
            return "conflicts"
        return self._to_answer(state)

    def _to_answer(self, state: AgentState) -> str:
        q = _asked(state)
        if (self.s.compare_yes_no and parse_comparison(q) is not None) or \
                (self.s.compare_dates and parse_date_choice(q) is not None):
            return "compare"
        # "Did revenue increase?" wants yes or no, not the computed change
        return "calculate" if self.s.calculate_arithmetic and is_arithmetic(q) and not is_polar(q) else "answer"

    def after_conflicts(self, state: AgentState) -> str:
        return "finalize" if state.get("answer") is not None else self._to_answer(state)

    @staticmethod
    def after_calculate(state: AgentState) -> str:
        return "verify" if state.get("draft") is not None else "answer"

    def after_act(self, state: AgentState) -> str:
        pending = state.get("pending") or {}
        if pending.get("tool") == "finish":
            return "rerank"
        # a call made before (same tool, same arguments) can only observe what it did: the 1.5B model, once
        # it repeats a search, repeats it to the step bound (4-10 s a step), so the loop ends here instead
        if any(s.get("tool") == pending.get("tool") and s.get("arguments") == pending.get("arguments")
               for s in state.get("steps") or []):
            return "rerank"
        if len(state.get("steps") or []) >= _step_bound(state, self.s):
            return "rerank"  # step bound: answer from what was gathered, or abstain at the gate
        return "tool"

    def after_verify(self, state: AgentState) -> str:
        v = state["verified"]
        if v.sentences:
            return "finalize"
        draft = state["draft"]
        if not draft.insufficient and not v.answer_rejected and state.get("attempts", 0) <= self.s.regenerate_unsupported:
            return "answer"
        return self._reflect_or_escalate(state)

    def _reflect_or_escalate(self, state: AgentState) -> str:
        """A failed attempt of the tool loop: reflexion reflects (bounded by ``max_reflections``)."""
        if state["strategy"] == "reflexion" and state.get("escalation", 0) >= 2 and \
                len(state.get("reflections") or []) < self.s.max_reflections:
            return "reflect"
        return self.escalate(state)

    # ------------------------------------------------------------------ build
    def build(self) -> StateGraph:
        g = StateGraph(AgentState)
        for name in ("start", "contextualize", "plan", "bridge", "retrieve", "rerank", "gate", "conflicts", "calculate",
                     "compare", "answer", "verify", "reflect", "act", "tool", "closed_book", "naive", "abstain",
                     "finalize"):
            g.add_node(name, getattr(self, name))
        g.add_node("route", lambda state: {})
        g.add_edge(START, "start")
        g.add_conditional_edges("start", self.route_start, ["contextualize", "route"])
        g.add_edge("contextualize", "route")
        g.add_conditional_edges("route", self.route_strategy, ["closed_book", "retrieve"])
        g.add_edge("plan", "retrieve")
        g.add_conditional_edges("bridge", self.after_bridge, ["gate", "plan", "abstain"])
        g.add_conditional_edges("retrieve", self.after_retrieve, ["act", "rerank"])
        g.add_conditional_edges("rerank", self.after_rerank, ["naive", "gate"])
        g.add_conditional_edges("gate", self.after_gate, ["abstain", "bridge", "plan", "reflect", "conflicts",
                                                          "calculate", "compare", "answer"])
        g.add_conditional_edges("conflicts", self.after_conflicts, ["finalize", "calculate", "compare", "answer"])
        g.add_edge("compare", "finalize")
        g.add_conditional_edges("calculate", self.after_calculate, ["verify", "answer"])
        g.add_edge("answer", "verify")
        g.add_conditional_edges("verify", self.after_verify, ["finalize", "reflect", "answer", "bridge", "plan",
                                                              "abstain"])
        g.add_edge("reflect", "act")
        g.add_conditional_edges("act", self.after_act, ["rerank", "tool"])
        g.add_edge("tool", "act")
        for terminal in ("closed_book", "naive", "abstain"):
            g.add_edge(terminal, "finalize")
        g.add_edge("finalize", END)
        return g


def _with_hop(v: G.VerifiedDraft, hop: BridgeHop) -> G.VerifiedDraft:
    """The answer to a substituted question cites the first hop too: its sentence, verbatim, first."""
    s = hop.sentence
    if any(c.doc_id == s.doc_id and c.start == s.start for x in v.sentences for c in x.citations):
        return v
    # the sentence is its own quote; whether it names the described entity is the answer check's question
    first = AnswerSentence(text=s.text, citations=[s.citation()], support=1.0)
    return v.model_copy(update={"sentences": [first, *v.sentences]})


def _plain_query(text: str) -> str:
    """A search query as words. Shown its actions as calls, the model also wrote its next query as one:
    "search_corpus({'query': 'Evolution Nicolas Cage', 'k': 1})" -> "Evolution Nicolas Cage"."""
    text = " ".join(text.split())
    call = re.fullmatch(r"\w+\((.*)\)", text)
    if call:
        quoted = re.search(r"""['"]query['"]\s*:\s*(['"])(.+?)\1""", call.group(1)) or \
            re.search(r"""(['"])(.+?)\1""", call.group(1))
        text = quoted.group(2).strip() if quoted else ""
    return text


def _step_bound(state: AgentState, settings) -> int:
    """Tool steps allowed so far: ``max_steps`` per round, a round more after each reflection."""
    return settings.max_steps * (1 + len(state.get("reflections") or []))


def _sentence_key(key: str) -> tuple[str, int]:
    start, doc_id = key.split(":", 1)
    return doc_id, int(start)


def _searches(state: AgentState, limit: int = 2) -> list[str]:
    """The tool loop's last distinct corpus searches."""
    queries = [str(s.get("arguments", {}).get("query", "")).strip() for s in state.get("steps") or []
               if s.get("tool") == "search_corpus" and s.get("ok")]
    return list(dict.fromkeys(q for q in reversed(queries) if q))[:limit]


def _asked(state: AgentState) -> str:
    """The question the answer stages ask: the user's, or after a bridge hop, the one naming its entity."""
    hop = state.get("hop")
    return hop.asked if hop is not None else state["question"]


def _abstain_reason(state: AgentState, settings) -> str:
    ranked = state.get("ranked") or []
    if state["strategy"] in ("react", "reflexion") and len(state.get("steps") or []) >= _step_bound(state, settings) \
            and not ranked:
        return "step_limit_reached"
    if G.out_of_scope(_asked(state), ranked, settings.out_of_scope_threshold):
        return "out_of_scope"
    if G.relevance(ranked[0]) < settings.abstain_threshold:
        return "no_relevant_evidence"
    evidence = state.get("evidence")
    if evidence is not None and not evidence.sentences:
        return "no_relevant_evidence"
    return "unsupported_after_verification"


def _abstain_confidence(state: AgentState) -> float:
    ranked = state.get("ranked") or []
    # confidence of an abstention: how sure we are there is nothing to answer with
    return round(1.0 - min(1.0, max(0.0, G.relevance(ranked[0]))) if ranked else 1.0, 4)
