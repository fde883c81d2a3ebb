"""Data roots: explicit folder, $AMOS_DATA_DIR, and an error that says what to set."""

import pytest

from amos_tutorial import paths


def test_missing_env_says_what_to_set(monkeypatch):
    monkeypatch.delenv("AMOS_DATA_DIR", raising=False)
    with pytest.raises(FileNotFoundError, match="AMOS_DATA_DIR"):
        paths.resolve_data_root(None)


def test_env_and_explicit_roots(monkeypatch, tmp_path):
    monkeypatch.setenv("AMOS_DATA_DIR", str(tmp_path))
    assert paths.resolve_data_root(None) == tmp_path
    assert paths.resolve_data_root(tmp_path) == tmp_path
    with pytest.raises(FileNotFoundError, match="does not exist"):
        paths.resolve_data_root(tmp_path / "nope")


def test_cache_dir_follows_env(monkeypatch, tmp_path):
    monkeypatch.setenv("AMOS_CACHE_DIR", str(tmp_path / "cache"))
    assert paths.cache_dir() == tmp_path / "cache"
    assert (tmp_path / "cache").is_dir()
    root = paths.synthetic_root(n_cases=4, seed=3, generate=False)
    assert root.parent == tmp_path / "cache"
    assert not root.exists()


def test_synthetic_root_generates_once_and_survives_a_concurrent_winner(monkeypatch, tmp_path):
    from amos_tutorial.data import synthetic

    monkeypatch.setenv("AMOS_CACHE_DIR", str(tmp_path / "cache"))
    root = paths.synthetic_root(n_cases=4, seed=1)
    assert (root / "dataset.json").is_file()
    stamp = (root / "dataset.json").stat().st_mtime_ns
    assert paths.synthetic_root(n_cases=4, seed=1) == root  # reused, not regenerated
    assert (root / "dataset.json").stat().st_mtime_ns == stamp

    # Simulate losing the race: the generator refuses because another process already wrote the set.
    def refuse(out_dir, **kwargs):
        raise ValueError(f"{out_dir}: folder exists and is not empty")

    monkeypatch.setattr(synthetic, "generate_synthetic_dataset", refuse)
    (root / "dataset.json").rename(root / "dataset.json.bak")
    with pytest.raises(ValueError, match="not empty"):
        paths.synthetic_root(n_cases=4, seed=1)
    (root / "dataset.json.bak").rename(root / "dataset.json")
    assert paths.synthetic_root(n_cases=4, seed=1) == root


def test_synthetic_cache_follows_the_generator(monkeypatch, tmp_path):
    # A cached synthetic set written by another version of the generator is never reused.
    from amos_tutorial import paths

    monkeypatch.setenv(paths.ENV_CACHE_DIR, str(tmp_path))
    first = paths.synthetic_root(generate=False)
    assert first.name.endswith(paths.synthetic_fingerprint())
    assert len(paths.synthetic_fingerprint()) == 8
    monkeypatch.setattr(paths, "synthetic_fingerprint", lambda: "0badc0de")
    assert paths.synthetic_root(generate=False) != first


def test_synthetic_fingerprint_covers_every_module_of_the_generator(monkeypatch):
    # The generator is a package: a change in any of its modules (the organ table in anatomy.py, say)
    # must give a new fingerprint, so that a cached set written by the old generator is not reused.
    from pathlib import Path

    from amos_tutorial.data import synthetic

    package = Path(synthetic.__file__).resolve().parent
    sources = paths._synthetic_sources()
    assert {package / name for name in ("__init__.py", "anatomy.py", "case.py", "dataset.py")} <= set(sources)
    assert set(package.glob("*.py")) <= set(sources)
    before = paths.synthetic_fingerprint()
    assert paths.synthetic_fingerprint() == before, "the fingerprint is not deterministic"
    real = Path.read_bytes
    monkeypatch.setattr(Path, "read_bytes", lambda self: real(self) + (b"#" if self.name == "anatomy.py" else b""))
    assert paths.synthetic_fingerprint() != before
