"""DCASE SELD metrics and DCASE CSV reading / writing."""
