"""The object store: etcd's part of the control plane (objects, resourceVersions, history)."""
