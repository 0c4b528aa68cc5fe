"""Shared conventions and I/O helpers: geometry, audio/video I/O, dataset layout, configs, checkpoints."""
