"""Where the computation runs: the backend, its devices, the strategy over several devices, and
the processes that train together. Nothing here trains; everything here must run before Keras
starts, or right after."""
