"""The random validation set of issue 23: PI1070 polymers drawn across chemical classes.

The set is fixed before any tuning and committed as
``simdata/examples/validation_set.csv`` (with ``validation_set.json`` holding the seed,
the rule and the class counts). Run from the repository root to (re)write it:

    python benchmarks/simdata/validation_set.py [--seed 23] [--per-class 6]

Rule: every PI1070 repeat unit gets the first class of :data:`CLASSES` whose SMARTS
matches (order matters: a phosphorus-bearing polyimide counts as phosphorus-bearing; the
polyester/polycarbonate class needs the ester or carbonate C(=O)-O on the backbone, the
shortest path between the two ``*``, and an aromatic ring anywhere in the unit);
``per_class`` polymers are drawn without replacement from each class with
``numpy.random.default_rng(seed)`` (all of a class when it is smaller), in the order the
classes are listed. PI1070 holds no silicon-bearing polymer (and GAFF2 as used here has
no Si), so that class stays empty. Polymers that match no class ("other": vinyls, aliphatic polyethers,
polyamides, ...) are not drawn: the earlier validation set covers vinyls.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks" / "simdata"))
EXAMPLES = ROOT / "simdata" / "examples"

#: (class, SMARTS patterns: any of them matches). Checked in this order.
CLASSES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("silicon", ("[Si]",)),
    ("phosphorus", ("[P]",)),
    # imide ring: two carbonyls on one N, in a ring
    ("polyimide", ("O=C1~*~*C(=O)N1", "O=[C;R][N;R][C;R]=O")),
    ("sulfone", ("[#6][SX4](=O)(=O)[#6]",)),
    # carbonate or ester group in the backbone of a repeat unit with an aromatic ring
    ("aromatic_polyester_polycarbonate", ("[OX2][CX3](=O)[OX2]", "[#6][CX3](=O)[OX2][#6]")),
    ("halogenated", ("[F,Cl,Br,I]",)),
    ("sulfur", ("[#16]",)),
)


def classify(smiles: str) -> str:
    """Class of a repeat unit (first matching entry of :data:`CLASSES`, else ``"other"``).

    Examples
    --------
    >>> classify("*C(C*)(F)F"), classify("*CC*")
    ('halogenated', 'other')
    """
    from rdkit import Chem

    mol = Chem.MolFromSmiles(smiles)
    if mol is None:
        return "unparsable"
    stars = [a.GetIdx() for a in mol.GetAtoms() if a.GetAtomicNum() == 0]
    backbone = set(Chem.GetShortestPath(mol, *stars)) if len(stars) == 2 else set()
    aromatic = any(a.GetIsAromatic() for a in mol.GetAtoms())
    for name, patterns in CLASSES:
        for smarts in patterns:
            matches = mol.GetSubstructMatches(Chem.MolFromSmarts(smarts))
            if name == "aromatic_polyester_polycarbonate":
                # the C(=O)-O link itself (atoms 1 and 3 of the pattern) lies on the backbone
                matches = [m for m in matches if aromatic and {m[1], m[3]} <= backbone]
            if matches:
                return name
    return "other"


def draw(table: pd.DataFrame, *, seed: int, per_class: int) -> pd.DataFrame:
    """``per_class`` random rows of each class (see the module docstring)."""
    rng = np.random.default_rng(seed)
    table = table.assign(cls=[classify(s) for s in table.smiles])
    picks = []
    for name, _ in CLASSES:
        members = table[table.cls == name].sort_values("monomer_ID")
        k = min(per_class, len(members))
        idx = rng.choice(len(members), size=k, replace=False)
        picks.append(members.iloc[np.sort(idx)])
    out = pd.concat(picks)[["monomer_ID", "smiles", "cls"]].rename(columns={"cls": "class"})
    return out.reset_index(drop=True), table.cls.value_counts().to_dict()


def load_validation_set() -> pd.DataFrame:
    """The committed validation set (``monomer_ID``, ``smiles``, ``class``)."""
    return pd.read_csv(EXAMPLES / "validation_set.csv")


def main(argv: list[str] | None = None) -> int:
    from _data import radonpy_table

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=23)
    parser.add_argument("--per-class", type=int, default=7)
    args = parser.parse_args(argv)
    ref = radonpy_table()
    ref = ref[ref.smiles.str.count(r"\*") == 2]
    chosen, counts = draw(ref[["monomer_ID", "smiles"]], seed=args.seed, per_class=args.per_class)
    EXAMPLES.mkdir(exist_ok=True)
    chosen.to_csv(EXAMPLES / "validation_set.csv", index=False)
    meta = {
        "seed": args.seed,
        "per_class": args.per_class,
        "rule": __doc__.split("Rule:")[1].strip(),
        "classes": {name: list(p) for name, p in CLASSES},
        "pi1070_class_counts": counts,
        "drawn": chosen["class"].value_counts().to_dict(),
        "n": len(chosen),
    }
    (EXAMPLES / "validation_set.json").write_text(json.dumps(meta, indent=1) + "\n")
    print(chosen.to_string(index=False))
    print(json.dumps(meta["drawn"]), meta["n"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
