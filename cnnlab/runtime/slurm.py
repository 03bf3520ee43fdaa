"""A search's roles in a SLURM job (`cnnlab tune CONFIG --slurm`), read from the variables SLURM
gives every task: task 0 is the chief, on the job's first node; every other task is a worker of it.

    >>> first_host("node[01-04],gpu7")
    'node01'
    >>> first_host("a-b,c")
    'a-b'
    >>> search_role({"SLURM_PROCID": "2", "SLURM_JOB_NODELIST": "n[3,7-9]", "SLURM_JOB_ID": "4711"})
    ('worker', 'n3:24711', 'task2')
    >>> search_role({"SLURM_PROCID": "0", "SLURM_JOB_NODELIST": "n[3,7-9]", "SLURM_JOB_ID": "4711"})
    ('chief', '0.0.0.0:24711', '')
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

from cnnlab.errors import ConfigError, Problem

PORTS = (20000, 20000)  # the chief listens on 20000 + (job id mod 20000): two jobs on a node rarely meet


def first_host(nodelist: str) -> str:
    """The first host of a SLURM node list (`node[01-04,07],login2`), zero padding kept."""
    head = re.match(r"([^,\[]+)(?:\[([^\]]+)\])?", nodelist.strip())
    if not head or not head.group(1):
        raise ValueError(f"not a SLURM node list: {nodelist!r}")
    prefix, ranges = head.groups()
    return prefix + (re.split(r"[-,]", ranges)[0] if ranges else "")


def search_role(environ: Mapping[str, str] = os.environ) -> tuple[str, str, str]:
    """("chief", address to listen on, "") for task 0, or ("worker", the chief's address, a
    worker name) for the others."""
    try:
        task = int(environ["SLURM_PROCID"])
        nodes = environ.get("SLURM_STEP_NODELIST") or environ["SLURM_JOB_NODELIST"]
        job = int(environ["SLURM_JOB_ID"])
    except (KeyError, ValueError):
        raise ConfigError(
            Problem(
                "--slurm reads SLURM_PROCID, SLURM_JOB_NODELIST and SLURM_JOB_ID, and this process has "
                "none of them: it was not started by srun",
                key="--slurm",
                hint="srun --ntasks=N cnnlab tune CONFIG --slurm (or --chief HOST:PORT / --worker-of HOST:PORT)",
            )
        ) from None
    port = PORTS[0] + job % PORTS[1]
    if task == 0:
        return "chief", f"0.0.0.0:{port}", ""
    return "worker", f"{first_host(nodes)}:{port}", f"task{task}"
