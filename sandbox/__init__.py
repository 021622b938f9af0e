"""A local Kubernetes that real kubectl and clients accept, running pods as local processes.

Its folders are Kubernetes' own components, so reading them teaches the control plane:

- ``apimachinery/``: what every component shares (k8s.io/apimachinery): API errors as Status
  objects, field errors, label and field selectors, quantities.
- ``storage/``: the object store, etcd's part: objects, resourceVersions, watch history.
- ``apiserver/``: kube-apiserver: HTTP handlers, discovery, OpenAPI, decoding, patches, tables,
  and ``registry/`` with one strategy per kind (defaults, validation, status).
- ``controllers/``: kube-controller-manager, one controller per module.
- ``scheduler/``: kube-scheduler: its filters and the loop that binds pods to the node.
- ``kubelet/``: the node agent: pod workers, the image store, the local-process runtime, the
  container's view, pod addresses, probes, restart back-off, the node's heartbeat Lease.
- ``cluster.py`` starts the components over one store; ``bootstrap.py`` creates what a fresh
  minikube has (the node, the system namespaces, the default StorageClass).
"""
