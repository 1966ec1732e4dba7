"""Generator speed for the configured model: prefill and decode throughput, and yes_probability latency with
and without KV prefix reuse (the LLM reranker's access pattern: one question, many passages).

    python -m evals.bench.bench_generator                      # default preset (1.5B)
    python -m evals.bench.bench_generator --preset fast        # 0.5B
    python -m evals.bench.bench_generator --json out.json

Numbers depend heavily on other load on the machine: llama.cpp threads spin, so a busy CPU halves them.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from agentkit.generate import load_generator
from agentkit.retrieve.llm_rerank import build_prompt
from agentkit.settings import Settings

FILLER = ("The committee reviewed the quarterly figures, noted a modest rise in maintenance costs, and asked the "
          "operations team to prepare a detailed plan for the next budget cycle. ")
PASSAGES = [
    ("Canberra is the capital city of Australia; the site was chosen in 1908 as a compromise between Sydney "
     "and Melbourne."),
    "Sydney is the largest city in Australia and is known for its harbour, the Opera House and its beaches.",
    "Bananas are rich in potassium and grow in tropical climates around the world.",
    "The Australian Parliament House in Canberra was opened in 1988 by Queen Elizabeth II.",
    "Melbourne hosted the Summer Olympic Games in 1956, the first held in the Southern Hemisphere.",
    "The Great Barrier Reef lies off the coast of Queensland and is the world's largest coral reef system.",
    "Mount Kosciuszko is the highest mountain on the Australian mainland at 2,228 metres.",
    "The platypus is one of the few mammals that lay eggs.",
]


def judge(question: str, passage: str, nonce: str = "") -> list[dict]:
    """The LLM reranker's own prompt; a nonce at the very start defeats prefix reuse for the baseline."""
    msgs = build_prompt(question, "", passage)
    msgs[0] = {"role": "system", "content": nonce + msgs[0]["content"]}
    return msgs


def bench(settings: Settings, prompt_tokens: int, decode_tokens: int, n_passages: int) -> dict:
    t0 = time.perf_counter()
    gen = load_generator(settings)
    load_s = time.perf_counter() - t0
    out: dict = {"model": gen.name, "n_threads": settings.n_threads, "n_ctx": settings.n_ctx, "load_s": round(load_s, 2),
                 "loadavg_1m": round(os.getloadavg()[0], 2)}

    # prefill: a fresh prompt of about `prompt_tokens` tokens, one output token
    reps = max(1, prompt_tokens // max(1, gen.count_tokens(FILLER)))
    fresh = f"Report {time.time_ns()}.\n" + FILLER * reps + "\nSummarise the report in one sentence."
    comp = gen.chat([{"role": "user", "content": fresh}], max_tokens=1)
    evaluated = comp.prompt_tokens - comp.cached_tokens
    out["prefill"] = {"tokens": evaluated, "seconds": round(comp.prefill_seconds or comp.seconds, 3),
                      "tok_per_s": round(evaluated / max(1e-9, comp.prefill_seconds or comp.seconds), 1)}

    # decode: free text, then JSON under a grammar (the schema adds sampling overhead per token)
    comp = gen.chat([{"role": "user", "content": "Write a long story about a lighthouse keeper."}],
                    max_tokens=decode_tokens)
    out["decode"] = {"tokens": comp.completion_tokens, "seconds": round(comp.decode_seconds or comp.seconds, 3),
                     "tok_per_s": round(comp.completion_tokens / max(1e-9, comp.decode_seconds or comp.seconds), 1)}
    schema = {"type": "object", "properties": {"title": {"type": "string", "maxLength": 60},
                                               "sentences": {"type": "array", "maxItems": 4,
                                                             "items": {"type": "string", "maxLength": 120}}},
              "required": ["title", "sentences"]}
    comp = gen.chat([{"role": "user", "content": "Describe a lighthouse keeper's day as JSON."}],
                    json_schema=schema, max_tokens=max(decode_tokens, 200))
    out["decode_json"] = {"tokens": comp.completion_tokens, "seconds": round(comp.decode_seconds or comp.seconds, 3),
                          "tok_per_s": round(comp.completion_tokens / max(1e-9, comp.decode_seconds or comp.seconds), 1)}

    # yes_probability: same question, n passages; with the shared prefix vs every prompt made unique up front
    question = f"What is the capital of Australia? (run {time.time_ns()})"
    passages = (PASSAGES * (n_passages // len(PASSAGES) + 1))[:n_passages]
    rows = {}
    for label, prompts in (
        ("with_prefix_reuse", [judge(question, p) for p in passages]),
        ("without_prefix_reuse", [judge(question, p, nonce=f"Case {i}-{time.time_ns()}. ")
                                  for i, p in enumerate(passages)]),
    ):
        t = time.perf_counter()
        probs = gen.yes_probability(prompts)
        secs = time.perf_counter() - t
        usage = getattr(gen, "last_usage", None)
        rows[label] = {"passages": len(prompts), "seconds": round(secs, 2),
                       "ms_per_passage": round(1000 * secs / len(prompts), 1),
                       "prompt_tokens": usage.prompt_tokens if usage else None,
                       "cached_tokens": usage.cached_tokens if usage else None,
                       "p_yes": [round(p, 2) for p in probs]}
    out["yes_probability"] = rows
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="default")
    ap.add_argument("--generator", help="registry name or GGUF path (overrides the preset)")
    ap.add_argument("--n-threads", type=int)
    ap.add_argument("--prompt-tokens", type=int, default=400)
    ap.add_argument("--decode-tokens", type=int, default=64)
    ap.add_argument("--passages", type=int, default=8)
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args()
    overrides = {k: v for k, v in {"generator": args.generator, "n_threads": args.n_threads}.items() if v}
    settings = Settings.from_preset(args.preset, **overrides)
    res = bench(settings, args.prompt_tokens, args.decode_tokens, args.passages)
    print(f"model {res['model']}  threads {res['n_threads']}  load {res['load_s']} s  loadavg {res['loadavg_1m']}")
    for key in ("prefill", "decode", "decode_json"):
        r = res[key]
        print(f"{key:<12} {r['tokens']:>5} tok in {r['seconds']:>7.2f} s  = {r['tok_per_s']:>6.1f} tok/s")
    for label, r in res["yes_probability"].items():
        print(f"yes_prob {label:<21} {r['passages']} passages {r['seconds']:>6.2f} s  {r['ms_per_passage']:>7.1f} ms/passage"
              f"  cached {r['cached_tokens']}/{r['prompt_tokens']} tokens")
    if args.json:
        args.json.write_text(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
