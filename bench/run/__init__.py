"""One measured run: its configuration, the runner that holds device, workloads and meter together, the run
folder, and the end-of-run assessment."""
