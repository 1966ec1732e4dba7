"""Index benchmarks: ingest throughput vs raw embedding speed, hybrid search latency by corpus size,
peak memory and size on disk.

    python -m evals.bench.bench_index --out /tmp/bench_index.json                     # ingest + 1k, 100k
    python -m evals.bench.bench_index --sizes 1000,100000,1000000 --skip-ingest --work /tmp/idx
    python -m evals.bench.bench_index --ingest-data pubmedqa --ingest-limit 200 --sizes ""

(a) Ingest: a real corpus (HotpotQA paragraphs or PubMedQA abstracts, one ``.md`` file each) is ingested
with ``Corpus.build`` (load, chunk, embed, commit) and compared with ``SentenceTransformer.encode`` on the
exact texts the corpus embeds (``title + "\\n" + chunk``), at the batch size the embedder uses. Runs are
interleaved (raw, ingest, raw, ingest...) so machine load hits both alike.

(b) Search: synthetic indexes (random unit vectors, dim 384; random Zipf-distributed pseudo-words for BM25)
are written through ``IndexStore.commit``, the same code path ``Corpus`` uses, so sizes above
``settings.ann_threshold`` get the IVF index. Latency is measured with ``Corpus.search`` (real query
embedding, dense + BM25 + RRF + passage assembly) in a fresh process per size; "retrieval" repeats the same
queries, whose embeddings ``Corpus`` then has cached, so it excludes the embedding.

(c) Peak RSS (``ru_maxrss``) of the build process and of the search process, and the index size on disk.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[2]
DATA = REPO_ROOT.parent / "shared" / "data"
DIM = 384
CHUNKS_PER_DOC = 10
WORDS_PER_CHUNK = 40
VOCAB_SIZE = 30_000
QUERY_WORDS = 6


# ---------------------------------------------------------------------------------------------- helpers


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def dir_size_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1e6


def percentiles(ms: list[float]) -> dict[str, float]:
    arr = np.asarray(ms)
    return {"p50_ms": round(float(np.percentile(arr, 50)), 2), "p95_ms": round(float(np.percentile(arr, 95)), 2),
            "mean_ms": round(float(arr.mean()), 2), "n": len(ms)}


def loadavg() -> float:
    return round(os.getloadavg()[0], 2)


# ---------------------------------------------------------------------------------------------- (a) ingest


def write_ingest_corpus(name: str, out_dir: Path, limit: int | None) -> int:
    """One markdown file per HotpotQA paragraph or PubMedQA abstract; returns the number of files."""
    out_dir.mkdir(parents=True, exist_ok=True)
    if name == "hotpotqa":
        from evals.loaders.hotpotqa import load_hotpotqa

        docs = load_hotpotqa(DATA / "hotpotqa" / "hotpot_dev_distractor_first103.json").documents
    elif name == "pubmedqa":
        from evals.loaders.pubmedqa import load_pubmedqa

        docs = load_pubmedqa(DATA / "pubmedqa" / "pqal_dev500.json").documents
    else:
        raise SystemExit(f"unknown --ingest-data {name!r}: hotpotqa or pubmedqa")
    docs = docs[:limit] if limit else docs
    for d in docs:
        stem = re.sub(r"[^\w.-]+", "_", d.id)  # PubMedQA ids are "pubmedqa/<pmid>"
        (out_dir / f"{stem}.md").write_text(f"# {d.title}\n\n{d.text}\n", encoding="utf-8")
    return len(docs)


def bench_ingest(name: str, limit: int | None, repeats: int, work: Path) -> dict:
    from sentence_transformers import SentenceTransformer

    from agentkit import models
    from agentkit.corpus import Corpus
    from agentkit.embed import load_embedder
    from agentkit.index.text import embed_text, text_hash
    from agentkit.ingest import chunk_document, load_paths
    from agentkit.settings import Settings

    settings = Settings.from_preset("default")
    src = work / f"ingest_{name}"
    shutil.rmtree(src, ignore_errors=True)
    n_files = write_ingest_corpus(name, src, limit)
    # the exact (deduplicated) texts Corpus embeds for these files
    texts: dict[str, str] = {}
    for doc in load_paths([src], corpus=name).documents:
        for c in chunk_document(doc, chunk_size=settings.chunk_size, overlap=settings.chunk_overlap):
            t = embed_text(doc.title, c.text)
            texts.setdefault(text_hash(t), t)
    raw_texts = list(texts.values())

    embedder = load_embedder(settings.embedder)
    raw = SentenceTransformer(str(models.resolve_embedder(settings.embedder)), device="cpu", local_files_only=True)
    batch = 64  # SentenceTransformerEmbedder.encode's default batch size, which Corpus uses
    raw.encode(raw_texts[:batch], batch_size=batch)  # warm-up both (first calls allocate)
    embedder.encode(raw_texts[:batch])

    raw_rates, ingest_rates, runs = [], [], []
    for r in range(repeats):
        t0 = time.perf_counter()
        raw.encode(raw_texts, batch_size=batch, normalize_embeddings=True, convert_to_numpy=True,
                   show_progress_bar=False)
        raw_s = time.perf_counter() - t0
        raw_rates.append(len(raw_texts) / raw_s)

        index_dir = work / f"ingest_index_{r}"
        shutil.rmtree(index_dir, ignore_errors=True)
        t0 = time.perf_counter()
        corpus = Corpus.build([src], index_dir, corpus=name, settings=settings, embedder=embedder)
        wall = time.perf_counter() - t0
        rep = corpus.last_report
        ingest_rates.append(rep.n_chunks / wall)
        runs.append({"raw_s": round(raw_s, 2), "ingest_s": round(wall, 2), "n_chunks": rep.n_chunks,
                     "n_embedded": rep.n_embedded, "loadavg_1m": loadavg()})
        print(f"ingest run {r}: raw {len(raw_texts) / raw_s:.1f} texts/s, ingest {rep.n_chunks / wall:.1f} "
              f"chunks/s (load {loadavg()})", file=sys.stderr)
        size = dir_size_mb(index_dir)
        shutil.rmtree(index_dir, ignore_errors=True)

    med_raw, med_ing = statistics.median(raw_rates), statistics.median(ingest_rates)
    return {
        "data": name, "files": n_files, "chunks": len(raw_texts), "batch_size": batch,
        "mean_chars_per_text": round(sum(map(len, raw_texts)) / len(raw_texts), 1),
        "raw_encode_texts_per_s": round(med_raw, 1), "ingest_chunks_per_s": round(med_ing, 1),
        "ratio": round(med_ing / med_raw, 3), "best_ratio": round(max(ingest_rates) / max(raw_rates), 3),
        "index_size_mb": round(size, 2), "runs": runs, "peak_rss_mb": round(peak_rss_mb(), 1),
        "torch_threads": __import__("torch").get_num_threads(),
    }


# ---------------------------------------------------------------------------------------------- (b, c) synthetic


def vocabulary(n: int, seed: int = 7) -> np.ndarray:
    """Distinct pronounceable pseudo-words (none is an English stopword, so BM25 keeps them all)."""
    rng = np.random.default_rng(seed)
    cons, vows = list("bcdfghjklmnprstvz"), list("aeiou")
    words: dict[str, None] = {}
    while len(words) < n:
        k = int(rng.integers(2, 5))
        w = "".join(cons[rng.integers(len(cons))] + vows[rng.integers(len(vows))] for _ in range(k))
        words.setdefault(w + cons[rng.integers(len(cons))], None)
    return np.asarray(list(words), dtype=object)


def zipf_probs(n: int) -> np.ndarray:
    p = 1.0 / (np.arange(1, n + 1) + 2.7)  # Zipf-Mandelbrot, roughly natural-text word frequencies
    return p / p.sum()


def random_texts(rng: np.random.Generator, vocab: np.ndarray, probs: np.ndarray, n: int, words: int) -> list[str]:
    ids = rng.choice(len(vocab), size=(n, words), p=probs)
    return [" ".join(row) + "." for row in vocab[ids]]


def build_synthetic(size: int, index_dir: Path, seed: int = 0) -> dict:
    """Write a ``size``-chunk index through IndexStore.commit (the Corpus write path) with random content."""
    from agentkit.index.manifest import ChunkerInfo, EmbedderInfo
    from agentkit.index.store import Change, IndexStore
    from agentkit.index.text import embed_text, text_hash
    from agentkit.settings import Settings
    from agentkit.types import Chunk, Document

    settings = Settings.from_preset("default")
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    vocab, probs = vocabulary(VOCAB_SIZE), zipf_probs(VOCAB_SIZE)
    texts = random_texts(rng, vocab, probs, size, WORDS_PER_CHUNK)
    docs: list[Document] = []
    chunks: list[Chunk] = []
    hashes: list[str] = []
    sep = "\n\n"
    for d, first in enumerate(range(0, size, CHUNKS_PER_DOC)):
        parts = texts[first : first + CHUNKS_PER_DOC]
        doc = Document(id=f"doc-{d:07d}", source=f"synthetic/doc-{d:07d}.md", title=f"Synthetic document {d}",
                       text=sep.join(parts), corpus="synthetic")
        docs.append(doc)
        pos = 0
        for j, part in enumerate(parts):
            chunks.append(Chunk(id=f"{doc.id}#{j}", doc_id=doc.id, text=part, start=pos, end=pos + len(part)))
            hashes.append(text_hash(embed_text(doc.title, part)))
            pos += len(part) + len(sep)
    vectors = np.empty((size, DIM), dtype=np.float32)
    for i in range(0, size, 100_000):  # in slices: a float64 1M x 384 temporary would be 3 GB
        v = rng.standard_normal((min(100_000, size - i), DIM), dtype=np.float32)
        vectors[i : i + len(v)] = v / np.linalg.norm(v, axis=1, keepdims=True)
    gen_s = time.perf_counter() - t0

    shutil.rmtree(index_dir, ignore_errors=True)
    store = IndexStore(index_dir)
    t1 = time.perf_counter()
    with store.write_lock():
        store.commit(None, Change(remove=set(), docs=docs, chunks=chunks, vectors=vectors, hashes=hashes),
                     embedder=EmbedderInfo(name=settings.embedder, dim=DIM),
                     chunker=ChunkerInfo(chunk_size=settings.chunk_size, overlap=settings.chunk_overlap),
                     ann_threshold=settings.ann_threshold)
    commit_s = time.perf_counter() - t1
    manifest = store.read_manifest()
    return {"size": size, "generate_s": round(gen_s, 1), "commit_s": round(commit_s, 1),
            "dense": manifest.dense.model_dump(), "disk_mb": round(dir_size_mb(index_dir), 1),
            "build_peak_rss_mb": round(peak_rss_mb(), 1), "loadavg_1m": loadavg()}


def search_synthetic(index_dir: Path, n_queries: int, repeats: int, seed: int = 1) -> dict:
    import psutil

    from agentkit.corpus import Corpus
    from agentkit.embed import load_embedder

    embedder = load_embedder("minilm")
    embedder.encode(["warm up the embedder"])
    base_rss = psutil.Process().memory_info().rss / 1e6
    t0 = time.perf_counter()
    corpus = Corpus.open(index_dir, embedder=embedder)
    open_s = time.perf_counter() - t0
    rng = np.random.default_rng(seed)
    vocab, probs = vocabulary(VOCAB_SIZE), zipf_probs(VOCAB_SIZE)

    for q in random_texts(rng, vocab, probs, 5, QUERY_WORDS):  # warm-up: page in the index
        corpus.search(q, k=10)
    embed_ms: list[float] = []
    end_to_end: list[list[float]] = []
    retrieval: list[list[float]] = []
    loads = []
    for _ in range(repeats):
        queries = random_texts(rng, vocab, probs, n_queries, QUERY_WORDS)  # fresh: no cached embeddings
        loads.append(loadavg())
        e2e, ret = [], []
        for q in queries:
            t = time.perf_counter()
            res = corpus.search(q, k=10)
            e2e.append((time.perf_counter() - t) * 1000)
            assert len(res) == 10, f"expected 10 results, got {len(res)}"
        for q in queries:  # same queries again: embeddings cached by Corpus, so this is retrieval alone
            t = time.perf_counter()
            corpus.search(q, k=10)
            ret.append((time.perf_counter() - t) * 1000)
        for q in queries[: max(10, n_queries // 4)]:
            t = time.perf_counter()
            embedder.encode([q + " x"])  # a new string: not in any cache
            embed_ms.append((time.perf_counter() - t) * 1000)
        end_to_end.append(e2e)
        retrieval.append(ret)
    rss = psutil.Process().memory_info().rss / 1e6
    # report the repeat with the lowest median: the least disturbed by other load on the machine
    best = min(range(repeats), key=lambda i: statistics.median(end_to_end[i]))
    return {
        "chunks": len(corpus), "dense_kind": corpus.manifest.dense.kind, "nprobe": corpus.manifest.dense.nprobe,
        "open_s": round(open_s, 2),
        "hybrid": percentiles(end_to_end[best]), "retrieval_only": percentiles(retrieval[best]),
        "query_embed": percentiles(embed_ms),
        "hybrid_all_repeats_p50_ms": [round(statistics.median(x), 2) for x in end_to_end],
        "retrieval_all_repeats_p50_ms": [round(statistics.median(x), 2) for x in retrieval],
        "loadavg_1m_per_repeat": loads,
        "rss_index_mb": round(rss - base_rss, 1), "search_peak_rss_mb": round(peak_rss_mb(), 1),
    }


def set_torch_threads(n: int) -> None:
    """0 keeps torch's default (one thread per core). On a shared, busy machine a 2-thread forward pass
    waits at every op for a descheduled peer thread: 1 thread can be many times faster per query."""
    if n > 0:
        import torch

        torch.set_num_threads(n)


def run_worker(args: list[str], torch_threads: int) -> dict:
    """Each build and each search runs in its own process, so ru_maxrss is that phase's peak alone."""
    cmd = [sys.executable, "-m", "evals.bench.bench_index", "--worker", str(torch_threads), *args]
    proc = subprocess.run(cmd, check=False, capture_output=True, text=True, cwd=REPO_ROOT,
                          env={**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"})
    if proc.returncode != 0:
        raise SystemExit(f"worker failed: {' '.join(cmd)}\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def bench_size(size: int, work: Path, reuse: bool, n_queries: int, repeats: int, torch_threads: int) -> dict:
    index_dir = work / f"synthetic_{size}"
    out: dict = {"size": size}
    existing = None
    if reuse and (index_dir / "CURRENT").is_file():
        from agentkit.index.store import IndexStore

        existing = IndexStore(index_dir).read_manifest().counts.chunks
    if existing == size:
        out["build"] = {"reused": True, "disk_mb": round(dir_size_mb(index_dir), 1)}
    else:
        t0 = time.perf_counter()
        out["build"] = run_worker(["build", str(size), str(index_dir)], torch_threads)
        out["build"]["wall_s"] = round(time.perf_counter() - t0, 1)
    print(f"{size}: build {json.dumps(out['build'])}", file=sys.stderr)
    out["search"] = run_worker(["search", str(index_dir), str(n_queries), str(repeats)], torch_threads)
    s = out["search"]
    print(f"{size}: hybrid p50 {s['hybrid']['p50_ms']} ms p95 {s['hybrid']['p95_ms']} ms; retrieval-only p50 "
          f"{s['retrieval_only']['p50_ms']} ms p95 {s['retrieval_only']['p95_ms']} ms; embed p50 "
          f"{s['query_embed']['p50_ms']} ms; {s['dense_kind']}; search peak RSS {s['search_peak_rss_mb']} MB "
          f"(loads {s['loadavg_1m_per_repeat']})", file=sys.stderr)
    return out


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--worker"]:
        threads, kind, *rest = argv[1:]
        set_torch_threads(int(threads))
        if kind == "build":
            result = build_synthetic(int(rest[0]), Path(rest[1]))
        else:
            result = search_synthetic(Path(rest[0]), int(rest[1]), int(rest[2]))
        print(json.dumps(result))
        return 0

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1000,100000", help="comma list of chunk counts ('' for none)")
    ap.add_argument("--queries", type=int, default=100, help="distinct queries per repeat")
    ap.add_argument("--repeats", type=int, default=3, help="latency repeats (the least-loaded one is reported)")
    ap.add_argument("--work", type=Path, default=None, help="where indexes go (default: a temp dir, removed)")
    ap.add_argument("--reuse", action="store_true", help="reuse synthetic indexes of the right size in --work")
    ap.add_argument("--skip-ingest", action="store_true")
    ap.add_argument("--ingest-data", default="hotpotqa", choices=["hotpotqa", "pubmedqa"])
    ap.add_argument("--ingest-limit", type=int, default=None, help="first N documents of the ingest corpus")
    ap.add_argument("--ingest-repeats", type=int, default=2)
    ap.add_argument("--torch-threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--out", type=Path, default=None, help="write the results as JSON")
    args = ap.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]

    work = args.work or Path(tempfile.mkdtemp(prefix="bench_index_"))
    work.mkdir(parents=True, exist_ok=True)
    result: dict = {"date": time.strftime("%Y-%m-%d %H:%M"), "cpus": os.cpu_count(), "loadavg_1m_start": loadavg(),
                    "torch_threads": args.torch_threads or "default"}
    if not args.skip_ingest:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        set_torch_threads(args.torch_threads)
        result["ingest"] = bench_ingest(args.ingest_data, args.ingest_limit, args.ingest_repeats, work)
        i = result["ingest"]
        print(f"ingest {i['data']}: {i['ingest_chunks_per_s']} chunks/s vs raw encode {i['raw_encode_texts_per_s']} "
              f"texts/s -> ratio {i['ratio']} (best {i['best_ratio']})", file=sys.stderr)
    result["sizes"] = [bench_size(s, work, args.reuse, args.queries, args.repeats, args.torch_threads) for s in sizes]
    result["loadavg_1m_end"] = loadavg()
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1), encoding="utf-8")
        print(f"wrote {args.out}", file=sys.stderr)
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
