"""A followed log: a bounded buffer of lines, search with highlights, pause, wrap.

The view keeps its own buffer (the same bound as the RichLog's), so a search or a wrap change
can redraw what is on screen, and hours of logs do not grow memory. While paused, new lines
are buffered and counted, not drawn. Log lines are plain text: colour escapes (raw, or as a
JSON string's ``\\u001b[36m``) are dropped, so what is shown and searched is what was said.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass

from rich.text import Text
from textual.widgets import RichLog

MAX_LINES = 5000
# A colour or cursor escape (CSI … letter), raw or written as JSON escapes it.
_ANSI = re.compile(r"(?:\x1b|\\u001[bB]|\\x1[bB]|\\033)\[[0-9;?]*[A-Za-z]")


def plain(text: str) -> str:
    """``text`` without terminal escape sequences."""
    return _ANSI.sub("", text) if ("\x1b" in text or "\\" in text) else text


@dataclass(frozen=True)
class Shown:
    """One buffered line; markers are the screen's own notes (stream ended, reattached)."""

    text: str
    marker: bool = False


class LogView(RichLog):
    """Lines in, drawn unless paused; ``term`` highlights and finds matches."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(max_lines=MAX_LINES, wrap=False, **kwargs)  # type: ignore[arg-type]
        self.buffer: deque[Shown] = deque(maxlen=MAX_LINES)
        self.paused = False
        self.unseen = 0
        self.term = ""
        self._match_at = -1

    # -- lines --------------------------------------------------------------------------------

    def add(self, text: str) -> None:
        self._append(Shown(plain(text)))

    def note(self, message: str) -> None:
        """A line of the TUI's own (not the log's), set apart."""
        self._append(Shown(f"── {message} ──", marker=True))

    def reset(self) -> None:
        """Forget every line (a new stream starts)."""
        self.buffer.clear()
        self.clear()
        self.unseen = 0

    def _append(self, line: Shown) -> None:
        self.buffer.append(line)
        if self.paused:
            self.unseen += 1
        else:
            self.write(self._styled(line))

    # -- drawing ------------------------------------------------------------------------------

    def _pattern(self) -> re.Pattern[str] | None:
        return re.compile(re.escape(self.term), re.IGNORECASE) if self.term else None

    def _styled(self, line: Shown, pattern: re.Pattern[str] | None = None) -> Text:
        if line.marker:
            return Text(line.text, style="bold magenta")
        text = Text(line.text)
        pattern = pattern or self._pattern()
        if pattern is not None:
            text.highlight_regex(pattern, style="bold black on yellow")
        return text

    def redraw(self) -> None:
        self.clear()
        pattern = self._pattern()
        for line in self.buffer:
            self.write(self._styled(line, pattern))
        self.unseen = 0

    # -- pause, wrap, search ------------------------------------------------------------------

    def toggle_pause(self) -> None:
        self.paused = not self.paused
        if not self.paused:
            self.redraw()
            self.scroll_end(animate=False)

    def toggle_wrap(self) -> None:
        self.wrap = not self.wrap
        self.redraw()

    def search(self, term: str) -> None:
        self.term = term
        self._match_at = -1
        self.redraw()

    def matches(self) -> list[int]:
        pattern = self._pattern()
        if pattern is None:
            return []
        return [i for i, line in enumerate(self.buffer) if pattern.search(line.text)]

    def next_match(self, step: int) -> tuple[int, int] | None:
        """Scroll to the next (step 1) or previous (-1) match: (its number, how many)."""
        matches = self.matches()
        if not matches:
            return None
        later = [i for i in matches if (i - self._match_at) * step > 0]
        self._match_at = (
            (min(later) if step > 0 else max(later)) if later else matches[0 if step > 0 else -1]
        )
        # One buffered line is one screen line unless wrapping; then the jump is approximate.
        self.auto_scroll = False
        self.scroll_to(y=self._match_at, animate=False)
        return matches.index(self._match_at) + 1, len(matches)

    def follow_end(self) -> None:
        self.auto_scroll = True
        self.scroll_end(animate=False)
