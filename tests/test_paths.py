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
    assert root.parent == tmp_path / "cache" and not root.exists()
