"""The kubelet: it runs the pods bound to its node as local processes (pod workers, image
store, runtime, the container's view, pod addresses, probes, back-off) and renews the node's
heartbeat Lease."""
