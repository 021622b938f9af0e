"""A live table of one kind of object, updated in place from watch events, with a filter.

Rows are keyed by the object's uid: an ADDED event adds a row, MODIFIED rewrites only the
cells that changed, DELETED removes the row, and RESYNC (the full list after a (re)connect)
reconciles the table with the list. Nothing is rebuilt, so the cursor stays where it was.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from rich.style import Style
from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.geometry import Size
from textual.message import Message
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import DataTable, Input, Static

from tui.cluster.rows import row_key

Obj = dict[str, Any]
# More rows than this leaving at once (a re-list after a long disconnect) lay the table out
# afresh instead of removing rows one by one.
REBUILD_AFTER = 50
# Seconds of no typing before the filter is applied.
FILTER_DELAY = 0.25
RowFn = Callable[[Obj], tuple[str, ...]]


@dataclass(frozen=True)
class Scope:
    """A drill-down restriction, e.g. "the Jobs of cronjob/iris-batch-predict"."""

    label: str
    keep: Callable[[Obj], bool]


def cells(row: tuple[str, ...]) -> list[Text]:
    """Cells as Text: object names and event messages are not Rich markup (a "[" in an event
    message must show as is), and DataTable measures Text without parsing it."""
    return [Text(value) for value in row]


class RowsTable(DataTable[Text]):
    """A DataTable that keeps its rendered rows across a tab switch.

    DataTable throws away every rendered cell whenever its styles are recomputed, which a
    focus change does, and whenever it gets a Resize, which a table shown again gets even at
    the size it had. With a thousand rows that re-render was most of what a tab switch cost.
    Its caches are keyed by the pseudo-classes (focus, hover) already, so they stay valid
    as long as the styles each pseudo-class state resolves to are the ones they were made
    with (a theme change alters them: then everything is dropped, as DataTable does).
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._geometry: tuple[Size, Size, Size | None] | None = None
        self._styles_seen: dict[object, tuple[Style, ...]] = {}

    def _on_resize(self, event: events.Resize) -> None:
        geometry = (event.size, event.virtual_size, event.container_size)
        if geometry == self._geometry:
            event.prevent_default()
        self._geometry = geometry

    def notify_style_update(self) -> None:
        Widget.notify_style_update(self)  # the widget's own style caches, always
        state = self.get_pseudo_class_state()  # what render_lines will key the rows by
        styles = (
            self.rich_style,
            *(
                self.get_component_rich_style(name, default=Style())
                for name in sorted(self.COMPONENT_CLASSES)
            ),
        )
        if self._styles_seen.get(state, styles) != styles:
            self._styles_seen = {}
            super().notify_style_update()  # clears the rendered rows, as DataTable does
        else:
            self._styles_cache.clear()
            self._get_styles_to_render_cell.cache_clear()
            self.refresh()
        self._styles_seen[state] = styles


class ResourceTable(Vertical):
    """The table of one kind plus its filter line and scope line."""

    BINDINGS = [
        Binding("slash", "start_filter", "Filter", key_display="/"),
        Binding("escape", "clear_filter", "Clear filter", show=False),
    ]

    DEFAULT_CSS = """
    ResourceTable { height: 1fr; }
    ResourceTable > .scope { height: 1; color: $accent; display: none; }
    ResourceTable > .scope.-active { display: block; }
    ResourceTable > Input { display: none; height: 3; }
    ResourceTable > Input.-active { display: block; }
    ResourceTable > DataTable { height: 1fr; }
    """

    class Changed(Message):
        """The number of shown rows changed (the dashboard puts it in the tab label)."""

        def __init__(self, table: ResourceTable) -> None:
            super().__init__()
            self.table = table

    def __init__(self, kind: str, columns: Iterable[str], row_fn: RowFn, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.kind = kind
        self.columns = tuple(columns)
        self._row_fn = row_fn
        self.objects: dict[str, Obj] = {}
        self._shown: dict[str, tuple[str, ...]] = {}
        self.filter_text = ""
        self.scope: Scope | None = None
        self._filter_timer: Timer | None = None
        self._refreshed_at = time.monotonic()

    def compose(self) -> ComposeResult:
        yield Static("", classes="scope")
        table = RowsTable(cursor_type="row", zebra_stripes=True)
        for label in self.columns:
            table.add_column(label, key=label)
        yield table

    @property
    def table(self) -> DataTable[Text]:
        return self.query_one(DataTable)

    @property
    def shown_count(self) -> int:
        return len(self._shown)

    def focus_table(self) -> None:
        self.table.focus()

    def selected(self) -> Obj | None:
        table = self.table
        if not self._shown or table.cursor_row < 0:
            return None
        try:
            key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key
        except Exception:
            return None
        return self.objects.get(str(key.value))

    # -- events -------------------------------------------------------------------------------

    def apply(self, events: Iterable[Any]) -> None:
        """Apply watch events (objects with ``type``, ``obj`` and ``items``) to the rows."""
        added = False
        for event in events:
            if event.type == "RESYNC":
                fresh = {row_key(o): o for o in event.items or []}
                gone = [key for key in self.objects if key not in fresh]
                if len(gone) > REBUILD_AFTER:
                    self.objects = fresh
                    self._reconcile()
                    continue
                for key in gone:
                    del self.objects[key]
                    self._hide(key)
                for key, obj in fresh.items():
                    self.objects[key] = obj
                    added |= self._show(key, obj)
            elif event.type == "DELETED" and event.obj is not None:
                key = row_key(event.obj)
                self.objects.pop(key, None)
                self._hide(key)
            elif event.obj is not None:
                key = row_key(event.obj)
                self.objects[key] = event.obj
                added |= self._show(key, event.obj)
        if added:
            self._sort()
        self.post_message(self.Changed(self))

    def refresh_rows(self) -> None:
        """Recompute every shown row (ages move on) and rewrite the cells that changed."""
        for key in list(self._shown):
            self._show(key, self.objects[key])
        self._refreshed_at = time.monotonic()

    def rows_age(self) -> float:
        """Seconds since every row was last computed."""
        return time.monotonic() - self._refreshed_at

    # -- filter and scope ---------------------------------------------------------------------

    def set_filter(self, text: str) -> None:
        if self._filter_timer is not None:
            self._filter_timer.stop()
            self._filter_timer = None
        text = text.strip().lower()
        if text != self.filter_text:
            self.filter_text = text
            self._reconcile()

    def set_scope(self, scope: Scope | None) -> None:
        self.scope = scope
        line = self.query_one(".scope", Static)
        line.update(f"showing {scope.label} (Esc shows all)" if scope else "")
        line.set_class(scope is not None, "-active")
        self._reconcile()

    async def action_start_filter(self) -> None:
        # The filter line is made on first use, not with the table: eight hidden Inputs
        # were styled (and their cursors timed) at start for nothing.
        box = self.query(Input).first() if self.query(Input) else None
        if box is None:
            box = Input(placeholder="filter: any text in the row (Enter keeps it, Esc clears)")
            await self.mount(box, before=self.table)
        box.add_class("-active")
        box.focus()

    def action_clear_filter(self) -> None:
        box = self.query(Input).first() if self.query(Input) else None
        if box is None:
            if self.scope is not None:
                self.set_scope(None)
            self.focus_table()
            return
        if self.filter_text or box.has_class("-active"):
            box.value = ""
            box.remove_class("-active")
            self.set_filter("")
        elif self.scope is not None:
            self.set_scope(None)
        self.focus_table()

    def on_input_changed(self, event: Input.Changed) -> None:
        # Re-laying out a thousand rows per keystroke would make typing lag: wait for a
        # pause in the typing (Enter applies at once).
        event.stop()
        if self._filter_timer is not None:
            self._filter_timer.stop()
        value = event.value
        self._filter_timer = self.set_timer(FILTER_DELAY, lambda: self.set_filter(value))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.set_filter(event.value)
        if not event.value:
            event.input.remove_class("-active")
        self.focus_table()

    # -- rows ---------------------------------------------------------------------------------

    def _wanted(self, obj: Obj, row: tuple[str, ...]) -> bool:
        if self.scope is not None and not self.scope.keep(obj):
            return False
        return not self.filter_text or self.filter_text in " ".join(row).lower()

    def _show(self, key: str, obj: Obj) -> bool:
        """Add or update the row of ``obj`` (or hide it if filtered out); True if added."""
        row = self._row_fn(obj)
        if not self._wanted(obj, row):
            self._hide(key)
            return False
        table = self.table
        old = self._shown.get(key)
        if old is None:
            table.add_row(*cells(row), key=key)
            self._shown[key] = row
            return True
        if old != row:
            for column, before, after in zip(self.columns, old, row, strict=False):
                if before != after:
                    table.update_cell(
                        key, column, Text(after), update_width=len(after) > len(before)
                    )
            self._shown[key] = row
        return False

    def _hide(self, key: str) -> None:
        if self._shown.pop(key, None) is not None:
            self.table.remove_row(key)

    def _reconcile(self) -> None:
        """Lay the rows out afresh after the filter or scope changed.

        Many rows come and go at once then, and DataTable.remove_row is linear in the number
        of rows, so clearing and adding the wanted rows is much cheaper than row-by-row.
        """
        table = self.table
        selected = self.selected()
        wanted: list[tuple[str, tuple[str, ...]]] = []
        for key, obj in self.objects.items():
            row = self._row_fn(obj)
            if self._wanted(obj, row):
                wanted.append((key, row))
        if "NAME" in self.columns:
            wanted.sort(key=lambda item: item[1][0])
        table.clear()
        self._shown = {}
        self._refreshed_at = time.monotonic()
        for key, row in wanted:
            table.add_row(*cells(row), key=key)
            self._shown[key] = row
        if selected is not None and row_key(selected) in self._shown:
            table.move_cursor(row=table.get_row_index(row_key(selected)), animate=False)
        self.post_message(self.Changed(self))

    def _sort(self) -> None:
        # By name, as kubectl lists them; kinds without a NAME column (events) keep the order
        # the watch delivered them in, which is the order they happened.
        if "NAME" not in self.columns:
            return
        table = self.table
        selected = self.selected()
        table.sort("NAME", key=lambda name: name.plain)
        if selected is not None:
            key = row_key(selected)
            if key in self._shown:
                table.move_cursor(row=table.get_row_index(key), animate=False)
