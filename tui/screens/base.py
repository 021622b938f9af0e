"""What every iris-tui screen shares: the typed app, and one way cluster work fails.

Screens run every blocking call (the cluster, kubectl, the prediction API) in thread workers
started with ``exit_on_error=False``. A worker that raises ends in the ERROR state instead of
taking the app down; ``on_worker_state_changed`` below is the one place that turns its error
into a notification (the app's ``report_failure``), then lets the screen show it in place
through ``worker_failed``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from textual import getters
from textual.screen import Screen
from textual.worker import Worker, WorkerState

if TYPE_CHECKING:
    from tui.app import IrisApp
    from tui.session import ClusterSession


class IrisScreen(Screen[None]):
    """A screen of the IrisApp."""

    # Keys the help lists beyond the bindings: what a widget's own key does here.
    HELP_KEYS: ClassVar[tuple[tuple[str, str], ...]] = ()

    if TYPE_CHECKING:
        # Textual's typed-app getter, for the type checker only: at run time the inherited
        # property returns the running app, which is an IrisApp (importing IrisApp here at
        # run time would be circular, since the app imports its screens).
        app = getters.app(IrisApp)

    @property
    def session(self) -> ClusterSession:
        return self.app.session

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state is WorkerState.ERROR:
            message = self.app.report_failure(event.worker.error)
            self.worker_failed(event.worker.name, message)

    def worker_failed(self, worker: str, message: str) -> None:
        """The worker named ``worker`` failed and the user was told ``message``.

        Screens that show the outcome of that work in place (an answer, a YAML view)
        override this to show the failure there too.
        """
