"""One horizontal bar per class, as long as its probability, the winner highlighted."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.widgets import Static

BAR_WIDTH = 40


def bars(probabilities: dict[str, float], width: int = BAR_WIDTH) -> Table:
    table = Table.grid(padding=(0, 1))
    table.add_column(no_wrap=True)
    table.add_column(no_wrap=True)
    table.add_column(justify="right", no_wrap=True)
    best = max(probabilities, key=probabilities.__getitem__) if probabilities else None
    for name, p in probabilities.items():
        p = min(max(p, 0.0), 1.0)
        filled = round(p * width)
        style = "bold green" if name == best else "cyan"
        bar = Text("█" * filled, style=style) + Text("░" * (width - filled), style="dim")
        table.add_row(Text(name, style="bold" if name == best else ""), bar, f"{p:6.1%}")
    return table


class ProbabilityBars(Static):
    DEFAULT_CSS = """
    ProbabilityBars { height: auto; }
    """

    probabilities: dict[str, float] = {}

    def show(self, probabilities: dict[str, float]) -> None:
        self.probabilities = dict(probabilities)
        self.update(bars(probabilities))
