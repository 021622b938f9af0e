"""A local, simulated Kubernetes API server that runs pods as local processes."""
