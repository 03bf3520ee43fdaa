"""What a run folder holds, drawn and written for people: plots, the run report, the comparison
of runs, Grad-CAM and filter patterns, search tables, and exported models checked against their
run. Nothing here trains."""
