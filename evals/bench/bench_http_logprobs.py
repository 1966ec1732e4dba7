"""What per-token log-probabilities cost over the OpenAI-compatible backend against ``llama_cpp.server``.

Starts ``python -m llama_cpp.server`` on loopback with a registry model, then asks one grammar-constrained
answer call (evidence from a corpus document, an answer + cited sentences schema) alternately with and
without ``logprobs``, and reports the median seconds of each. The prompt is the same every time, so the
server's prefix cache makes prefill nearly free after the first call and the difference is decode plus
the logprobs bookkeeping. This is why ``Settings.generator_logprobs`` is off by default.

    python -m evals.bench.bench_http_logprobs                      # 1.5B, 3 rounds
    python -m evals.bench.bench_http_logprobs --generator qwen2.5-0.5b --rounds 5 --json /tmp/lp.json

llama.cpp threads spin: any other load on the machine inflates every number here.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from agentkit import models
from agentkit.generate.llama_backend import extra_buffers_usable
from agentkit.generate.openai_backend import OpenAIGenerator

ROOT = Path(__file__).resolve().parents[2]
DOCUMENT = ROOT / "corpora" / "medicine" / "docs"

# on CPUs whose AMX kernels crash, the server runs under the local backend's own workaround
_PATCHED_SERVER = """
import sys
import llama_cpp
from agentkit.generate.llama_backend import _without_extra_buffers
sys.argv = ["llama_cpp.server", *sys.argv[1:]]
from llama_cpp.server.__main__ import main
with _without_extra_buffers(llama_cpp):
    main()
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def llama_server(model_path: Path, n_ctx: int = 2048, log_path: Path | None = None,
                 start_timeout: float = 120.0) -> Iterator[str]:
    """A ``llama_cpp.server`` subprocess on loopback serving ``model_path``; yields its base URL and stops it
    on exit. Its log goes to a file, not a pipe: it logs a lot at start-up and would block on a full pipe."""
    port = free_port()
    args = ["--model", str(model_path), "--host", "127.0.0.1", "--port", str(port), "--n_ctx", str(n_ctx),
            "--verbose", "false"]
    cmd = ([sys.executable, "-m", "llama_cpp.server", *args] if extra_buffers_usable(model_path)
           else [sys.executable, "-c", _PATCHED_SERVER, *args])
    log_path = log_path or Path(tempfile.mkstemp(prefix="llama_server_", suffix=".log")[1])
    url = f"http://127.0.0.1:{port}"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + start_timeout
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"llama_cpp.server exited ({proc.returncode}): {log_path.read_text()[-2000:]}")
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(f"{url}/v1/models", timeout=2).status_code == 200:
                        break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"llama_cpp.server did not come up within {start_timeout:.0f} s")
                time.sleep(0.5)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def answer_call() -> tuple[list[dict], dict]:
    text = min(DOCUMENT.glob("*")).read_text()
    sentences = [s.strip() for s in text.replace("\n", " ").split(". ") if s.strip()][:25]
    evidence = "\n".join(f"[s{i}] {s}" for i, s in enumerate(sentences))
    ids = [f"s{i}" for i in range(len(sentences))]
    schema = {"type": "object", "required": ["answer", "sentences"], "properties": {
        "answer": {"type": "string", "maxLength": 60},
        "sentences": {"type": "array", "maxItems": 2, "items": {
            "type": "object", "required": ["text", "cite"], "properties": {
                "text": {"type": "string", "maxLength": 200},
                "cite": {"type": "array", "maxItems": 2, "items": {"enum": ids}}}}}}}
    messages = [{"role": "system", "content": "Answer from the evidence only, in JSON, citing sentence ids."},
                {"role": "user", "content": f"{evidence}\n\nQuestion: What is this document about, in two sentences?"}]
    return messages, schema


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--generator", default="qwen2.5-1.5b")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--json", type=Path, help="write the figures here")
    args = ap.parse_args()
    messages, schema = answer_call()
    runs: dict[str, list] = {"with": [], "without": []}
    with llama_server(models.resolve_generator(args.generator), n_ctx=4096) as url:
        OpenAIGenerator(url).chat(messages, json_schema=schema, max_tokens=200)  # fills the prefix cache
        for _ in range(args.rounds):
            for label, on in (("with", True), ("without", False)):
                comp = OpenAIGenerator(url, token_logprobs=on).chat(messages, json_schema=schema, max_tokens=200)
                runs[label].append({"seconds": comp.seconds, "prompt_tokens": comp.prompt_tokens,
                                    "completion_tokens": comp.completion_tokens})
    report = {"generator": args.generator, "rounds": args.rounds, **{
        f"{label}_logprobs": {"median_seconds": round(statistics.median(r["seconds"] for r in rs), 2),
                              "prompt_tokens": rs[0]["prompt_tokens"],
                              "completion_tokens": [r["completion_tokens"] for r in rs]}
        for label, rs in runs.items()}}
    print(json.dumps(report, indent=1))
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
