"""Training, evaluation, search and prediction: the plan that checks a config before a run folder
exists, the one fit loop every process role and search trial goes through, and evaluation."""
