"""The run folder: its file names, its manifest, finding runs by path, name or recency, and
loading a trained run back. Everything a command keeps on disk about a run goes through here."""
