"""Corpus API: building from files, incremental add / update / delete without re-embedding."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentkit import Corpus as ExportedCorpus
from agentkit.corpus import Corpus, IngestReport
from agentkit.embed import load_embedder
from agentkit.settings import Settings
from agentkit.types import Document


class CountingEmbedder:
    """The real MiniLM embedder, recording every text it is asked to embed."""

    def __init__(self):
        self.inner = load_embedder("minilm")
        self.name, self.dim = self.inner.name, self.inner.dim
        self.texts: list[str] = []

    def encode(self, texts, batch_size=64):
        self.texts.extend(texts)
        return self.inner.encode(texts, batch_size)


@pytest.fixture
def emb() -> CountingEmbedder:
    return CountingEmbedder()


def _doc(doc_id: str, text: str, **kw) -> Document:
    return Document(id=doc_id, source=f"{doc_id}.md", title=kw.pop("title", doc_id.title()), text=text, **kw)


BASE = [
    _doc("alpha", "Alpha station monitors glacier melt in Greenland."),
    _doc("beta", "Beta protocol describes how to calibrate the spectrometer every morning."),
    _doc("gamma", "Gamma ray bursts are the brightest explosions in the universe."),
]


def test_corpus_is_exported_from_the_package():
    assert ExportedCorpus is Corpus


def test_unchanged_documents_are_not_re_embedded(tmp_path, emb):
    c = Corpus(tmp_path / "idx", Settings(), embedder=emb)
    first = c.add_documents(BASE)
    assert first.added == ["alpha", "beta", "gamma"] and first.n_embedded == 3 and first.n_chunks == 3

    emb.texts.clear()
    again = c.add_documents(BASE + [_doc("delta", "Delta wing aircraft have triangular wings.")])
    assert again.added == ["delta"] and sorted(again.unchanged) == ["alpha", "beta", "gamma"]
    assert emb.texts == ["Delta\nDelta wing aircraft have triangular wings."]

    emb.texts.clear()
    nothing = Corpus.open(tmp_path / "idx", embedder=emb).add_documents(BASE)
    assert nothing.unchanged == ["alpha", "beta", "gamma"] and emb.texts == []


def test_update_replaces_chunks_and_reuses_vectors_of_unchanged_chunks(tmp_path, emb):
    paragraphs = [f"Paragraph {i} explains step {i} of assembling the telescope mount carefully." for i in range(8)]
    long_doc = _doc("manual", "\n\n".join(paragraphs))
    c = Corpus(tmp_path / "idx", Settings(chunk_size=200, chunk_overlap=0), embedder=emb)
    c.add_documents([long_doc, *BASE])
    chunks_before = [p for p in c.search("telescope mount", k=50) if p.doc_id == "manual"]
    assert len(chunks_before) > 2

    emb.texts.clear()
    edited = paragraphs[:-1] + ["Paragraph 7 now says: polish the mirror with a lint-free cloth."]
    report = c.add_documents([_doc("manual", "\n\n".join(edited))])
    assert report.updated == ["manual"]
    assert 0 < report.n_embedded < len(chunks_before)  # only the changed tail was embedded
    assert all("Paragraph 7" in t for t in emb.texts)

    hit = c.search("polish the mirror with a cloth", k=1)[0]
    assert hit.doc_id == "manual" and "lint-free" in hit.text
    assert "lint-free" in c.document("manual").text
    assert all("step 7 of" not in p.text for p in c.search("step 7 of assembling", k=50))


def test_metadata_only_change_is_an_update(tmp_path, emb):
    c = Corpus(tmp_path / "idx", Settings(), embedder=emb)
    c.add_documents([_doc("alpha", BASE[0].text, metadata={"date": "2020-01-01"})])
    emb.texts.clear()
    report = c.add_documents([_doc("alpha", BASE[0].text, metadata={"date": "2025-01-01"})])
    assert report.updated == ["alpha"] and report.n_embedded == 0 and emb.texts == []
    assert c.search("glacier", filters={"date": {"$gte": "2024-01-01"}})[0].doc_id == "alpha"


def test_deleted_documents_are_never_returned(tmp_path, emb):
    c = Corpus(tmp_path / "idx", Settings(), embedder=emb)
    c.add_documents(BASE)
    assert c.delete(["beta", "no-such-doc"]) == 1
    for corpus in (c, Corpus.open(tmp_path / "idx", embedder=emb)):
        assert len(corpus) == 2
        assert all(p.doc_id != "beta" for p in corpus.search("calibrate the spectrometer every morning", k=10))
        with pytest.raises(KeyError):
            corpus.document("beta")
        with pytest.raises(KeyError):
            corpus.chunk("beta::0")
        assert sorted(d.id for d in corpus.documents()) == ["alpha", "gamma"]
    assert c.delete(["beta"]) == 0


def test_same_id_in_another_corpus_is_reported_not_overwritten(tmp_path, emb):
    c = Corpus(tmp_path / "idx", Settings(), embedder=emb)
    c.add_documents(BASE)
    report = c.add_documents([_doc("alpha", "A different alpha in another corpus.", corpus="other")])
    assert report.added == [] and report.files[0].status == "error" and "corpus 'default'" in report.files[0].reason
    assert c.document("alpha").text == BASE[0].text


def test_stale_handle_sees_other_writers_commits(tmp_path, emb):
    one = Corpus(tmp_path / "idx", Settings(), embedder=emb)
    one.add_documents(BASE[:1])
    two = Corpus.open(tmp_path / "idx", embedder=emb)
    one.add_documents(BASE[1:2])
    two.add_documents(BASE[2:])  # must not drop the commit made through `one`
    assert sorted(d.id for d in Corpus.open(tmp_path / "idx", embedder=emb).documents()) == ["alpha", "beta", "gamma"]


def test_chunker_parameters_come_from_the_manifest(tmp_path, emb):
    Corpus(tmp_path / "idx", Settings(chunk_size=300, chunk_overlap=0), embedder=emb).add_documents(BASE)
    reopened = Corpus.open(tmp_path / "idx", settings=Settings(chunk_size=1000), embedder=emb)
    assert (reopened.settings.chunk_size, reopened.settings.chunk_overlap) == (300, 0)


# -- from files ------------------------------------------------------------------------------------


def _write(root: Path, rel: str, text: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def test_build_from_files_then_sync_changes(tmp_path, emb):
    docs = tmp_path / "docs"
    _write(docs, "med/veltrazine.md", "---\ndate: 2024-03-01\n---\n# Veltrazine\n\nThe maximum daily dose is 40 mg.\n")
    _write(docs, "geo/tokyo.md", "# Tokyo\n\nTokyo is the capital of Japan.\n")
    _write(docs, "zoo/otters.md", "# Otters\n\nSea otters hold hands while sleeping.\n")
    stages: set[str] = set()
    c = Corpus.build([docs], tmp_path / "idx", corpus="kb", embedder=emb,
                     progress=lambda stage, done, total: stages.add(stage))
    assert isinstance(c.last_report, IngestReport)
    assert sorted(c.last_report.added) == ["geo/tokyo", "med/veltrazine", "zoo/otters"]
    assert {"embed", "write"} <= stages
    top = c.search("maximum daily dose of Veltrazine", k=1)[0]
    assert top.doc_id == "med/veltrazine" and top.corpus == "kb" and top.metadata.get("date") == "2024-03-01"
    assert top.title == "Veltrazine"

    # edit one file, remove one, add one, keep one
    _write(docs, "med/veltrazine.md", "---\ndate: 2025-01-01\n---\n# Veltrazine\n\nThe maximum daily dose is 20 mg.\n")
    (docs / "zoo/otters.md").unlink()
    _write(docs, "zoo/penguins.md", "# Penguins\n\nEmperor penguins breed in the Antarctic winter.\n")
    emb.texts.clear()
    c2 = Corpus.build([docs], tmp_path / "idx", corpus="kb", embedder=emb)
    r = c2.last_report
    assert (r.added, r.updated, r.unchanged, r.deleted) == (["zoo/penguins"], ["med/veltrazine"], ["geo/tokyo"],
                                                           ["zoo/otters"])
    assert not any("Tokyo" in t for t in emb.texts)
    assert "20 mg" in c2.search("Veltrazine dose", k=1)[0].text
    assert "zoo/otters" not in {p.doc_id for p in c2.search("otters holding hands", k=10)}


def test_add_reports_bad_files_and_keeps_going(tmp_path, emb):
    docs = tmp_path / "docs"
    _write(docs, "good.md", "# Good\n\nA perfectly fine document about kites.\n")
    (docs / "broken.pdf").write_bytes(b"%PDF-1.4 this is not really a pdf")
    c = Corpus.build([], tmp_path / "idx", embedder=emb)
    assert len(c) == 0 and c.search("kites") == []
    report = c.add([docs])
    statuses = {Path(f.path).name: f.status for f in report.files}
    assert statuses == {"good.md": "ok", "broken.pdf": "error"}
    assert report.added == ["good"] and c.search("kites", k=1)[0].doc_id == "good"


def test_sync_from_a_missing_or_unreadable_folder_deletes_nothing(tmp_path, emb):
    docs = tmp_path / "docs"
    _write(docs, "a/alpha.md", "# Alpha\n\nAlpha is a fishing town in northern Norway.\n")
    _write(docs, "b/beta.md", "# Beta\n\nThe Beta river flows through southern Peru.\n")
    Corpus.build([docs], tmp_path / "idx", embedder=emb)
    # the whole folder is gone (moved, unmounted): an error, and the index keeps its documents
    docs.rename(tmp_path / "moved")
    c = Corpus.build([docs], tmp_path / "idx", embedder=emb)
    assert [f.status for f in c.last_report.files] == ["error"] and c.last_report.deleted == []
    assert Corpus.open(tmp_path / "idx", embedder=emb).search("fishing town in Norway", k=1)[0].doc_id == "a/alpha"
    # a file that was really removed from a folder that is still there is still deleted
    (tmp_path / "moved").rename(docs)
    (docs / "b/beta.md").unlink()
    c = Corpus.build([docs], tmp_path / "idx", embedder=emb)
    assert c.last_report.deleted == ["b/beta"] and len(c) == 1


def test_an_index_inside_its_own_documents_folder_is_not_read_back_as_documents(tmp_path, emb):
    docs = tmp_path / "docs"
    _write(docs, "alpha.md", "# Alpha\n\nAlpha is a fishing town in northern Norway.\n")
    Corpus.build([docs], docs / "index", embedder=emb)
    c = Corpus.build([docs], docs / "index", embedder=emb)  # e.g. `agentkit ingest . --index index`
    assert [Path(f.path).name for f in c.last_report.files] == ["alpha.md"]
    assert c.last_report.unchanged == ["alpha"] and [d.id for d in c.documents()] == ["alpha"]
