"""kube-apiserver: the HTTP API, discovery and OpenAPI, decoding, patches, lists, watches,
tables and the streaming endpoints; ``registry/`` holds each kind's strategy."""
