"""The TUI's cluster layer: plain, thread-based Python over the kubernetes client and kubectl.

No Textual here. Blocking calls are meant for Textual thread workers; callbacks run in this
layer's own threads. Objects are the API's JSON as plain dicts. Every failure meant for the
user is a ``ClusterError`` (or ``PredictError``) whose ``str()`` is one readable line.

connection.py
    ClusterError(Exception)
    Connection(context, namespace, server, api_client, kubectl_base, kubeconfig)
        .kubectl(*args) -> argv list; .configuration
    connect(context: str | None, namespace: str, kubeconfig: str | None = None) -> Connection
        reads the kubeconfig as kubectl does (argument, $KUBECONFIG, ~/.kube/config); no I/O
        with the server; ClusterError for a missing/broken kubeconfig or unknown context.
    check_reachable(conn) -> str        server version; ClusterError when unreachable, 401, 403
    kubectl_available() -> bool
    cluster_error(exc, doing) -> ClusterError    "cannot <doing>: …" / "no permission to …"

watch.py
    KINDS = ("deployments", "pods", "jobs", "cronjobs", "services", "persistentvolumeclaims",
             "horizontalpodautoscalers", "events")        events: type=Warning only
    WatchEvent(kind, type, obj=None, items=None)   type ADDED|MODIFIED|DELETED|RESYNC;
        RESYNC carries every current object in .items (replace the table's contents).
    ConnectionState: CONNECTING | CONNECTED | RECONNECTING
    ResourceWatcher(conn, kind, on_event, on_state, *, watch_timeout=300, max_backoff=10)
        .start(), .interrupt(), .stop(timeout=5); .state; .resource_version
        on_event(WatchEvent); on_state(kind, ConnectionState, message) — called from the
        watcher's thread. List once, then watch; re-watch without listing after a normal end;
        re-list only on 410; back-off reconnect on errors.
    NamespaceWatch(conn, on_event, on_state, kinds=KINDS, **options): .start(), .stop()

rows.py (pure)
    COLUMNS[kind] -> column labels; row(kind, obj, now=None) -> tuple[str, ...]
    row_key(obj) -> uid; pod_status(pod); job_status(job); hpa_targets(hpa);
    human_duration(seconds); age(timestamp, now)
    jobs_of_cronjob(items, cronjob_uid) -> list[dict]; pods_of_job(items, job_uid) -> list[dict]
"""
