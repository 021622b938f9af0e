"""The names the kit's manifests give its objects (base/ and overlays/), in one place.

The TUI acts on these by default (retrain copies the training Job, `b` runs the CronJob, the
header asks the Service which model it serves); a manifest renamed means a change here only.
"""

from __future__ import annotations

NAMESPACE = "ml-course"
TRAINING_JOB = "iris-train-job"
# Retrains the TUI starts are named TRAINING_PREFIX + a timestamp; the kit's own Job shares it.
TRAINING_PREFIX = "iris-train"
BATCH_CRONJOB = "iris-batch-predict"
API_DEPLOYMENT = "iris-api"
API_SERVICE = "iris-api-svc"
API_SERVICE_PORT = "http"
API_SECRET = "iris-api-secret"
