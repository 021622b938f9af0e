"""kube-proxy: the node's side of Services (its NodePorts)."""
