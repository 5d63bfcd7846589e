"""Where the palette's Screenshot goes, and what its notice says (a mixin of the app)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from platformdirs import user_downloads_path
from textual import events
from textual.app import App
from textual.markup import escape

from agentdash.tui.wrapping import path_lines, toast_width
from controller.core.printable import printable


class Screenshots(App[None]):
    def deliver_screenshot(
        self, filename: str | None = None, path: str | None = None, time_format: str | None = None
    ) -> str | None:
        # Textual saves to the Downloads folder, and fails where there is none (a server
        # reached over SSH, a container): there, the folder the dashboard was started from.
        if path is None:
            downloads = user_downloads_path()
            path = str(downloads if downloads.is_dir() else Path.cwd())
        if filename is None and time_format is None:  # in UTC, as the screen says the time
            stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H_%M_%S_%fZ")
            filename = f"{self.title}_{stamp}.svg".replace(" ", "_")
        return super().deliver_screenshot(filename, path, time_format)

    def on_delivery_complete(self, event: events.DeliveryComplete) -> None:
        if event.name != "screenshot" or event.path is None:
            return
        # Textual's own notice reads the path as markup: saved from a folder such as `a[/b]`,
        # the screenshot stopped the dashboard (MarkupError). Said as Textual says it, escaped.
        # The path on lines of its own, broken after its folders: a toast is 36 cells wide at
        # 80 columns, and Textual broke the path wherever a line ran out.
        event.prevent_default()
        lines = path_lines(repr(str(event.path)), toast_width(self.size.width))
        where = escape("\n".join(lines))
        self.notify(f"Saved screenshot to\n[$text-success]{where}", title="Screenshot")

    def on_delivery_failed(self, event: events.DeliveryFailed) -> None:
        if event.name != "screenshot":
            return
        event.prevent_default()  # Textual's own says "Failed to save screenshot", not why
        error = event.exception
        if isinstance(error, OSError) and error.strerror:
            lines = path_lines(printable(str(error.filename)), toast_width(self.size.width))
            why = "\n".join(lines) + f":\n{printable(error.strerror)}"
        else:
            why = printable(str(error))
        self.notify(
            f"Could not save the screenshot,\n{why}",
            title="Screenshot",
            severity="error",
            markup=False,
        )
