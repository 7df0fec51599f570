"""The documentation site: built with mkdocs, free of raw reStructuredText, complete, offline.

One strict build into a temporary folder serves every test (about half a minute); the
screenshot test runs headless Chromium when it is installed and is skipped otherwise.
"""

from __future__ import annotations

import importlib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml")
pytest.importorskip("mkdocs")

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
#: Sphinx roles as they look in the built HTML (the backticks turned into <code> or kept).
RAW_ROLE = re.compile(
    r":(?:py:)?(?:func|class|meth|mod|data|attr|obj|exc|ref|math|const|term|doc):(?:`|<code>)"
)
RAW_DIRECTIVE = re.compile(r"\.\. (?:[a-z-]+)::")
#: Packages whose whole public surface the API reference must render.
REQUIRED_API = {
    "affinetl",
    "affinetl.selection",
    "affinetl.datasets",
    "affinetl.tuning",
    "affinetl.sources",
    "affinetl.scaling",
    "affinetl.theory",
    "simdata",
}


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site")
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "--site-dir", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env={"NO_MKDOCS_2_WARNING": "1", **os.environ},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out


def _nav_pages(nav) -> list[str]:
    pages: list[str] = []
    for entry in nav:
        value = next(iter(entry.values())) if isinstance(entry, dict) else entry
        pages += _nav_pages(value) if isinstance(value, list) else [value]
    return pages


def test_nav_starts_with_the_user_guide_and_lists_every_page():
    config = yaml.load((ROOT / "mkdocs.yml").read_text(), Loader=yaml.BaseLoader)
    nav = config["nav"]
    assert nav[0] == {"User guide": "user-guide.md"}
    pages = _nav_pages(nav)
    assert len(pages) == len(set(pages))
    on_disk = {p.name for p in DOCS.glob("*.md")}
    assert not on_disk - set(pages), (
        f"add these pages to the nav of mkdocs.yml: {on_disk - set(pages)}"
    )
    assert not set(pages) - on_disk, f"nav entries without a page: {set(pages) - on_disk}"


def test_no_raw_restructuredtext_in_the_built_site(site):
    bad = {}
    for path in [*site.rglob("*.html"), *site.rglob("search_index.json")]:
        text = path.read_text(encoding="utf-8")
        hits = RAW_ROLE.findall(text) + RAW_DIRECTIVE.findall(text)
        if hits:
            bad[str(path.relative_to(site))] = hits[:5]
    assert not bad, bad


def _api_modules() -> list[str]:
    """The modules that docs/api.md renders whole (``::: module`` blocks; objects are skipped)."""
    modules = []
    for target in re.findall(r"^::: ([\w.]+)\s*$", (DOCS / "api.md").read_text(), flags=re.M):
        try:
            importlib.import_module(target)
        except ImportError:
            continue
        modules.append(target)
    return modules


def _public_modules() -> list[str]:
    """Every public module and subpackage of affinetl and simdata (no leading underscore)."""
    names = []
    for package in ("affinetl", "simdata"):
        for path in sorted((ROOT / package).iterdir()):
            stem = path.stem if path.suffix == ".py" else path.name
            is_module = path.suffix == ".py" or (path / "__init__.py").is_file()
            if is_module and not stem.startswith("_") and stem != "__init__":
                names.append(f"{package}.{stem}")
    return names


def _own_public_names(module_name: str) -> list[str]:
    """``__all__`` of a module without the re-exports of other libraries."""
    module = importlib.import_module(module_name)
    names = []
    for public in getattr(module, "__all__", []):
        owner = getattr(getattr(module, public, None), "__module__", None) or module_name
        if owner.split(".")[0] in ("affinetl", "simdata"):
            names.append(public)
    return names


def test_api_reference_renders_every_public_name(site):
    listed = _api_modules()
    assert REQUIRED_API <= set(listed)
    ids = set(re.findall(r'id="([^"]+)"', (site / "api" / "index.html").read_text("utf-8")))
    suffixes = {i.rsplit(".", 1)[-1] for i in ids}
    missing = []
    for name in listed:
        missing += [f"{name}.{p}" for p in _own_public_names(name) if f"{name}.{p}" not in ids]
    for name in set(_public_modules()) - set(listed):  # re-exported elsewhere (models, ...)
        missing += [f"{name}.{p}" for p in _own_public_names(name) if p not in suffixes]
    from affinetl.models import _NEURAL  # the torch estimators, imported on first use

    missing += [f"affinetl.{p}" for p in _NEURAL if p not in suffixes]
    assert not missing, f"not in docs/api.md: {missing}"
    for name in REQUIRED_API:
        assert _own_public_names(name), name
    assert "affinetl.AffineTransferCV" in ids


def test_math_is_rendered_from_bundled_assets(site):
    index = (site / "index.html").read_text("utf-8")
    assert 'class="arithmatex"' in index
    for asset in ("katex.min.js", "katex.min.css", "contrib/auto-render.min.js"):
        assert asset in index
        assert (site / "assets" / "katex" / asset).is_file()
    assert list((site / "assets" / "katex" / "fonts").glob("*.woff2"))
    for page in site.rglob("*.html"):
        text = page.read_text("utf-8")
        remote = re.findall(r'<(?:script|link)[^>]+(?:src|href)="(https?://[^"]+)"', text)
        assert not remote, (page, remote)


@pytest.mark.parametrize("page", ["index.html", "user-guide/index.html"])
def test_index_and_user_guide_show_a_figure(site, page):
    html = site / page
    images = re.findall(r'<img[^>]+src="([^"]+\.png)"', html.read_text("utf-8"))
    assert images
    for src in images:
        assert (html.parent / src).resolve().is_file(), src


def test_screenshot_shows_the_rendered_formula(site, tmp_path):
    sys.path.insert(0, str(ROOT / "benchmarks" / "docs"))
    try:
        screenshot = importlib.import_module("screenshot")
    finally:
        sys.path.pop(0)
    chromium = screenshot.find_chromium()
    if chromium is None:
        pytest.skip("chromium not installed (apt-get install -y chromium)")
    out = tmp_path / "index.png"
    counts = screenshot.check_page(site, "", out, chromium)
    assert out.stat().st_size > 10_000
    assert counts["formulas"] > 0
    assert counts["rendered"] >= counts["formulas"]
    assert counts["katex_errors"] == 0
