"""The terminal UI that deploys, watches and drives the kit on a Kubernetes cluster."""
