"""kube-scheduler: ``filters`` decides which node fits a pod, ``scheduler`` binds or reports
FailedScheduling and retries with back-off."""
