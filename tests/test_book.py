"""The built book: build it, check a broken chapter fails the build, and look at the pages in Chromium.

The book is built once per test module with ``scripts/build_book.sh`` into a temporary folder; set
``AMOS_BOOK_HTML=/path/to/html`` to test an existing build instead (e.g. the one the CI book job made).
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
from conftest import REPO_ROOT, toc_files

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("book")]

BUILD_SCRIPT = REPO_ROOT / "scripts" / "build_book.sh"
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
COLAB_PREFIX = "https://colab.research.google.com/github/amos-tutorial/amos-tutorial/blob/main/"




PAGES = toc_files()


def _build(source: Path, out: Path, timeout: int = 900) -> subprocess.CompletedProcess:
    env = dict(os.environ, AMOS_SMOKE="1", AMOS_BOOK_SOURCE=str(source))
    return subprocess.run(
        ["bash", str(BUILD_SCRIPT), str(out)], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


@pytest.fixture(scope="module")
def book_html(tmp_path_factory: pytest.TempPathFactory) -> Path:
    given = os.environ.get("AMOS_BOOK_HTML")
    if given:
        html = Path(given)
        assert (html / "index.html").is_file(), f"{html}: AMOS_BOOK_HTML has no index.html"
        return html
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        out = tmp_path_factory.mktemp("book")
        _checked_build(out)
        return out / "html"
    # Under pytest-xdist the module's tests may land on several workers: the first builds, the others
    # wait and reuse it (the parent of a worker's basetemp is private to this test session).
    from filelock import FileLock

    out = tmp_path_factory.getbasetemp().parent / "book-shared"
    with FileLock(f"{out}.lock"):
        if not (out / "html" / "index.html").is_file():
            _checked_build(out)
    return out / "html"


def _checked_build(out: Path) -> None:
    result = _build(REPO_ROOT, out)
    assert result.returncode == 0, f"book build failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    assert "build_book: open" in result.stdout


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
    result = _build(src, tmp_path / "out", timeout=300)
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
    driver.set_page_load_timeout(60)
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
    WebDriverWait(browser, 30).until(lambda d: d.execute_script("return document.readyState") == "complete")


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
    WebDriverWait(browser, 30).until(lambda d: all(c for _, c, _ in d.execute_script(_IMAGES_LOADED)))
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
@pytest.mark.parametrize("page", PAGES)
def test_colab_links_point_at_the_chapter_notebook(page, browser, server):
    from selenium.webdriver.common.by import By

    _open(browser, f"{server}/{page}.html")
    links = {
        a.get_attribute("href") for a in browser.find_elements(By.CSS_SELECTOR, "a[href*='colab.research.google.com']")
    }
    assert len(links) == 1, f"{page}: the launch button and the badge must agree, got {links}"
    href = links.pop()
    assert href.startswith(COLAB_PREFIX), href
    rel = urlparse(href).path.split("/blob/main/", 1)[1]
    assert rel == f"{page}.ipynb"
    assert (REPO_ROOT / rel).is_file(), f"{href} points at {rel}, which is not in the repository"
    # Both a launch button (header) and the badge (first cell) carry it.
    anchors = browser.find_elements(By.CSS_SELECTOR, f"a[href='{href}']")
    assert len(anchors) >= 2
