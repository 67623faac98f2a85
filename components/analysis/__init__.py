"""G-code time analysis: a native Marlin/Klipper-style print time estimator."""

from .component import COMPONENT, Analysis

__all__ = ["COMPONENT", "Analysis"]
