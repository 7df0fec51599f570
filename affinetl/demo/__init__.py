"""The package's showcase, ``affinetl demo``: Sim2Real polymer density on real data.

:func:`run_demo` learns the experimental densities of the Afzal et al. (2021) polymers from
n = 10, 20, 40 measured ones with their MD densities as the source, and compares
``AffineTransferCV()`` (its defaults) with the raw simulation and the baselines over 20 random
splits per n (mean and standard error), writing a table and three figures: error against n, predicted
against measured, and the learned domain shift ``g1(u)``. :func:`run_synthetic_demo`
(``affinetl demo --synthetic``) runs a problem with known ``g1, g2, g3`` instead.
"""

from __future__ import annotations

from ._cli import add_arguments, run
from ._polymer import DemoResult, demo_models, headline, load_demo_case, run_demo
from ._synthetic import SyntheticDemoResult, candidate_models, run_synthetic_demo

__all__ = [
    "DemoResult",
    "SyntheticDemoResult",
    "add_arguments",
    "candidate_models",
    "demo_models",
    "headline",
    "load_demo_case",
    "run",
    "run_demo",
    "run_synthetic_demo",
]
