"""Count the lines of the numerics (solvers, selection, reproductions) at two commits.

Issue 20 asks for the numerics to shrink by at least 800 lines. Before the solver layer
existed (commit ``3b77f8b~1``) the solvers lived in five modules of ``affinetl/models``; since,
in ``affinetl/_solvers`` and ``affinetl/_forms.py``. Both sides count ``selection`` and
``reproduce`` whole. Plain ``wc -l`` of the ``.py`` files, read from git (the working tree
for ``--after WORKTREE``).

    python benchmarks/numerics_lines.py                    # 3b77f8b~1 against the work tree
    python benchmarks/numerics_lines.py --after HEAD
"""

from __future__ import annotations

import argparse
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: The numerics: whole folders, and the solver modules of ``affinetl/models`` before the layer.
SCOPE = (
    "affinetl/_solvers",
    "affinetl/_forms.py",
    "affinetl/selection",
    "affinetl/reproduce",
    "affinetl/models/_kernel_solvers.py",
    "affinetl/models/_kernel_newton.py",
    "affinetl/models/_affine_newton.py",
    "affinetl/models/_affine_features.py",
    "affinetl/models/_fused_ridge.py",
)


def _git(*args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout


def count(rev: str) -> dict[str, int]:
    """Lines per ``.py`` file of :data:`SCOPE` at ``rev`` (``"WORKTREE"``: the files on disk)."""
    if rev == "WORKTREE":
        files = [
            p
            for s in SCOPE
            for p in sorted(
                (ROOT / s).rglob("*.py")
                if (ROOT / s).is_dir()
                else [ROOT / s]
                if (ROOT / s).exists()
                else []
            )
        ]
        return {str(p.relative_to(ROOT)): len(p.read_text().splitlines()) for p in files}
    names = [
        f
        for f in _git("ls-tree", "-r", "--name-only", rev, "--", *SCOPE).split()
        if f.endswith(".py")
    ]
    return {f: len(_git("show", f"{rev}:{f}").splitlines()) for f in names}


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--before", default="3b77f8b~1")
    p.add_argument("--after", default="WORKTREE")
    p.add_argument("--files", action="store_true", help="print every file")
    args = p.parse_args()
    before, after = count(args.before), count(args.after)
    for name, table in (("before", before), ("after", after)):
        groups: dict[str, int] = {}
        for f, n in table.items():
            key = "/".join(f.split("/")[:2])
            groups[key] = groups.get(key, 0) + n
            if args.files:
                print(f"  {name:6s} {n:5d} {f}")
        rev = args.before if name == "before" else args.after
        print(
            f"{name} ({rev}): {sum(table.values())} lines  "
            + ", ".join(f"{k} {v}" for k, v in sorted(groups.items()))
        )
    print(f"change: {sum(after.values()) - sum(before.values()):+d} lines")


if __name__ == "__main__":
    main()
