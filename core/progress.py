"""One progress bar for every long command: rich on a terminal's stderr, silent elsewhere.

A command opens :func:`progress_bar` and moves the :class:`Bar` it gets; when
stderr is not a terminal (a pipe, a file, a service's log) nothing is drawn and
the bar's methods do nothing, so no escape codes end up in logs or in ``--json``
output. rich is imported only when a bar is drawn.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


class Bar:
    """A task on a rich progress display, or nothing (``Bar()``) when quiet."""

    def __init__(self, display: Any = None, task: Any = None) -> None:
        self._display, self._task = display, task

    def update(self, completed: float, description: str | None = None) -> None:
        """Set how much is done (in the bar's ``total`` units) and, optionally, what is running."""
        if self._display is not None:
            kw = {} if description is None else {"description": description}
            self._display.update(self._task, completed=completed, **kw)

    def advance(self, amount: float = 1.0, description: str | None = None) -> None:
        if self._display is not None:
            kw = {} if description is None else {"description": description}
            self._display.update(self._task, advance=amount, **kw)

    def span(self, start: float, stop: float, description: str | None = None) -> Callable[[float], None]:
        """A callback mapping a share 0..1 of one step onto ``start..stop`` of this bar."""
        if description is not None:
            self.update(start, description)
        return lambda share: self.update(start + (stop - start) * min(max(share, 0.0), 1.0))


def is_terminal() -> bool:
    """Whether stderr is a terminal (where a bar may be drawn)."""
    return bool(getattr(sys.stderr, "isatty", lambda: False)())


@contextmanager
def progress_bar(description: str, total: float | None = 1.0, enabled: bool | None = None) -> Iterator[Bar]:
    """A transient rich bar on stderr while the block runs; ``enabled=None`` means "if stderr is a terminal".

    ``total=None`` draws a pulsing bar with the time elapsed, for work that cannot say how far it is.

    Examples
    --------
    >>> with progress_bar("render", total=3, enabled=False) as bar:
    ...     bar.advance()
    """
    if not (is_terminal() if enabled is None else enabled):
        yield Bar()
        return
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    share = [TextColumn("{task.percentage:>3.0f}%"), TimeElapsedColumn(), TimeRemainingColumn()]
    with Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), *(share if total is not None else [TimeElapsedColumn()]),
        console=Console(stderr=True), transient=True, refresh_per_second=4,
    ) as display:
        yield Bar(display, display.add_task(description, total=total))
