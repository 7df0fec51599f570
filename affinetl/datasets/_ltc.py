"""Lattice thermal conductivity (LTC) of crystals with the scattering phase space (SPS) as source."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from ._container import CaseStudyData
from ._fetch import cache_dir, fetch, registry

__all__ = ["SPS_NETWORK_IDS", "SourceNetwork", "load_ltc", "load_sps_network"]

logger = logging.getLogger(__name__)

#: Ids of the 10 pretrained SPS networks used in the paper, in the paper's order.
SPS_NETWORK_IDS: tuple[int, ...] = (66, 83, 39, 36, 70, 95, 56, 72, 69, 42)

#: The 12 all-f-electron / magnetic XenonPy columns the paper drops (278 of 290 remain).
DROPPED_DESCRIPTORS: tuple[str, ...] = (
    "min:gs_mag_moment",
    "min:num_d_unfilled",
    "min:num_f_unfilled",
    "min:num_f_valence",
    "ave:num_f_unfilled",
    "ave:num_f_valence",
    "sum:num_f_unfilled",
    "sum:num_f_valence",
    "var:num_f_unfilled",
    "var:num_f_valence",
    "max:num_f_unfilled",
    "max:num_f_valence",
)

_PICKLE = "affinetl-paper/ltc/SPSTC_290.pkl"
_CITATION = (
    "Minami, Fukumizu, Hayashi, Yoshida, 'Transfer learning with affine model transformation', "
    "NeurIPS 2023 (data: github.com/mshunya/AffineTL); LTC and SPS data from Ju et al., "
    "Phys. Rev. Materials 5, 053801 (2021)."
)
_LICENCE = (
    "The AffineTL repository has no licence file; the data are downloaded from it at use and "
    "never redistributed by affinetl."
)


class SourceNetwork:
    """A pretrained fully connected source network evaluated with numpy.

    ``h_0 = (x - input_mean) / input_scale``, ``h_k = LeakyReLU(h_{k-1} W_k + b_k)`` for the
    hidden layers and ``out = h_L W_{L+1} + b_{L+1}`` (linear output).

    Parameters
    ----------
    weights : sequence of ndarray
        Kernel of each dense layer, shape (n_in, n_out), Keras layout.
    biases : sequence of ndarray
        Bias of each dense layer, shape (n_out,).
    negative_slope : float, default=0.01
        Slope of the LeakyReLU for negative inputs.
    input_mean, input_scale : array-like of shape (n_features,), optional
        Standardisation applied to raw inputs first (``None``: inputs are used as given).
    name : str, default=""
        Label used in messages.

    Examples
    --------
    >>> import numpy as np
    >>> net = SourceNetwork([np.eye(2), np.ones((2, 1))], [np.zeros(2), np.zeros(1)])
    >>> net.predict(np.array([[1.0, -1.0]]))
    array([0.99])
    >>> net.transform(np.array([[1.0, -1.0]]), layer=1)
    array([[ 1.  , -0.01]])
    """

    def __init__(
        self,
        weights: Sequence[np.ndarray],
        biases: Sequence[np.ndarray],
        *,
        negative_slope: float = 0.01,
        input_mean: ArrayLike | None = None,
        input_scale: ArrayLike | None = None,
        name: str = "",
    ) -> None:
        if len(weights) != len(biases) or not weights:
            raise ValueError("weights and biases must be non-empty lists of the same length")
        self.weights = [np.asarray(w, dtype=np.float64) for w in weights]
        self.biases = [np.asarray(b, dtype=np.float64).ravel() for b in biases]
        for k, (w, b) in enumerate(zip(self.weights, self.biases)):
            if w.ndim != 2 or w.shape[1] != b.shape[0]:
                raise ValueError(f"layer {k}: kernel {w.shape} and bias {b.shape} do not match")
            if k and self.weights[k - 1].shape[1] != w.shape[0]:
                raise ValueError(f"layer {k}: input width {w.shape[0]} != previous output")
        self.negative_slope = float(negative_slope)
        self.input_mean = None if input_mean is None else np.asarray(input_mean, dtype=float)
        self.input_scale = None if input_scale is None else np.asarray(input_scale, dtype=float)
        self.name = name

    @property
    def n_features_in_(self) -> int:
        """Input width."""
        return self.weights[0].shape[0]

    @property
    def n_hidden_layers(self) -> int:
        """Number of hidden (LeakyReLU) layers."""
        return len(self.weights) - 1

    @property
    def hidden_widths(self) -> list[int]:
        """Width of each hidden layer."""
        return [w.shape[1] for w in self.weights[:-1]]

    def _check(self, X: ArrayLike) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.n_features_in_:
            raise ValueError(
                f"source network {self.name!r} expects X of shape (n, {self.n_features_in_}), "
                f"got {X.shape}"
            )
        if self.input_mean is not None:
            X = X - self.input_mean
        if self.input_scale is not None:
            X = X / self.input_scale
        return X

    def transform(self, X: ArrayLike, layer: int | None = None) -> np.ndarray:
        """Activations of a hidden layer (after the LeakyReLU), or the output.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.
        layer : int, optional
            Hidden layer 1..n_hidden_layers; ``None`` or ``n_hidden_layers + 1`` gives the output.

        Returns
        -------
        ndarray of shape (n_samples, width)
        """
        last = self.n_hidden_layers + 1
        layer = last if layer is None else int(layer)
        if not 1 <= layer <= last:
            raise ValueError(f"layer must be in 1..{last} for network {self.name!r}, got {layer}")
        h = self._check(X)
        for k in range(layer):
            h = h @ self.weights[k] + self.biases[k]
            if k < self.n_hidden_layers:
                h = np.where(h > 0, h, self.negative_slope * h)
        return h

    def predict(self, X: ArrayLike) -> np.ndarray:
        """Network output of shape (n_samples,) (single-output networks) or (n_samples, k)."""
        out = self.transform(X)
        return out[:, 0] if out.shape[1] == 1 else out

    def __repr__(self) -> str:
        widths = [self.n_features_in_, *self.hidden_widths, self.weights[-1].shape[1]]
        return f"SourceNetwork(name={self.name!r}, widths={widths})"


def _read_keras_dense(path: Path) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Dense kernels and biases of a Keras 2 HDF5 weight file, in layer order."""
    weights, biases = [], []
    with h5py.File(path, "r") as handle:
        names = [
            n.decode() if isinstance(n, bytes) else str(n) for n in handle.attrs["layer_names"]
        ]
        for name in names:
            group = handle[name]
            if name not in group or "kernel:0" not in group[name]:
                continue
            weights.append(group[name]["kernel:0"][()])
            biases.append(group[name]["bias:0"][()])
    if not weights:
        raise ValueError(f"{path}: no dense layers found")
    return weights, biases


def _negative_slope(config_path: Path) -> float:
    config = json.loads(config_path.read_text())
    slopes = {
        float(layer["config"]["alpha"])
        for layer in config["config"]["layers"]
        if layer["class_name"] == "LeakyReLU"
    }
    if len(slopes) != 1:
        raise ValueError(f"{config_path}: expected one LeakyReLU slope, found {sorted(slopes)}")
    return float(np.float32(slopes.pop()))


def load_sps_network(
    network_id: int,
    *,
    input_mean: ArrayLike | None = None,
    input_scale: ArrayLike | None = None,
) -> SourceNetwork:
    """One of the pretrained SPS source networks of the paper.

    Parameters
    ----------
    network_id : int
        One of :data:`SPS_NETWORK_IDS`.
    input_mean, input_scale : array-like of shape (278,), optional
        Standardisation of raw descriptors; ``None`` (default) expects standardised inputs.

    Returns
    -------
    SourceNetwork
        278 -> w -> w -> w -> 1 network whose output is the standardised log SPS.
    """
    if int(network_id) not in SPS_NETWORK_IDS:
        raise ValueError(f"network_id must be one of {SPS_NETWORK_IDS}, got {network_id}")
    stem = f"affinetl-paper/ltc/source_models/100_Model_{int(network_id)}"
    weights, biases = _read_keras_dense(fetch(stem + ".hdf5"))
    slope = _negative_slope(fetch(stem + ".json"))
    return SourceNetwork(
        weights,
        biases,
        negative_slope=slope,
        input_mean=input_mean,
        input_scale=input_scale,
        name=f"SPS-{int(network_id)}",
    )


def _save_npz(frame: pd.DataFrame, path: Path) -> None:
    """A DataFrame of float and string columns as an ``.npz`` (no pickle inside)."""
    arrays = {
        "__index__": np.asarray(frame.index, dtype=str),
        "__columns__": np.asarray(frame.columns, dtype=str),
    }
    for k, column in enumerate(frame.columns):
        values = frame[column].to_numpy()
        arrays[f"c{k}"] = values.astype(str) if values.dtype == object else values.astype(float)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, **arrays)
    tmp.replace(path)


def _load_npz(path: Path) -> pd.DataFrame:
    with np.load(path, allow_pickle=False) as arrays:
        columns = [str(c) for c in arrays["__columns__"]]
        frame = pd.DataFrame({c: arrays[f"c{k}"] for k, c in enumerate(columns)})
        frame.index = pd.Index([str(i) for i in arrays["__index__"]], dtype=object)
    return frame


def _ltc_tables() -> tuple[pd.DataFrame, pd.DataFrame]:
    """The pickle's two tables, unpickled once after the hash check and kept as ``.npz``."""
    digest = registry()[_PICKLE].digest
    converted = cache_dir() / "converted" / f"SPSTC_290-{digest[:16]}"
    data_path, desc_path = converted / "data.npz", converted / "desc.npz"
    if data_path.is_file() and desc_path.is_file():
        return _with_str_index(_load_npz(data_path)), _with_str_index(_load_npz(desc_path))
    import joblib  # noqa: PLC0415 - only needed for the one-off conversion

    path = fetch(_PICKLE)  # hash verified before anything is unpickled
    logger.info("converting the verified pickle %s to npz in %s", path, converted)
    tables = joblib.load(path)
    data, desc = tables["data"], tables["desc"]
    converted.mkdir(parents=True, exist_ok=True)
    _save_npz(data, data_path)
    _save_npz(desc, desc_path)
    return _with_str_index(data), _with_str_index(desc)


def _with_str_index(frame: pd.DataFrame) -> pd.DataFrame:
    frame.index = pd.Index([str(i) for i in frame.index], dtype=object, name="material_id")
    frame.columns = pd.Index([str(c) for c in frame.columns], dtype=object)
    return frame


def load_ltc(*, drop_constant: bool = True, networks: bool = True) -> CaseStudyData:
    """Lattice thermal conductivity of 320 crystals with the SPS as source property.

    45 crystals have a measured LTC (the target); all 320 have the scattering phase space (SPS),
    on which the 10 pretrained source networks were trained.

    Parameters
    ----------
    drop_constant : bool, default=True
        Drop the 12 all-f-electron/magnetic descriptor columns, as the paper does (278 remain).
    networks : bool, default=True
        Also load the 10 pretrained SPS networks into ``extras["networks"]``.

    Returns
    -------
    CaseStudyData
        ``X``: 320 x 278 XenonPy compositional descriptors (raw); ``source``: column
        ``"SPS"`` (cm); ``y``: column ``"LTC"`` (W/m/K, NaN for the 275 crystals without one);
        ``ids``: Materials Project ids; ``extras``: ``"formula"``, ``"x_mean"`` and ``"x_scale"``
        (mean and sample sd over all 320 crystals, the networks' input standardisation) and
        ``"networks"``: dict id -> :class:`SourceNetwork` taking *raw* descriptors (their
        output is the standardised log SPS).

    Examples
    --------
    >>> data = load_ltc()  # doctest: +SKIP
    >>> data.y["LTC"].notna().sum()  # doctest: +SKIP
    45
    """
    data, desc = _ltc_tables()
    if not data.index.equals(desc.index):
        raise ValueError("LTC pickle: the data and desc tables are not aligned")
    X = desc.drop(columns=list(DROPPED_DESCRIPTORS)) if drop_constant else desc.copy()
    X = X.astype(np.float64)
    x_mean = X.mean()
    x_scale = X.std(ddof=1).replace(0.0, 1.0)
    extras: dict[str, object] = {
        "formula": data["Name"].astype(str),
        "x_mean": x_mean,
        "x_scale": x_scale,
    }
    if networks:
        if not drop_constant:
            raise ValueError("the SPS networks take the 278 descriptors: use drop_constant=True")
        extras["networks"] = {
            i: load_sps_network(i, input_mean=x_mean.to_numpy(), input_scale=x_scale.to_numpy())
            for i in SPS_NETWORK_IDS
        }
    ids = pd.Series(data.index.astype(str), index=data.index, name="material_id")
    return CaseStudyData(
        name="ltc",
        X=X,
        source=pd.DataFrame({"SPS": data["SPS (cm)"].astype(float)}, index=data.index),
        y=pd.DataFrame({"LTC": data["TC (W/mK)"].astype(float)}, index=data.index),
        ids=ids,
        units={"SPS": "cm", "LTC": "W/m/K", "X": "XenonPy compositional descriptors"},
        citation=_CITATION,
        licence=_LICENCE,
        description=(
            "320 crystals: XenonPy compositional descriptors, scattering phase space (SPS, all "
            "320) and experimental lattice thermal conductivity (LTC, 45). The pickle from the "
            "paper's repository is unpickled only after its SHA-256 matches, then cached as "
            "npz (no pickle)."
        ),
        extras=extras,
    )
