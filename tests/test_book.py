"""The built book: build it, check a broken chapter fails the build, and look at the pages in Chromium.

The book is built once per test session with ``scripts/build_book.sh`` from the executed chapters that the
chapter tests produce (each chapter runs once per session; see ``executed_chapter`` in conftest.py), with
execution switched off; ``scripts/book.sh``, the main job, still executes every chapter itself. Set
``AMOS_BOOK_HTML=/path/to/html`` to test an existing build instead (e.g. the one the book job made).
The browser tests drive Debian's ``chromium`` through ``chromedriver`` with selenium, over a local
``http.server``; they are skipped when Chromium is missing, except under ``CI`` where that is a failure.
"""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import subprocess
import threading
from pathlib import Path
from urllib.parse import urlparse

import pytest
from amos_tutorial import _meta
from conftest import CHAPTERS_GROUP, REPO_ROOT, chapter_executions, executed_chapter, session_shared_dir, toc_files, toc_notebooks

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group(CHAPTERS_GROUP)]

BUILD_SCRIPT = REPO_ROOT / "scripts" / "build_book.sh"
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
COLAB_PREFIX = f"https://colab.research.google.com/github/{_meta.REPOSITORY}/blob/{_meta.COLAB_BRANCH}/"




PAGES = toc_files()
NOTEBOOKS = toc_notebooks()
#: Stop a hung build, nothing else. Building from executed chapters takes about a minute on 2 idle cores,
#: a one-page book with execution about 20 s; a loaded machine may be several times slower.
BUILD_TIMEOUT_S = 3600
#: Seconds a local page may take to load and show its images (under 1 s on an idle machine).
PAGE_TIMEOUT_S = 180


def _build(source: Path, out: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, AMOS_SMOKE="1", AMOS_BOOK_SOURCE=str(source))
    try:
        return subprocess.run(
            ["bash", str(BUILD_SCRIPT), str(out)],
            env=env, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S, check=False,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"scripts/build_book.sh on {source} did not finish in {BUILD_TIMEOUT_S} s (hung?):\n{exc.stdout}")


def stage_executed_book(executed: dict[str, Path], dest: Path) -> Path:
    """A copy of the book's sources whose chapters are the executed copies, with execution switched off.

    The build then renders what the chapter tests executed: each chapter runs once per test session.
    """
    config = (REPO_ROOT / "_config.yml").read_text(encoding="utf-8")
    staged = config.replace("execute_notebooks: force", "execute_notebooks: \"off\"")
    assert staged != config, "_config.yml no longer says 'execute_notebooks: force': update stage_executed_book"
    (dest / "book").mkdir(parents=True)
    (dest / "_config.yml").write_text(staged, encoding="utf-8")
    shutil.copy(REPO_ROOT / "_toc.yml", dest / "_toc.yml")
    shutil.copytree(REPO_ROOT / "book", dest / "book", dirs_exist_ok=True, ignore=shutil.ignore_patterns("*.ipynb"))
    for page, copy in executed.items():
        shutil.copy(copy, dest / f"{page}.ipynb")
    return dest


@pytest.fixture(scope="module")
def book_html(tmp_path_factory: pytest.TempPathFactory) -> Path:
    given = os.environ.get("AMOS_BOOK_HTML")
    if given:
        html = Path(given)
        assert (html / "index.html").is_file(), f"{html}: AMOS_BOOK_HTML has no index.html"
        return html
    # Under pytest-xdist the module's tests may land on several workers: the first builds, the others
    # wait (no clock: the holder is building) and reuse it.
    from filelock import FileLock

    shared = session_shared_dir(tmp_path_factory)
    out = shared / "book"
    with FileLock(f"{out}.lock"):
        if not (out / "html" / "index.html").is_file():
            # Chapters not executed yet by the chapter tests are executed here, in the book's order.
            executed = {page: executed_chapter(REPO_ROOT / f"{page}.ipynb", shared)[1] for page in NOTEBOOKS}
            _checked_build(stage_executed_book(executed, shared / "book-source"), out)
    return out / "html"


def _checked_build(source: Path, out: Path) -> None:
    result = _build(source, out)
    assert result.returncode == 0, f"book build failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    assert "build_book: open" in result.stdout


def test_each_chapter_is_executed_once_per_session(book_html, tmp_path_factory):
    if os.environ.get("AMOS_BOOK_HTML"):
        pytest.skip("AMOS_BOOK_HTML: the book was built outside this session")
    counts = chapter_executions(session_shared_dir(tmp_path_factory))
    assert sorted(counts) == sorted(Path(p).name for p in NOTEBOOKS)
    assert all(n == 1 for n in counts.values()), f"chapters executed more than once: {counts}"


def test_build_has_every_chapter_page(book_html):
    for page in PAGES:
        html = book_html / f"{page}.html"
        assert html.is_file(), f"{html} missing"
        text = html.read_text(encoding="utf-8")
        assert "Traceback (most recent call last)" not in text
    # Figures were rendered (executed notebooks), and the bibliography resolved.
    assert any((book_html / "_images").glob("*.png"))
    intro = (book_html / "book" / "intro.html").read_text(encoding="utf-8")
    assert "Extending nnU-Net is all you need" in intro
    assert "colab-badge.svg" in intro


def test_a_broken_chapter_fails_the_build(tmp_path):
    import nbformat

    src = tmp_path / "src"
    (src / "book").mkdir(parents=True)
    shutil.copy(REPO_ROOT / "_config.yml", src / "_config.yml")
    shutil.copy(REPO_ROOT / "book" / "references.bib", src / "book" / "references.bib")
    shutil.copytree(REPO_ROOT / "book" / "_static", src / "book" / "_static")
    (src / "_toc.yml").write_text("format: jb-book\nroot: book/broken\n")
    nb = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_markdown_cell("# A broken chapter"),
            nbformat.v4.new_code_cell("raise ZeroDivisionError('deliberately broken cell')"),
        ]
    )
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, src / "book" / "broken.ipynb")
    result = _build(src, tmp_path / "out")
    assert result.returncode != 0
    assert "deliberately broken cell" in result.stdout + result.stderr
    assert not (tmp_path / "out" / "html" / "index.html").exists()


# --- the rendered pages in headless Chromium ------------------------------------------------------


@pytest.fixture(scope="module")
def browser():
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not Path(p).exists()]
    if missing:
        if os.environ.get("CI", "").lower() not in ("", "0", "false"):
            pytest.fail(f"CI is set but {missing} not installed: apt-get install chromium chromium-driver")
        pytest.skip(f"{missing} not installed (apt-get install chromium chromium-driver); CI would fail here")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        "--window-size=1400,1000",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(PAGE_TIMEOUT_S)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def server(book_html):
    handler = functools.partial(QuietHandler, directory=str(book_html))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


def _open(browser, url: str) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(url)
    WebDriverWait(browser, PAGE_TIMEOUT_S).until(lambda d: d.execute_script("return document.readyState") == "complete")


_IMAGES_LOADED = """
const imgs = Array.from(document.images);
imgs.forEach(i => i.scrollIntoView());
return imgs.map(i => [i.currentSrc || i.src, i.complete, i.naturalWidth]);
"""


@pytest.mark.browser
@pytest.mark.parametrize("page", PAGES)
def test_chapter_page_renders(page, browser, server):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    _open(browser, f"{server}/{page}.html")
    heading = browser.find_element(By.CSS_SELECTOR, "article.bd-article h1")
    assert heading.text.strip(), f"{page}: no title"
    assert heading.text.split("#")[0].strip().split(". ", 1)[-1] in browser.title
    # Every image, figures and badge alike, has loaded (naturalWidth 0 means broken).
    WebDriverWait(browser, PAGE_TIMEOUT_S).until(lambda d: all(c for _, c, _ in d.execute_script(_IMAGES_LOADED)))
    images = browser.execute_script(_IMAGES_LOADED)
    assert images, f"{page}: no images at all"
    broken = [src for src, _, width in images if width == 0]
    assert not broken, f"{page}: images not loaded: {broken}"
    # No error output, stderr or traceback rendered anywhere.
    bad = browser.find_elements(By.CSS_SELECTOR, "div.output.error, div.output.traceback, div.output.stderr")
    assert not bad, f"{page}: error output shown: {[b.text[:200] for b in bad]}"
    text = browser.find_element(By.TAG_NAME, "body").text
    assert "Traceback (most recent call last)" not in text


@pytest.mark.browser
@pytest.mark.parametrize("page", NOTEBOOKS)
def test_colab_links_point_at_the_chapter_notebook(page, browser, server):
    from selenium.webdriver.common.by import By

    _open(browser, f"{server}/{page}.html")
    links = {
        a.get_attribute("href") for a in browser.find_elements(By.CSS_SELECTOR, "a[href*='colab.research.google.com']")
    }
    # Only the badge: Jupyter Book's own launch button would open the MyST source on the main branch.
    assert len(links) == 1, f"{page}: one Colab link (the badge), got {links}"
    href = links.pop()
    assert href.startswith(COLAB_PREFIX), href
    rel = urlparse(href).path.split(f"/blob/{_meta.COLAB_BRANCH}/", 1)[1]
    assert rel == f"{page}.ipynb"
    assert (REPO_ROOT / rel).is_file(), f"{href} points at {rel}, which is not a chapter of the repository"
