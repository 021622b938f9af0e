"""The app's screens: dashboard, deploy, logs, predict, describe, help and the confirm modal."""
