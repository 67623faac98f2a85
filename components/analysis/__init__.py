"""G-code time analysis: a native Marlin/Klipper-style print time estimator."""
