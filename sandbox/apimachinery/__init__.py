"""What every component shares, as k8s.io/apimachinery holds it: API errors (Status objects),
field errors, label and field selectors, resource quantities."""
