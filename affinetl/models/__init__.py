"""Transfer models: kernel (block relaxation) and linear (fused ridge) affine transfer."""

from ._kernel import AffineTransferRegressor
from ._linear import LinearAffineTransferRegressor, LogDifferenceRegressor

#: Neural estimators (torch + nflows, ``pip install 'affinetl[nn]'``), imported on first access:
#: name -> private module.
_NEURAL = {
    "AffineCouplingTransfer": "_flow",
    "FeatureExtractionRegressor": "_neural_baselines",
    "FineTuneRegressor": "_neural_baselines",
    "HiddenLayerAffineRegressor": "_neural",
    "NeuralAffineTransferRegressor": "_neural",
    "NeuralDirectRegressor": "_neural_baselines",
    "fit_many": "_fit_many",
}


def __getattr__(name: str):
    if name in _NEURAL:
        from importlib import import_module

        return getattr(import_module(f".{_NEURAL[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "AffineTransferRegressor",
    "LinearAffineTransferRegressor",
    "LogDifferenceRegressor",
]
