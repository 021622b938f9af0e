"""Guards for the few places the TUI relies on Textual's private internals.

RowsTable (tui/widgets/resource_table.py) keeps a DataTable's rendered rows across a tab
switch by overriding ``_on_resize`` and ``notify_style_update`` and clearing only
``_styles_cache`` and ``_get_styles_to_render_cell``'s cache itself. Nothing public does
this. If a Textual release renames or reworks any of it, these tests fail and name what
changed, rather than the tab switch silently growing slow again (or rows showing stale
styles).
"""

from __future__ import annotations

import inspect

from rich.text import Text
from textual.widgets import DataTable

from tests.tui.fakes import FakeSession, frozen_clock
from tui.app import IrisApp
from tui.widgets.resource_table import RowsTable


def test_datatable_still_has_the_internals_rowstable_overrides_and_clears() -> None:
    assert "_on_resize" in vars(DataTable), "DataTable._on_resize is gone: see RowsTable"
    source = inspect.getsource(DataTable.notify_style_update)
    for name in ("_row_render_cache", "_styles_cache", "_get_styles_to_render_cell"):
        assert name in source, f"DataTable.notify_style_update no longer clears {name}"
    table: DataTable[Text] = DataTable()
    assert hasattr(table._styles_cache, "clear")
    assert hasattr(table._get_styles_to_render_cell, "cache_clear")
    # RowsTable's own versions are what run (a rename in Textual would leave them dead).
    assert RowsTable._on_resize is not DataTable._on_resize
    assert RowsTable.notify_style_update is not DataTable.notify_style_update


async def test_a_tab_switch_keeps_the_rendered_rows() -> None:
    app = IrisApp(FakeSession(), clock=frozen_clock, refresh_ages=False)
    async with app.run_test(size=(120, 36)) as pilot:
        # Once round first: the styles the first frames are drawn with are not final yet.
        for key in ("3", "2"):
            await pilot.press(key)
            await pilot.pause()
        table = app.dashboard.table("pods").query_one(RowsTable)
        cache = table._row_render_cache
        rendered = {key: cache.get(key) for key in list(cache.keys())}
        assert rendered, "DataTable no longer fills _row_render_cache"
        await pilot.press("3")
        await pilot.pause()
        await pilot.press("2")
        await pilot.pause()
        kept = [key for key, value in rendered.items() if table._row_render_cache.get(key) is value]
        assert kept, "a tab switch re-rendered every row: RowsTable's cache keeping broke"
