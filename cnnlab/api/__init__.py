"""cnnlab's Python API, the face of the engine: what `import cnnlab` offers, and what every
`cnnlab` command calls. Keras starts inside each function, once the config has chosen its
backend, so importing this package starts none.

    >>> import cnnlab
    >>> run = cnnlab.train("configs/mnist_fast.yaml", overrides={"data.limit": 2000})  # doctest: +SKIP
    >>> run.metrics["accuracy"]                                                       # doctest: +SKIP
"""

from cnnlab.api.datasets import datasets, fetch
from cnnlab.api.groups import Group
from cnnlab.api.progress import Progress
from cnnlab.api.runs import Picture, Run, load_run, run_table, runs
from cnnlab.api.search import Search, tune, tune_worker
from cnnlab.api.trainer import Checked, ChecksFailed
from cnnlab.api.training import check, resume, train
from cnnlab.api.views import Comparison, GroupComparison, Summary, compare, config_yaml, predict, summary

__all__ = [
    "Checked",
    "ChecksFailed",
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
]
