"""The benchmark: NeuCODEX against its baselines over an emulated two-host link."""
