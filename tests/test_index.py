"""Persistent index: round trip, manifest checks, corruption, IVF mode, and crash atomicity."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from agentkit.corpus import Corpus
from agentkit.embed import load_embedder
from agentkit.errors import IndexCorruptError, IndexMismatchError, IndexNotFoundError
from agentkit.settings import Settings
from agentkit.types import Document

REPO = Path(__file__).resolve().parents[1]

DOCS = [
    Document(id="veltrazine", source="med/veltrazine.md", title="Veltrazine monograph",
             text="Veltrazine is an antihypertensive. The maximum daily dose is 40 mg for adults.",
             metadata={"date": "2024-03-01"}),
    Document(id="paris", source="geo/paris.md", title="Paris", corpus="geo",
             text="Paris is the capital of France and sits on the Seine."),
    Document(id="tokyo", source="geo/tokyo.md", title="Tokyo", corpus="geo",
             text="Tokyo is the capital of Japan and its largest city."),
    Document(id="otters", source="zoo/otters.md", title="Sea otters",
             text="Sea otters hold hands while sleeping so they do not drift apart."),
]


@pytest.fixture(scope="module")
def embedder():
    return load_embedder("minilm")


@pytest.fixture
def built(tmp_path, embedder) -> Path:
    index = tmp_path / "index"
    Corpus(index, Settings(), embedder=embedder).add_documents(DOCS)
    return index


def _state(c: Corpus) -> tuple:
    """Everything a user can observe: documents, chunks, and ranked search results."""
    docs = sorted((d.id, d.sha256, d.text) for d in c.documents())
    hits = [[(p.chunk.id, round(p.score, 6)) for p in c.search(q, k=4)]
            for q in ("capital of Japan", "antihypertensive dose", "otters sleeping")]
    return docs, len(c), hits


def version_dir(index: Path) -> Path:
    return index / (index / "CURRENT").read_text().strip()


# -- round trip ------------------------------------------------------------------------------


def test_round_trip_persists_documents_chunks_and_results(built, embedder):
    first = Corpus.open(built, embedder=embedder)
    again = Corpus.open(built, embedder=embedder)
    assert _state(first) == _state(again)
    assert len(first) == 4
    doc = first.document("veltrazine")
    assert doc.metadata == {"date": "2024-03-01"} and doc.title == "Veltrazine monograph"
    chunk = first.chunk("veltrazine::0")
    assert doc.text[chunk.start:chunk.end] == chunk.text
    assert first.search("capital of Japan", k=1)[0].doc_id == "tokyo"


def test_manifest_records_how_the_index_was_built(built):
    manifest = json.loads((version_dir(built) / "manifest.json").read_text())
    assert manifest["schema_version"] == 1
    assert manifest["embedder"] == {"name": "minilm", "dim": 384}
    assert manifest["chunker"] == {"chunk_size": 1000, "overlap": 1}
    assert manifest["dense"]["kind"] == "flat_ip"
    assert manifest["counts"] == {"documents": 4, "chunks": 4}
    assert manifest["documents"]["paris"] == DOCS[1].sha256
    vectors = np.load(version_dir(built) / "vectors.npy")
    assert vectors.shape == (4, 384) and np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)


def test_only_the_live_version_is_kept(built, embedder):
    c = Corpus.open(built, embedder=embedder)
    c.add_documents([Document(id="extra", source="x.md", text="An extra document about lighthouses.")])
    versions = sorted(p.name for p in built.iterdir() if p.name.startswith("v-"))
    assert versions == [(built / "CURRENT").read_text().strip()] == ["v-000002"]


# -- errors -----------------------------------------------------------------------------------


def test_missing_or_empty_directory_is_not_found(tmp_path):
    with pytest.raises(IndexNotFoundError, match="Corpus.build"):
        Corpus.open(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(IndexNotFoundError):
        Corpus.open(tmp_path / "empty")
    (tmp_path / "notes.md").write_text("a file given where the index directory belongs")
    with pytest.raises(IndexNotFoundError, match="is a file, not an index directory"):
        Corpus.open(tmp_path / "notes.md")


def test_other_embedder_name_is_a_mismatch(built):
    with pytest.raises(IndexMismatchError) as err:
        Corpus.open(built, settings=Settings(embedder="bge-small"))
    msg = str(err.value)
    assert "'minilm'" in msg and "'bge-small'" in msg and "rebuild" in msg


class PaddedEmbedder:
    """A real embedder whose vectors are zero-padded to another dimension."""

    def __init__(self, inner, dim: int):
        self.inner, self.name, self.dim = inner, inner.name, dim

    def encode(self, texts, batch_size=64):
        v = self.inner.encode(texts, batch_size)
        return np.hstack([v, np.zeros((len(v), self.dim - v.shape[1]), dtype=np.float32)])


def test_other_dimension_is_a_mismatch(built, embedder):
    with pytest.raises(IndexMismatchError, match="384-d"):
        Corpus.open(built, embedder=PaddedEmbedder(embedder, 768))
    with pytest.raises(IndexMismatchError):
        Corpus.build([], built, embedder=PaddedEmbedder(embedder, 768))


def test_other_schema_version_is_a_mismatch(built):
    path = version_dir(built) / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["schema_version"] = 99
    path.write_text(json.dumps(manifest))
    with pytest.raises(IndexMismatchError, match="schema version 99"):
        Corpus.open(built)


@pytest.mark.parametrize("damage", ["truncate_vectors", "garble_chunks", "garble_manifest", "drop_bm25",
                                    "dangling_current", "docs_disagree"])
def test_corrupt_files_raise_index_corrupt(built, embedder, damage):
    v = version_dir(built)
    if damage == "truncate_vectors":
        data = (v / "vectors.npy").read_bytes()
        (v / "vectors.npy").write_bytes(data[: len(data) // 2])
    elif damage == "garble_chunks":
        size = (v / "chunks.json").stat().st_size
        (v / "chunks.json").write_bytes(b"{" * size)  # same size: caught by parsing, not the size check
    elif damage == "garble_manifest":
        (v / "manifest.json").write_text("{not json")
    elif damage == "drop_bm25":
        for f in (v / "bm25").iterdir():
            if f.name.startswith("data"):
                f.unlink()
    elif damage == "dangling_current":
        (built / "CURRENT").write_text("v-000042\n")
    elif damage == "docs_disagree":
        docs = json.loads((v / "docs.json").read_text())
        docs[0]["sha256"] = "0" * 64
        text = json.dumps(docs)
        manifest = json.loads((v / "manifest.json").read_text())
        manifest["files"]["docs.json"] = len(text.encode())
        (v / "docs.json").write_text(text)
        (v / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(IndexCorruptError, match="ebuild"):
        Corpus.open(built, embedder=embedder)


def test_a_flipped_byte_in_a_document_text_is_corruption_not_a_quote(built, embedder):
    # the same size, so the manifest's size check passes: only the document's checksum can catch it
    texts = version_dir(built) / "texts.bin"
    data = bytearray(texts.read_bytes())
    at = bytes(data).index(b"40 mg")
    data[at:at + 2] = b"90"
    texts.write_bytes(bytes(data))
    c = Corpus.open(built, embedder=embedder)
    with pytest.raises(IndexCorruptError, match="veltrazine.*checksum.*ebuild"):
        c.search("maximum daily dose of Veltrazine", k=2)
    with pytest.raises(IndexCorruptError):
        c.document("veltrazine")
    # documents that were not damaged still read
    assert c.document("tokyo").text.startswith("Tokyo is the capital")


# -- BM25 ------------------------------------------------------------------------------------------


def test_vectorised_bm25_matrix_equals_bm25s():
    """Our numpy builder must produce exactly what bm25s.BM25.index would (it only skips the Python loop)."""
    import bm25s

    from agentkit.index.sparse import SparseIndex, TokenStore, lucene_matrix

    rng = np.random.default_rng(0)
    texts = [" ".join(f"w{i}" for i in rng.zipf(1.3, rng.integers(1, 40)) if i < 400) for _ in range(800)]
    texts[3] = "the of and"  # a chunk with no indexable tokens
    tokens = TokenStore.empty().select_and_extend(np.zeros(0, np.int64), texts)
    ours = lucene_matrix(tokens, 1.5, 0.75)
    ref = bm25s.BM25()
    ref.index((tokens.rows(), dict(tokens.vocab)), create_empty_token=False, show_progress=False)
    for key in ("data", "indices", "indptr"):
        np.testing.assert_allclose(ours[key], ref.scores[key], rtol=1e-5)
    np.testing.assert_allclose(SparseIndex.build(tokens).scores("w1 w7 w30 unknown"),
                               ref.get_scores(["w1", "w7", "w30"]), rtol=1e-5)


# -- ANN mode ---------------------------------------------------------------------------------


def _topic_docs(n: int, prefix: str = "doc") -> list[Document]:
    topics = ["volcanoes erupt lava", "penguins live in Antarctica", "jazz music from New Orleans",
              "compilers translate source code", "tides follow the moon", "sourdough bread needs starter"]
    return [Document(id=f"{prefix}-{i}", source=f"{prefix}/{i}.md", title=f"Note {i}",
                     text=f"Note {i} is about {topics[i % len(topics)]}. Serial {prefix.upper()}{i:05d}.")
            for i in range(n)]


def test_ivf_above_threshold_supports_update_and_delete(tmp_path, embedder):
    settings = Settings(ann_threshold=150)
    c = Corpus(tmp_path / "ivf", settings, embedder=embedder)
    c.add_documents(_topic_docs(100))
    assert c.manifest.dense.kind == "flat_ip"
    c.add_documents(_topic_docs(150, prefix="more"))
    assert c.manifest.dense.kind == "ivf_flat" and c.manifest.dense.nlist >= 64
    hit = c.search("Serial MORE00077", k=3)[0]
    assert hit.doc_id == "more-77" and hit.ranks.get("bm25") == 1

    # incremental IVF: delete and update are applied to the stored index, not retrained
    trained = c.manifest.dense.trained_at
    c.delete(["doc-3", "more-5"])
    c.add_documents([Document(id="more-6", source="more/6.md", title="Note 6",
                              text="Note 6 now covers glaciers carving icebergs.")])
    reopened = Corpus.open(tmp_path / "ivf", settings=settings, embedder=embedder)
    assert reopened.manifest.dense.trained_at == trained
    assert len(reopened) == 248
    results = reopened.search("glaciers carving icebergs", k=5)
    assert results[0].doc_id == "more-6" and "glaciers" in results[0].text
    found = {p.doc_id for q in ("Serial DOC00003", "Serial MORE00005", "volcanoes") for p in reopened.search(q, k=50)}
    assert not found & {"doc-3", "more-5"}
    # filtered search on IVF is exact over the allowed subset
    only = reopened.search("penguins", k=5, filters={"doc_id": ["doc-1", "doc-7", "more-13"]})
    assert {p.doc_id for p in only} == {"doc-1", "doc-7", "more-13"}


# -- crash atomicity --------------------------------------------------------------------------

CHILD = textwrap.dedent("""
    import sys, time
    from agentkit.corpus import Corpus
    from agentkit.types import Document

    index, stop = sys.argv[1], sys.argv[2]
    corpus = Corpus.open(index)
    docs = [Document(id=f"bulk-{i}", source=f"bulk/{i}.md", title=f"Bulk {i}",
                     text=f"Bulk document {i} about the capital of Japan and sea otters. " * 3)
            for i in range(120)]
    docs.append(Document(id="tokyo", source="geo/tokyo.md", title="Tokyo", corpus="geo",
                         text="Tokyo was renamed in this interrupted update."))

    def progress(stage, done, total):
        if f"{stage}:{done}" == stop:
            print("PAUSED", flush=True)
            time.sleep(600)

    corpus.add_documents(docs, progress=progress)
    corpus.delete(["paris"])
    print("DONE", flush=True)
""")


@pytest.mark.parametrize("stop", ["write:2", "write:8"])  # mid-write / complete but not yet live
def test_killed_ingest_leaves_previous_index_intact(built, embedder, tmp_path, stop):
    before = _state(Corpus.open(built, embedder=embedder))
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, str(script), str(built), stop], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, env=env, cwd=REPO)
    try:
        deadline = time.monotonic() + 240
        line = ""
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if line.strip() in ("PAUSED", "DONE") or not line:
                break
        assert line.strip() == "PAUSED", f"child did not reach {stop} (got {line!r})"
        leftovers = [p.name for p in built.iterdir() if p.name.startswith((".tmp-", "v-"))]
        assert len(leftovers) == 2  # the live version plus the half-written one
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    after = Corpus.open(built, embedder=embedder)
    assert _state(after) == before
    assert "bulk-0" not in {d.id for d in after.documents()}
    assert "renamed" not in after.document("tokyo").text

    # the next writer cleans up what the killed one left and commits normally
    after.add_documents([Document(id="late", source="late.md", text="A late addition about lighthouses.")])
    names = sorted(p.name for p in built.iterdir() if p.name not in ("CURRENT", "LOCK"))
    assert names == [(built / "CURRENT").read_text().strip()]
    assert Corpus.open(built, embedder=embedder).search("lighthouses", k=1)[0].doc_id == "late"


def test_a_new_index_is_not_mixed_into_a_folder_of_other_files(tmp_path, embedder):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "notes.md").write_text("# Notes\n\nThe user's own file.\n")
    with pytest.raises(IndexNotFoundError, match="not an index and already holds 1 other entries .notes.md"):
        Corpus(docs, Settings(), embedder=embedder).add_documents(DOCS)  # e.g. `--index docs` by mistake
    assert sorted(p.name for p in docs.iterdir()) == ["notes.md"]  # nothing written beside it
    with pytest.raises(IndexNotFoundError, match="is a file"):
        Corpus(docs / "notes.md", Settings(), embedder=embedder).add_documents(DOCS)
    # an empty directory is fine
    (tmp_path / "empty").mkdir()
    assert len(Corpus(tmp_path / "empty", Settings(), embedder=embedder).add_documents(DOCS).added) == 4
