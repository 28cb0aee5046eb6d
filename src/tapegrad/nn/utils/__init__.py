"""tapegrad.nn.utils: gradient clipping and parameter/vector conversions."""
