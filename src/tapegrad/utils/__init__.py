"""tapegrad.utils: training helpers (data loading, activation checkpointing)."""
