"""Synthetic STARSS23-format audio-visual SELD data (entry point: synthesize_dataset.py).

Modules, one job each: config (presets, the typed config), plan (clip names, splits, rooms, seeds),
scenes (scene scripts from real annotations or random), sounds (13 procedural classes), spatial (FOA/MIC
rendering with room acoustics), video (equirectangular sprites, mp4 writing), simulated_detections (person
boxes), clip (one clip end to end), dataset (parallel generation, list files, synthesis.json).
"""
