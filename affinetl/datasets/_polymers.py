"""Polymer tables: RadonPy PI1070 (MD), Afzal et al. 2021 (MD + experiment), polymer Cp."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import pandas as pd

from ..polymer import FFKM_BLOCKS
from ._container import CaseStudyData
from ._fetch import fetch
from ._polymer_identity import match_polymers, normalize_polymer_smiles

__all__ = [
    "FFKM_BLOCKS",
    "PI1070_PROPERTIES",
    "afzal2021_quality",
    "load_afzal2021",
    "load_polymer_cp",
    "load_radonpy_pi1070",
]

logger = logging.getLogger(__name__)

#: The 26 MD-computed amorphous-state properties of RadonPy's PI1070 table, with units.
PI1070_PROPERTIES: dict[str, str] = {
    "density": "g/cm3",
    "Rg": "angstrom",
    "r2": "angstrom^2",
    "self-diffusion": "cm2/s",
    "Cp": "J/kg/K",
    "Cv": "J/kg/K",
    "compressibility": "1/Pa",
    "bulk_modulus": "GPa",
    "isentropic_compressibility": "1/Pa",
    "isentropic_bulk_modulus": "GPa",
    "volume_expansion": "1/K",
    "linear_expansion": "1/K",
    "static_dielectric_const": "1",
    "dielectric_const_dc": "1",
    "nematic_order_parameter": "1",
    "refractive_index": "1",
    "thermal_conductivity": "W/m/K",
    "thermal_diffusivity": "m2/s",
    "TC_ke": "W/m/K",
    "TC_pe": "W/m/K",
    "TC_pair": "W/m/K",
    "TC_bond": "W/m/K",
    "TC_angle": "W/m/K",
    "TC_dihed": "W/m/K",
    "TC_improper": "W/m/K",
    "TC_kspace": "W/m/K",
}

_RADONPY_CITATION = (
    "Hayashi et al., 'RadonPy: automated physical property calculation using all-atom classical "
    "molecular dynamics simulations for polymer informatics', npj Comput. Mater. 8, 222 (2022) "
    "(data: github.com/RadonPy/RadonPy, data/PI1070.csv)."
)
_AFFINETL_CITATION = (
    "Minami, Fukumizu, Hayashi, Yoshida, 'Transfer learning with affine model transformation', "
    "NeurIPS 2023 (data: github.com/mshunya/AffineTL, 13_Cp/10_Data)."
)


def _pi1070_table() -> pd.DataFrame:
    table = pd.read_csv(fetch("radonpy/PI1070.csv"))
    missing = [c for c in ("monomer_ID", "smiles", *PI1070_PROPERTIES) if c not in table]
    if missing:
        raise ValueError(f"PI1070.csv lacks the columns {missing}")
    return table


def load_radonpy_pi1070() -> CaseStudyData:
    """RadonPy's PI1070: MD-computed properties of 1,070 amorphous polymers (300 K, 1 atm).

    The general Sim2Real *source* table: 26 properties from all-atom MD (GAFF2, LAMMPS).

    Returns
    -------
    CaseStudyData
        ``source``: the 26 properties of :data:`PI1070_PROPERTIES` (units in ``units``);
        ``y`` is empty; ``X`` is ``None`` (compute descriptors from ``smiles``);
        ``ids``: RadonPy monomer ids (``PI1``...); ``smiles``: repeat units with ``*`` ends;
        ``extras["table"]``: the whole table (uncertainties ``_std``/``_min``/``_max``/
        ``_count``, QM monomer properties, simulation settings).

    Examples
    --------
    >>> data = load_radonpy_pi1070()  # doctest: +SKIP
    >>> data.source["density"].median()  # doctest: +SKIP
    1.1...
    """
    table = _pi1070_table()
    return CaseStudyData(
        name="radonpy_pi1070",
        X=None,
        source=table[list(PI1070_PROPERTIES)].astype(float),
        y=pd.DataFrame(index=table.index),
        ids=table["monomer_ID"].astype(str).rename("monomer_id"),
        smiles=table["smiles"].astype(str).rename("smiles"),
        units=dict(PI1070_PROPERTIES),
        citation=_RADONPY_CITATION,
        licence="BSD-3-Clause (RadonPy repository)",
        description=(
            "MD-computed amorphous-state properties of 1,070 polymers from RadonPy (GAFF2, "
            "LAMMPS, 300 K, 1 atm), with QM monomer properties and simulation settings."
        ),
        extras={"table": table},
    )


_AFZAL_COLUMNS = {
    "Experiment Tg (K)": "Tg_exp",
    "Calculated Tg (K)": "Tg_md",
    "Calculated Tg std. dev. (K)": "Tg_md_std",
    "Experiment density at 300K (g/cc)": "density_exp",
    "Calculated density at 300K (g/cc)": "density_md",
    "Calulated density at 300K std. dev. (g/cc)": "density_md_std",
    "Calculated glass CTE (10-6/K)": "cte_glass_md",
    "Calculated glass CTE std. dev. (10-6/K)": "cte_glass_md_std",
    "Calculated rubber CTE (10-6/K)": "cte_rubber_md",
    "Calculated rubber CTE std. dev. (10-6/K)": "cte_rubber_md_std",
}


def load_afzal2021(*, suspect: str = "drop") -> CaseStudyData:
    """MD and experimental glass transition temperature and density of 315 polymers.

    Afzal et al. (2021) simulated Bicerano's 315 polymers with OPLS3e MD and list the
    experimental values beside the simulated ones. Some listed experimental values are not
    those of the listed repeat unit (polystyrene at 1.92 g/cm3): every target value is checked
    by the rules of :func:`afzal2021_quality` and the result is in ``quality``.

    Parameters
    ----------
    suspect : {"drop", "keep"}, default="drop"
        ``"drop"``: a flagged experimental value is left out of ``y`` (NaN there; the published
        value stays in ``extras["y_published"]``, never edited). ``"keep"``: ``y`` holds every
        published value; ``quality`` still says which are suspect.

    Returns
    -------
    CaseStudyData
        ``source``: ``Tg_md`` (K), ``density_md`` (g/cm3), ``cte_glass_md``, ``cte_rubber_md``
        (1e-6/K) and their ``_std``; ``y``: ``Tg_exp`` (K, all 315) and ``density_exp``
        (g/cm3 at 300 K, 117 non-null); ``ids``: the paper's serial numbers; ``smiles``:
        repeat units with ``*`` ends (the ``[Ce]``/``[Th]`` placeholders converted);
        ``quality``: the reason each target value is suspect (``""``: none);
        ``extras["name"]``: polymer names; ``extras["smiles_original"]``;
        ``extras["y_published"]``: the targets as published.

    Examples
    --------
    >>> data = load_afzal2021()  # doctest: +SKIP
    >>> int(data.y["density_exp"].notna().sum())  # doctest: +SKIP
    109
    >>> int(load_afzal2021(suspect="keep").y["density_exp"].notna().sum())  # doctest: +SKIP
    117
    """
    if suspect not in ("drop", "keep"):
        raise ValueError(f"suspect must be 'drop' or 'keep', got {suspect!r}")
    table = pd.read_csv(fetch("afzal2021/ap0c00524_si_001.csv"), na_values=["NA"])
    table.columns = [c.strip() for c in table.columns]
    smiles_col = next(c for c in table.columns if c.startswith("SMILES"))
    table = table.rename(columns=_AFZAL_COLUMNS)
    source_cols = [c for c in _AFZAL_COLUMNS.values() if c.endswith(("_md", "_md_std"))]
    for column in (*source_cols, "Tg_exp", "density_exp"):
        table[column] = pd.to_numeric(table[column], errors="coerce")
    units = {c: "K" for c in ("Tg_exp", "Tg_md", "Tg_md_std")}
    units.update({c: "g/cm3" for c in ("density_exp", "density_md", "density_md_std")})
    units.update({c: "1e-6/K" for c in source_cols if c.startswith("cte")})
    smiles = table[smiles_col].map(normalize_polymer_smiles).rename("smiles")
    published = table[["Tg_exp", "density_exp"]].astype(float)
    quality, notes = afzal2021_quality(published, smiles)
    y = published.mask(quality != "") if suspect == "drop" else published.copy()
    n_flagged = int(((quality != "") & published.notna()).to_numpy().sum())
    if n_flagged:
        notes.append(
            f"{n_flagged} suspect experimental values "
            + ("left out of y (suspect='keep' keeps them)" if suspect == "drop" else "kept in y")
        )
    return CaseStudyData(
        name="afzal2021",
        X=None,
        source=table[source_cols].astype(float),
        y=y,
        ids=table["sl_num"].rename("sl_num"),
        smiles=smiles,
        units=units,
        citation=(
            "Afzal, Chandrasekaran, Jacobs, Halls, Goldberg, Abel, Garrison, Sanders, Mustakas, "
            "Woodward, Zhang, 'High-throughput molecular dynamics simulations and validation of "
            "thermophysical properties of polymers for various applications', ACS Appl. Polym. "
            "Mater. 3, 620-630 (2021), doi:10.1021/acsapm.0c00524 (Supporting Information)."
        ),
        licence=(
            "Supporting information of an ACS article; licence unclear (possibly CC BY-NC-ND). "
            "affinetl downloads it at use and never redistributes it."
        ),
        description=(
            "315 polymers (Bicerano's set): experimental Tg and density at 300 K with OPLS3e MD "
            "values (Tg, density, glass and rubber CTE, each with its standard deviation)."
        ),
        notes=tuple(notes),
        extras={
            "name": table["Poymer name"].astype(str).str.strip(),
            "smiles_original": table[smiles_col],
            "y_published": published,
        },
        quality=quality,
    )


def afzal2021_quality(published: pd.DataFrame, smiles: pd.Series) -> tuple[pd.DataFrame, list[str]]:
    """Quality flags of Afzal et al.'s experimental Tg and density.

    Density: :func:`~affinetl.datasets._quality.flag_bounds` (class bounds) and
    :func:`~affinetl.datasets._quality.flag_disagreement` against the RadonPy PI1070 MD
    density of the same repeat unit (:func:`match_polymers`; mean over tacticities). The set's
    own MD column is not used as a witness: on the flagged rows it agrees with the listed value
    (polystyrene: 1.92 listed, 2.05 simulated), so it describes the same, mislabelled entry.
    Tg: class bounds only (no independent Tg simulation is available offline).

    Returns
    -------
    quality : pandas.DataFrame
        Columns ``Tg_exp``, ``density_exp``: ``""`` or the reasons.
    notes : list of str
        What could not be checked (PI1070 or RDKit unavailable).
    """
    from ._fetch import DataUnavailableError  # noqa: PLC0415
    from ._quality import combine_reasons, flag_bounds, flag_disagreement  # noqa: PLC0415

    notes: list[str] = []
    quality = pd.DataFrame("", index=published.index, columns=published.columns, dtype=object)
    try:
        quality["Tg_exp"] = flag_bounds(published["Tg_exp"], smiles, "Tg")
        density = published["density_exp"]
        bounds = flag_bounds(density, smiles, "density")
    except ImportError:
        notes.append("quality not checked: RDKit is not installed")
        return quality, notes
    try:
        pi1070 = _pi1070_table()
    except DataUnavailableError as error:
        notes.append(f"density not checked against RadonPy MD (PI1070 unavailable: {error})")
        quality["density_exp"] = bounds
        return quality, notes
    known = density.notna()
    pairs = match_polymers(smiles[known].astype(str), pi1070["smiles"].astype(str))
    md = pairs.assign(md=pi1070["density"].to_numpy(dtype=float)[pairs["right"].to_numpy()])
    simulated = md.groupby("left")["md"].mean().reindex(density.index)
    disagree, _ = flag_disagreement(density, simulated, label="RadonPy MD")
    quality["density_exp"] = combine_reasons(bounds, disagree)
    return quality, notes


def _read_experimental_cp(experimental: str | os.PathLike[str] | pd.DataFrame) -> pd.DataFrame:
    frame = (
        experimental.copy()
        if isinstance(experimental, pd.DataFrame)
        else pd.read_csv(Path(experimental))
    )
    lower = {c.lower().strip(): c for c in frame.columns}
    cp_col = next((lower[k] for k in ("cp", "cp mean", "cp_mean") if k in lower), None)
    if cp_col is None:
        raise ValueError(
            f"experimental Cp table needs a 'Cp' column (J/kg/K); found {list(frame.columns)}"
        )
    id_col = next((lower[k] for k in ("pid", "id", "polymer_id") if k in lower), None)
    smiles_col = lower.get("smiles")
    if id_col is None and smiles_col is None:
        raise ValueError(
            "experimental Cp table needs a 'PID' (PoLyInfo id, e.g. P010001) or a 'smiles' "
            f"column; found {list(frame.columns)}"
        )

    def text(column: str | None) -> pd.Series:
        if column is None:
            return pd.Series(None, index=frame.index, dtype=object)
        values = frame[column].map(lambda v: str(v).strip() if pd.notna(v) else None)
        return values.where(values != "", None)

    out = pd.DataFrame(
        {
            "Cp": pd.to_numeric(frame[cp_col], errors="coerce"),
            "PID": text(id_col),
            "smiles": text(smiles_col),
        }
    )
    # the paper's masked table has a 'Cp mean' of 0 for masked rows: not a measurement
    out = out[out["PID"].notna() | out["smiles"].notna()]
    out = out[np.isfinite(out["Cp"]) & (out["Cp"] > 0)]
    if out.empty:
        raise ValueError("experimental Cp table has no positive, finite Cp values")
    return out.reset_index(drop=True)


def load_polymer_cp(
    experimental: str | os.PathLike[str] | pd.DataFrame | None = None,
) -> CaseStudyData:
    """Polymer specific heat capacity: MD Cp (RadonPy) as source, experimental Cp as target.

    PoLyInfo's terms forbid redistributing the experimental values, so the target comes from
    the user.

    Parameters
    ----------
    experimental : path-like or pandas.DataFrame, optional
        CSV (or DataFrame) of experimental Cp at about 300 K in J/kg/K with the columns
        ``Cp`` (also accepted: ``Cp mean``, the paper's layout) and either ``PID`` (PoLyInfo
        id such as ``P010001``) or ``smiles`` (repeat unit with two ends: ``*``, ``[*:1]`` or
        ``[Ce]``/``[Th]``). SMILES are matched with :func:`same_polymer`, so cyclic shifts and
        multiples of the repeat unit are found. Rows with missing or non-positive Cp are
        dropped. ``None``: the 70 polymers of the paper's case study with ``y`` all NaN.

    Returns
    -------
    CaseStudyData
        ``X``: 190 force-field kernel-mean descriptors; ``source``: ``Cp_md`` (J/kg/K);
        ``y``: ``Cp_exp`` (J/kg/K); ``ids``: PoLyInfo ids; ``smiles``;
        ``extras["blocks"]``: block label of each descriptor column (the 10 blocks of
        :data:`FFKM_BLOCKS`).

    Examples
    --------
    >>> import pandas as pd
    >>> exp = pd.DataFrame({"smiles": ["*CC*", "*CC(*)C"], "Cp": [1900.0, 1920.0]})
    >>> data = load_polymer_cp(exp)  # doctest: +SKIP
    >>> data.X.shape  # doctest: +SKIP
    (2, 190)
    """
    ffkm = pd.read_csv(fetch("affinetl-paper/cp/PI_lib_FFKM.csv"))
    md = pd.read_csv(fetch("affinetl-paper/cp/MD_PI1070.csv"))
    descriptor_cols = list(ffkm.columns[3:])
    blocks = [next(b for b in FFKM_BLOCKS if c.startswith(b + "_")) for c in descriptor_cols]
    if len(descriptor_cols) != 190:
        raise ValueError(f"PI_lib_FFKM.csv: expected 190 descriptors, got {len(descriptor_cols)}")
    md = md[["PID", "Cp"]].dropna()
    base = ffkm.merge(md.rename(columns={"Cp": "Cp_md"}), on="PID", how="inner").copy()
    notes: list[str] = []
    if experimental is None:
        ids = pd.read_csv(fetch("affinetl-paper/cp/PI_Cp_masked.csv"))["PID"]
        base = base[base["PID"].isin(ids)].reset_index(drop=True)
        base = base.assign(Cp_exp=np.nan)
        notes.append(
            "No experimental Cp supplied: y is NaN. Pass experimental=<CSV with PID or smiles "
            "and Cp> (PoLyInfo values cannot be redistributed)."
        )
    else:
        exp = _read_experimental_cp(experimental)
        by_id = exp[exp["PID"].notna()].groupby("PID")["Cp"].mean()
        cp_exp = base["PID"].map(by_id)
        pending = exp[exp["PID"].isna() | ~exp["PID"].isin(base["PID"])]
        pending = pending[pending["smiles"].notna()]
        if not pending.empty:
            pairs = match_polymers(pending["smiles"].astype(str), base["smiles"].astype(str))
            if not pairs.empty:
                values = pairs.assign(Cp=pending.loc[pairs["left"], "Cp"].to_numpy())
                by_row = values.groupby("right")["Cp"].mean()
                cp_exp = cp_exp.fillna(by_row.reindex(base.index))
        n_unmatched = len(exp) - int(cp_exp.notna().sum())
        if n_unmatched > 0:
            notes.append(
                f"{n_unmatched} experimental rows matched no polymer with MD Cp and descriptors"
            )
            logger.info("%d experimental Cp rows were not matched", n_unmatched)
        base = base.assign(Cp_exp=cp_exp)
        base = base[base["Cp_exp"].notna()].reset_index(drop=True)
        if base.empty:
            raise ValueError("no experimental Cp row matched a polymer with MD Cp and descriptors")
    return CaseStudyData(
        name="polymer_cp",
        X=base[descriptor_cols].astype(float),
        source=base[["Cp_md"]].astype(float),
        y=base[["Cp_exp"]].astype(float),
        ids=base["PID"].astype(str).rename("PID"),
        smiles=base["smiles"].astype(str).rename("smiles"),
        units={"Cp_md": "J/kg/K", "Cp_exp": "J/kg/K"},
        citation=_AFFINETL_CITATION + " MD Cp: " + _RADONPY_CITATION,
        licence=(
            "Descriptors and MD values from the AffineTL repository (no licence file) and "
            "RadonPy (BSD-3-Clause); experimental values are the user's."
        ),
        description=(
            "Specific heat capacity of amorphous polymers: 190 force-field kernel-mean "
            "descriptors (10 element masses and 20-point kernel-mean embeddings of 9 GAFF2 "
            "parameters), RadonPy MD Cp at 300 K and user-supplied experimental Cp."
        ),
        notes=tuple(notes),
        extras={"blocks": blocks, "monomer_id": base["monomer_ID"].astype(str)},
    )
