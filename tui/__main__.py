"""``iris-tui``: the command line that starts the app."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from tui.session import ClusterSession, Options


def parse_args(argv: Sequence[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(
        prog="iris-tui",
        description="Deploy, watch and drive the Iris kit on the cluster in your kubeconfig. "
        "Every action shows the kubectl command that does the same.",
    )
    parser.add_argument("--context", help="kubeconfig context (default: the current one)")
    parser.add_argument("--namespace", default="ml-course", help="namespace (default: %(default)s)")
    parser.add_argument(
        "--overlay",
        default="minikube",
        help="kustomize overlay under overlays/ to deploy (default: %(default)s)",
    )
    parser.add_argument(
        "--api-url",
        help="reach the prediction API here instead of through the cluster "
        "(e.g. http://127.0.0.1:8080 after kubectl port-forward)",
    )
    parser.add_argument(
        "--kubeconfig", help="kubeconfig file (default: $KUBECONFIG or ~/.kube/config)"
    )
    args = parser.parse_args(argv)
    return Options(
        context=args.context,
        namespace=args.namespace,
        overlay=args.overlay,
        api_url=args.api_url,
        kubeconfig=args.kubeconfig,
    )


def main(argv: Sequence[str] | None = None) -> None:
    from tui.app import IrisApp

    IrisApp(ClusterSession(parse_args(argv))).run()


if __name__ == "__main__":
    main()
