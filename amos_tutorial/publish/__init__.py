"""Publishing the book: chapters kept in step with :mod:`amos_tutorial._meta`, and the Colab edition.

Introduced in chapter *Segmenting 15 abdominal organs: a hands-on AMOS 2022 book* (course kit: the Colab page).
:mod:`~amos_tutorial.publish.sync` rewrites badges, setup cells, install and clone lines,
``_config.yml`` and ``pyproject.toml`` from ``_meta`` (``amos book sync``); :mod:`~amos_tutorial.publish.colab`
writes the Colab edition, the chapters in plain Markdown with the executed book's values
(``amos book colab``); :mod:`~amos_tutorial.publish.glue` fills the prose's glued numbers from the executed
chapters (the Colab and the student editions); ``scripts/release.sh`` runs them for a release.
"""

from __future__ import annotations

__all__ = ["colab", "glue", "sync"]
