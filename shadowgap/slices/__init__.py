"""Slices: features computed at ingest and discovery of regressed slices over judged pairs."""
