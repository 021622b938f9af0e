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
        the Status message, then its details.causes the message does not already say
    call_json(api_method, *args, **kw) -> dict   a generated API call, answer as plain JSON
    call_raw(api_method, *args, **kw) -> urllib3 response (streams: watches, logs)

names.py
    NAMESPACE, TRAINING_JOB, TRAINING_PREFIX, BATCH_CRONJOB, API_DEPLOYMENT, API_SERVICE,
    API_SERVICE_PORT, API_SECRET: the names the kit's manifests give its objects

kinds.py
    Kind(plural, title, kubectl, api, suffix, columns, row, field_selector)
        .method(conn, verb) -> the generated <verb>_namespaced_<suffix> API method
    KINDS: plural -> Kind (the watched kinds and configmaps); WATCHED: the tab order
    kind(plural) -> Kind (ClusterError if unknown); row(plural, obj, now=None) -> cells

streams.py (internal)
    iter_lines(response); StreamSlot: the open stream of a reader thread, so that another
    thread can shut its socket down and stop it at once

watch.py
    KINDS = kinds.WATCHED        events: type=Warning only
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
    <kind>_row(obj, now) -> cells (kinds.py says which serves which kind)
    row_key(obj) -> uid; pod_status(pod); job_status(job); hpa_targets(hpa);
    human_duration(seconds); age(timestamp, now); pods_of_job(items, job_uid) -> list[dict]

logs.py
    LogLine(text) | LogNotice(reason) | LogEnd(reason)        (LogItem = their union)
        LogNotice (a marker, not log text): "attached to POD/CONTAINER", "waiting for
                   container C to start (Reason)", "pod P not found" / "pod P deleted"
                   (while waiting for it to come back), "previous log of POD/CONTAINER".
        LogEnd: "pod P deleted", "container C restarted", "container C ended: Completed
                (exit code 0)", "pod P was recreated", "cannot read the log of P: …;
                retrying in 2 s", "end of the previous container's log", …
    LogStream(conn, pod, *, container=None, tail_lines=200, previous=False, follow=True,
              stop: threading.Event | None = None)
        iterate in a thread worker; .stop() from any thread ends it at once (closes the
        stream); .kubectl = "kubectl … logs POD -c C -f --tail=200". With follow, after a
        LogEnd it waits (watching that pod) and reattaches when the container runs again or
        the pod comes back, skipping lines already shown. previous=True: the last crashed
        container's log, once.
    stream_logs(conn, pod, **options) -> LogStream
    pod_containers(conn, pod) -> list[str]; job_pods(conn, job_name) -> list[str] newest first
    logs_command(conn, pod, container, *, tail_lines, previous, follow) -> str

actions.py — each returns ActionResult(kubectl: str, message: str, name: str|None, output: str)
    retrain(conn, job="iris-train-job")          new Job iris-train-<UTC timestamp> from its spec
    run_batch_now(conn, cronjob="iris-batch-predict")  Job <cronjob>-manual-<timestamp> built
        like `kubectl create job --from=cronjob/…` (owner reference + instantiate=manual)
    set_suspended(conn, cronjob, suspended: bool)
    rollout_restart(conn, deployment="iris-api")   template annotation restartedAt
    scale(conn, deployment, replicas: int)         via the scale subresource
    delete(conn, kind, name)       kind: a plural of kinds.KINDS; background cascade
    describe_yaml(conn, kind, name)                YAML in .output, managedFields dropped
    wait_for_job(conn, name, *, timeout=600, stop=None) -> "Complete" | "Failed"
    job_copy(job, name), job_from_cronjob(cronjob, name)   the pure object builders

kustomize.py
    list_overlays(repo_root, extra=()) -> list[Path]; is_overlay(path)
    render(overlay) -> str  (kubectl kustomize); render_command(overlay) -> argv
    split_documents(yaml_text) -> list[("Kind/name", text)]
    CommandRun: .command (str shown in the log), iterate for output lines ("$ cmd" first for
        each command), then .returncode / .succeeded; .run() -> list[str]; .cancel()
    diff(conn, overlay) (exit 1 = differences, counted as success),
    apply(conn, overlay, *, force_conflicts=True)  = delete job/iris-train-job
        --ignore-not-found && kubectl apply --server-side -k OVERLAY,
    delete(conn, overlay)  = kubectl delete -k OVERLAY --ignore-not-found
    known_fix(output) -> str | None   what to do about a failure kubectl printed

predict.py
    PredictError(Exception); Prediction(class_index, class_name, probabilities,
        model_version, latency_ms, value)  (value: regression; the class fields None)
    PredictClient.for_cluster(conn, api_url=None, api_key=None)  .route says how it is reached
        (--api-url, LoadBalancer, NodePort, else the API server's service proxy). API key:
        argument, $IRIS_API_KEY, else Secret iris-api-secret (API_KEY) if readable.
    .predict(features: {name: value}, target="species") -> Prediction;
        .predict_rows(rows: [{name: value}]); .model_form() -> ModelForm | None
    .model_info() -> dict | None; .wait_for_new_version(old, *, timeout, interval, stop) -> str
    .command(path="/predict", body) -> equivalent kubectl/curl line; .close()
    ModelForm.from_info(GET /model): .fields (FormField: name, kind, nullable, minimum,
        maximum, bounds, categories; .problem(text) -> reason | None), .signature,
        .problems(texts) -> {field: reason}, .values(texts) -> request body; IRIS_FORM
    read_csv_rows(path, form=IRIS_FORM) -> [{name: value}] by header name (extra columns
        dropped), or in field order without a header
"""
