"""The dashboard: live tables of the namespace and the keys that act on what is selected."""

from __future__ import annotations

from collections.abc import Callable

from rich.markup import escape
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Static, TabbedContent, TabPane

from tui.cluster import kinds
from tui.cluster.actions import ActionResult
from tui.cluster.names import API_DEPLOYMENT, BATCH_CRONJOB
from tui.cluster.watch import KINDS, WatchEvent
from tui.screens.base import IrisScreen
from tui.screens.confirm import ConfirmScreen
from tui.screens.describe import DescribeScreen
from tui.screens.logs import LogsScreen
from tui.session import ClusterSession
from tui.widgets.command_log import CommandLog
from tui.widgets.key_footer import KeyFooter
from tui.widgets.resource_table import Obj, ResourceTable, Scope
from tui.widgets.status_bar import StatusBar

Act = Callable[[ClusterSession], ActionResult]
# Seconds between recomputing the rows of the table in view (their AGE columns move on).
AGE_REFRESH = 5.0


def name_of(obj: Obj) -> str:
    return str((obj.get("metadata") or {}).get("name", ""))


def owned_by(uid: str) -> Callable[[Obj], bool]:
    def keep(obj: Obj) -> bool:
        refs = (obj.get("metadata") or {}).get("ownerReferences") or []
        return any(ref.get("uid") == uid for ref in refs)

    return keep


def pod_selector(kind: str, obj: Obj) -> dict[str, str]:
    """The labels that pick the pods of a Deployment (matchLabels) or a Service (selector)."""
    spec = obj.get("spec") or {}
    selector = (
        (spec.get("selector") or {}).get("matchLabels")
        if kind == "deployments"
        else (spec.get("selector"))
    )
    return dict(selector or {})


def matches(selector: dict[str, str]) -> Callable[[Obj], bool]:
    def keep(obj: Obj) -> bool:
        labels = (obj.get("metadata") or {}).get("labels") or {}
        return all(labels.get(key) == value for key, value in selector.items())

    return keep


class DashboardScreen(IrisScreen):
    """One tab per kind; Enter drills down (CronJob → Jobs → Pods → logs; Deployment or
    Service → its Pods; anything else → its YAML)."""

    BINDINGS = [
        *(
            Binding(
                str(i),
                f"show_kind('{kind}')",
                kinds.KINDS[kind].title,
                show=False,
                tooltip=f"show the {kinds.KINDS[kind].title} tab",
            )
            for i, kind in enumerate(KINDS, start=1)
        ),
        Binding("l", "logs", "Logs", tooltip="follow the log of the selected Pod or Job"),
        Binding("y", "describe", "YAML", tooltip="the selected object as YAML"),
        Binding("t", "retrain", "Retrain", tooltip="start a new training Job"),
        Binding("b", "run_batch", "Batch now", tooltip="run the batch CronJob's Job now"),
        Binding("s", "toggle_suspend", "Suspend/resume", tooltip="pause or resume the CronJob"),
        Binding("r", "rollout_restart", "Restart", tooltip="replace the API Deployment's pods"),
        Binding("plus", "scale(1)", "Scale +", key_display="+", tooltip="one more API pod"),
        Binding("minus", "scale(-1)", "Scale -", key_display="-", tooltip="one API pod fewer"),
        Binding("d,ctrl+d", "delete", "Delete", tooltip="delete the selected object (asks)"),
    ]
    HELP_KEYS = (("enter", "open: its Jobs, Pods, logs or YAML"),)

    def compose(self) -> ComposeResult:
        yield StatusBar()
        yield Static("", id="problem")
        with TabbedContent(id="kinds"):
            for i, kind in enumerate(KINDS, start=1):
                with TabPane(f"{i} {kinds.KINDS[kind].title}", id=f"tab-{kind}"):
                    yield ResourceTable(
                        kind, kinds.KINDS[kind].columns, self._row_fn(kind), id=f"table-{kind}"
                    )
        yield CommandLog()
        yield KeyFooter()

    def _row_fn(self, kind: str) -> Callable[[Obj], tuple[str, ...]]:
        def row(obj: Obj) -> tuple[str, ...]:
            return kinds.row(kind, obj, now=self.app.clock())

        return row

    def on_mount(self) -> None:
        self.table("pods").focus_table()
        self.query_one(TabbedContent).active = "tab-pods"
        if self.app.refresh_ages:
            self.set_interval(AGE_REFRESH, self._refresh_ages)

    def _refresh_ages(self) -> None:
        # Only the table in view. Rewriting cells makes a table drop its rendered rows, so
        # refreshing the hidden ones would make switching to them slow; each catches up
        # right after its tab is shown instead.
        self.table(self.current_kind()).refresh_rows()

    # -- data ---------------------------------------------------------------------------------

    def table(self, kind: str) -> ResourceTable:
        return self.query_one(f"#table-{kind}", ResourceTable)

    def apply(self, kind: str, events: list[WatchEvent]) -> None:
        self.table(kind).apply(events)

    def objects(self, kind: str) -> list[Obj]:
        return list(self.table(kind).objects.values())

    def show_problem(self, message: str | None) -> None:
        problem = self.query_one("#problem", Static)
        problem.update(f"{escape(message)}\nPress R to try again." if message else "")
        problem.set_class(message is not None, "-active")

    @on(ResourceTable.Changed)
    def _count_changed(self, event: ResourceTable.Changed) -> None:
        table = event.table
        index = KINDS.index(table.kind) + 1
        tab = self.query_one(TabbedContent).get_tab(f"tab-{table.kind}")
        tab.label = f"{index} {kinds.KINDS[table.kind].title} ({table.shown_count})"

    @on(TabbedContent.TabActivated)
    def _tab_activated(self, event: TabbedContent.TabActivated) -> None:
        # Events can arrive after the user switched again: follow the tab active now, or
        # focusing a table in another pane would switch back to it.
        if event.pane.id == event.tabbed_content.active:
            table = self.table(self.current_kind())
            table.focus_table()
            # A table whose ages are fresh enough is left alone: recomputing a thousand rows
            # on every switch back and forth was a good part of each switch.
            if self.app.refresh_ages and table.rows_age() >= AGE_REFRESH:
                self.call_after_refresh(table.refresh_rows)

    def current_kind(self) -> str:
        active = self.query_one(TabbedContent).active or "tab-pods"
        return active.removeprefix("tab-")

    def selected(self, kind: str | None = None) -> Obj | None:
        """The object under the cursor, if the current tab shows ``kind`` (or any kind)."""
        current = self.current_kind()
        if kind is not None and kind != current:
            return None
        return self.table(current).selected()

    def action_show_kind(self, kind: str, scope: Scope | None = None) -> None:
        self.query_one(TabbedContent).active = f"tab-{kind}"
        table = self.table(kind)
        if scope is not None:
            table.set_scope(scope)
        table.focus_table()

    # -- drill down ---------------------------------------------------------------------------

    @on(DataTable.RowSelected)
    def _row_chosen(self, event: DataTable.RowSelected) -> None:
        kind = self.current_kind()
        obj = self.table(kind).selected()
        if obj is None:
            return
        uid = str(obj["metadata"].get("uid", ""))
        if kind == "cronjobs":
            self.action_show_kind(
                "jobs", Scope(f"the Jobs of cronjob/{name_of(obj)}", owned_by(uid))
            )
            columns = "NAME:.metadata.name,OWNER:.metadata.ownerReferences[0].name"
            self.log_command(
                self.kubectl("get", "jobs", "-o", f"custom-columns={columns}"),
                f"the Jobs whose owner is {name_of(obj)}",
            )
        elif kind == "jobs":
            self.action_show_kind("pods", Scope(f"the Pods of job/{name_of(obj)}", owned_by(uid)))
            self.log_command(self.kubectl("get", "pods", "-l", f"job-name={name_of(obj)}"))
        elif kind == "pods":
            self.app.push_screen(LogsScreen(name_of(obj)))
        elif kind in ("deployments", "services") and (selector := pod_selector(kind, obj)):
            what = f"the Pods of {kinds.KINDS[kind].kubectl}/{name_of(obj)}"
            self.action_show_kind("pods", Scope(what, matches(selector)))
            labels = ",".join(f"{key}={value}" for key, value in selector.items())
            self.log_command(self.kubectl("get", "pods", "-l", labels))
        else:
            self._describe(kind, obj)

    # -- actions ------------------------------------------------------------------------------

    def kubectl(self, *args: str) -> str:
        return self.session.kubectl(*args)

    def log_command(self, command: str, note: str = "") -> None:
        self.app.log_command(command, note)

    def action_logs(self) -> None:
        kind = self.current_kind()
        obj = self.table(kind).selected()
        if obj is None or kind not in ("pods", "jobs"):
            self.notify("select a Pod or a Job to see its logs", severity="warning")
            return
        if kind == "pods":
            self.app.push_screen(LogsScreen(name_of(obj)))
        else:
            self.app.push_screen(LogsScreen(job=name_of(obj)))

    def action_describe(self) -> None:
        kind = self.current_kind()
        obj = self.table(kind).selected()
        if obj is None:
            self.notify("nothing selected", severity="warning")
            return
        self._describe(kind, obj)

    def _describe(self, kind: str, obj: Obj) -> None:
        if kind == "events":
            involved = obj.get("involvedObject") or {}
            kind = f"{str(involved.get('kind', '')).lower()}s"
            if kind not in KINDS:
                self.notify("this event's object cannot be described here", severity="warning")
                return
            self.app.push_screen(DescribeScreen(kind, str(involved.get("name", ""))))
            return
        self.app.push_screen(DescribeScreen(kind, name_of(obj)))

    def action_retrain(self) -> None:
        self._run_action("retrain", lambda session: session.retrain(), follow_job=True)

    def action_run_batch(self) -> None:
        self._run_action("run the batch", lambda session: session.run_batch_now(), follow_job=True)

    def action_toggle_suspend(self) -> None:
        cronjob = self.selected("cronjobs")
        if cronjob is None:
            cronjob = next(
                (o for o in self.objects("cronjobs") if name_of(o) == BATCH_CRONJOB), None
            )
        if cronjob is None:
            self.notify(f"no CronJob {BATCH_CRONJOB} in this namespace", severity="warning")
            return
        suspend = not bool((cronjob.get("spec") or {}).get("suspend"))
        name = name_of(cronjob)
        self._run_action(
            "suspend" if suspend else "resume",
            lambda session: session.set_suspended(name, suspend),
        )

    def _deployment(self) -> str:
        selected = self.selected("deployments")
        return name_of(selected) if selected else API_DEPLOYMENT

    def action_rollout_restart(self) -> None:
        name = self._deployment()
        self._run_action("rollout restart", lambda session: session.rollout_restart(name))

    def action_scale(self, step: int) -> None:
        name = self._deployment()
        deployment = next((o for o in self.objects("deployments") if name_of(o) == name), None)
        if deployment is None:
            self.notify(f"no Deployment {name} in this namespace", severity="warning")
            return
        replicas = max(0, int((deployment.get("spec") or {}).get("replicas", 1)) + step)

        def scale(session: ClusterSession) -> ActionResult:
            return session.scale(name, replicas)

        if replicas == 0:
            command = self.kubectl("scale", f"deployment/{name}", "--replicas=0")
            self._confirm(f"Scale {name} to 0 replicas? The API stops answering.", command, scale)
        else:
            self._run_action(f"scale to {replicas}", scale)

    def action_delete(self) -> None:
        kind = self.current_kind()
        obj = self.table(kind).selected()
        if obj is None or kind == "events":
            self.notify("select an object to delete", severity="warning")
            return
        name = name_of(obj)
        spelled = kinds.KINDS[kind].kubectl
        command = self.kubectl("delete", spelled, name)
        self._confirm(
            f"Delete {spelled} {name}?",
            command,
            lambda session: session.delete(kind, name),
        )

    def _confirm(self, question: str, command: str, act: Act) -> None:
        def answered(yes: bool | None) -> None:
            if yes:
                self._run_action(question.split("?")[0].lower(), act)

        self.app.push_screen(ConfirmScreen(question, command), answered)

    def _run_action(self, what: str, act: Act, follow_job: bool = False) -> None:
        self.notify(f"{what}…", timeout=2)
        self._action_worker(act, follow_job)

    @work(thread=True, group="actions", exit_on_error=False)
    def _action_worker(self, act: Act, follow_job: bool) -> None:
        app = self.app
        result = act(self.session)
        app.call_from_thread(app.log_command, result.kubectl)
        app.call_from_thread(app.notify, result.message)
        if follow_job and result.name:
            self._follow_job(result.name)

    def _follow_job(self, job: str) -> None:
        """Say when the Job started here ends (a new model is the app's to notice)."""
        app = self.app
        outcome = self.session.wait_for_job(job)
        if outcome == "Complete":
            app.call_from_thread(app.notify, f"job {job} completed")
        else:
            app.call_from_thread(
                app.notify, f"job {job} failed: press l on it for its logs", severity="error"
            )
