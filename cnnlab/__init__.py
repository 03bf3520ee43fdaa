"""cnnlab: a YAML file in, a trained, evaluated and explained Keras CNN out.

`import cnnlab` starts no backend: the API (`cnnlab.train`, `cnnlab.load_run`, ...) is imported
on first use, and Keras inside each call, once the config has chosen its backend.

    >>> import cnnlab
    >>> cnnlab.ConfigError.exit_code
    2
"""

import os

from cnnlab.version import __version__

# TensorFlow's C++ start-up chatter (oneDNN, CUDA stubs) buries cnnlab's own output;
# warnings and errors still show. A user's own setting wins.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from cnnlab.errors import CnnlabError, ConfigError, DataError, Interrupted, Problem, RunError, RunFailed  # noqa: E402

_API = (
    "Checked",
    "Comparison",
    "Group",
    "GroupComparison",
    "Picture",
    "Progress",
    "Run",
    "Search",
    "Summary",
    "check",
    "compare",
    "config_yaml",
    "datasets",
    "fetch",
    "load_run",
    "predict",
    "resume",
    "run_table",
    "runs",
    "summary",
    "train",
    "tune",
    "tune_worker",
)
__all__ = [
    *_API,
    "serve",
    "__version__",
    "CnnlabError",
    "ConfigError",
    "DataError",
    "Interrupted",
    "Problem",
    "RunError",
    "RunFailed",
]


def __getattr__(name: str):
    if name == "serve":  # the server sits above the API: its own package
        from cnnlab.serving.server import serve

        return serve
    if name in _API:
        import cnnlab.api  # on first use: pydantic and the rest load only when they are needed

        return getattr(cnnlab.api, name)
    raise AttributeError(f"module 'cnnlab' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_API, "serve"])
