"""Transfer models: kernel (block relaxation) and linear (fused ridge) affine transfer."""

from ._kernel import AffineTransferRegressor
from ._linear import LinearAffineTransferRegressor, LogDifferenceRegressor

#: Neural estimators (torch + nflows, ``pip install 'affinetl[nn]'``), imported on first access.
_NEURAL = (
    "AffineCouplingTransfer",
    "FeatureExtractionRegressor",
    "FineTuneRegressor",
    "HiddenLayerAffineRegressor",
    "NeuralAffineTransferRegressor",
    "NeuralDirectRegressor",
    "fit_many",
)


def __getattr__(name: str):
    if name in _NEURAL:
        from . import _fit_many, _neural

        return getattr(_fit_many if name == "fit_many" else _neural, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "AffineTransferRegressor",
    "LinearAffineTransferRegressor",
    "LogDifferenceRegressor",
]
