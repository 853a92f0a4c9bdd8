"""nobptt: learning long-range structure in sequences without backpropagation through time."""

__version__ = "0.1.0"
