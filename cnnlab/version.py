"""cnnlab's version, where every layer may read it (the package's face imports the API)."""

__version__ = "0.1.0"
