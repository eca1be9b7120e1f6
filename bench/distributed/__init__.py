"""The launcher axis: multi-device and multi-node runs on torch.distributed (environment, launcher,
collectives, the node's samplers, merged windows), composed with the runner."""
