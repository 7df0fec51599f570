"""Screenshot of the built documentation in headless Chromium: do the formulas render offline?

Builds the site (``mkdocs build`` into a temporary folder, or takes ``--site``), opens a page
from the file system in headless Chromium with networking off, and

* writes a PNG screenshot of the page (``--out``, default ``docs-index.png``), and
* counts the formulas KaTeX rendered in the page's DOM after its scripts ran (elements of class
  ``katex``) against the formulas the page holds (``arithmatex`` elements).

Exit status 0 when every formula of the page was rendered, 1 otherwise, 2 when Chromium is
missing. Chromium on Debian: ``apt-get update && apt-get install -y chromium``.

Usage::

    python benchmarks/docs/screenshot.py --out docs-index.png            # index page
    python benchmarks/docs/screenshot.py --page user-guide/ --out ug.png
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: Flags for a headless, offline, throw-away Chromium profile.
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
    "--virtual-time-budget=10000",
)


def find_chromium() -> str | None:
    """Path of a Chromium executable, or None."""
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def build_site(site: Path) -> Path:
    """``mkdocs build`` of the repository's docs into ``site``."""
    subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--quiet", "--site-dir", str(site)],
        cwd=ROOT,
        check=True,
    )
    return site


def _chromium(chromium: str, profile: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [chromium, *FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def check_page(
    site: Path, page: str, out: Path, chromium: str, *, width: int = 1280, height: int = 900
) -> dict[str, int]:
    """Screenshot ``page`` of ``site`` into ``out``; formulas in the page and rendered ones."""
    html = (site / page / "index.html") if not page.endswith(".html") else site / page
    if not html.is_file():
        raise FileNotFoundError(f"no page {html}")
    url = html.resolve().as_uri()
    with tempfile.TemporaryDirectory() as profile:
        shot = _chromium(
            chromium,
            profile,
            f"--screenshot={out.resolve()}",
            f"--window-size={width},{height}",
            url,
        )
        if not out.is_file():
            raise RuntimeError(f"chromium wrote no screenshot: {shot.stderr[-2000:]}")
        dom = _chromium(chromium, profile, "--dump-dom", url).stdout
    source = html.read_text(encoding="utf-8")
    return {
        "formulas": len(re.findall(r'class="arithmatex"', source)),
        "rendered": len(re.findall(r'class="katex"', dom)),
        "katex_errors": len(re.findall(r'class="katex-error"', dom)),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--site", type=Path, help="a built site (default: build one)")
    parser.add_argument("--page", default="", help="page folder under the site ('' = index)")
    parser.add_argument("--out", type=Path, default=Path("docs-index.png"), help="PNG file")
    args = parser.parse_args(argv)
    chromium = find_chromium()
    if chromium is None:
        print("screenshot: chromium not found (apt-get install -y chromium)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        site = args.site or build_site(Path(tmp) / "site")
        counts = check_page(site, args.page, args.out, chromium)
    print(
        f"{args.page or 'index'}: {counts['rendered']} of {counts['formulas']} formulas rendered "
        f"by KaTeX, {counts['katex_errors']} errors; screenshot {args.out}"
    )
    ok = counts["formulas"] > 0 and counts["rendered"] >= counts["formulas"]
    return 0 if ok and not counts["katex_errors"] else 1


if __name__ == "__main__":
    sys.exit(main())
