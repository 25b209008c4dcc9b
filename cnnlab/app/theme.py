"""Light and dark themes: a Qt palette, a style sheet from ``cnnlab.assets``, and pyqtgraph colours.

Series colours follow Okabe and Ito's palette, which stays distinguishable for the common forms of
colour blindness; the dark theme uses lighter tints of the same hues so thin lines keep their contrast.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

from cnnlab.app.assets import asset

THEME_NAMES = ("light", "dark")


@dataclass(frozen=True)
class Theme:
    name: str
    window: str
    base: str  # text fields, lists, plots
    alt_base: str
    text: str
    muted: str  # secondary text: units, captions
    button: str
    border: str
    accent: str
    accent_text: str
    accent_soft: str  # a tint of the accent that the normal text colour stays readable on
    good: str
    bad: str
    warn: str
    warn_background: str
    error_background: str
    info_background: str
    plot_background: str
    plot_foreground: str
    series: tuple[str, ...]

    def color(self, index: int) -> str:
        return self.series[index % len(self.series)]


LIGHT = Theme(
    name="light",
    window="#f3f4f6",
    base="#ffffff",
    alt_base="#eef0f3",
    text="#1b1f24",
    muted="#5a6270",
    button="#e7e9ed",
    border="#c5cad3",
    accent="#1f6fd1",
    accent_text="#ffffff",
    accent_soft="#a9cbf3",
    good="#13804a",
    bad="#c0392b",
    warn="#8a5a00",
    warn_background="#fff4d6",
    error_background="#fde2df",
    info_background="#e3eefc",
    plot_background="#ffffff",
    plot_foreground="#3a414c",
    series=("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#7a5195", "#4d4d4d"),
)

DARK = Theme(
    name="dark",
    window="#1e2127",
    base="#262a31",
    alt_base="#2d323a",
    text="#e6e8eb",
    muted="#a3aab5",
    button="#343a43",
    border="#48505c",
    accent="#5aa2f0",
    accent_text="#10151c",
    accent_soft="#2d5684",
    good="#4cc38a",
    bad="#ff7b6b",
    warn="#f2c14e",
    warn_background="#3d3320",
    error_background="#4a2523",
    info_background="#1f3450",
    plot_background="#1a1d22",
    plot_foreground="#c8cdd4",
    series=("#56B4E9", "#FF9A5C", "#3DDBA8", "#E89BC6", "#F5C242", "#9fd3f5", "#b79ad9", "#d0d0d0"),
)

THEMES = {"light": LIGHT, "dark": DARK}


def get_theme(name: str | None) -> Theme:
    return THEMES.get(name or "", LIGHT)


def palette_for(theme: Theme) -> QPalette:
    p = QPalette()
    roles = {
        QPalette.Window: theme.window,
        QPalette.WindowText: theme.text,
        QPalette.Base: theme.base,
        QPalette.AlternateBase: theme.alt_base,
        QPalette.Text: theme.text,
        QPalette.Button: theme.button,
        QPalette.ButtonText: theme.text,
        QPalette.ToolTipBase: theme.base,
        QPalette.ToolTipText: theme.text,
        QPalette.PlaceholderText: theme.muted,
        QPalette.Highlight: theme.accent,
        QPalette.HighlightedText: theme.accent_text,
        QPalette.Link: theme.accent,
        QPalette.BrightText: theme.bad,
        QPalette.Light: theme.alt_base,
        QPalette.Midlight: theme.button,
        QPalette.Mid: theme.border,
        QPalette.Dark: theme.border,
        QPalette.Shadow: "#000000",
    }
    for role, value in roles.items():
        p.setColor(QPalette.All, role, QColor(value))
    # Disabled widgets must still be legible, just quieter.
    for role in (QPalette.WindowText, QPalette.Text, QPalette.ButtonText):
        p.setColor(QPalette.Disabled, role, QColor(theme.muted))
    return p


def style_sheet(theme: Theme) -> str:
    """The application style sheet: ``styles/base.qss`` with ``@name@`` placeholders filled in."""
    text = asset("styles", "base.qss").read_text(encoding="utf-8")
    for key, value in vars(theme).items():
        if isinstance(value, str):
            text = text.replace(f"@{key}@", value)
    # The check mark drawn on the accent colour: light on the light theme's blue, dark on the dark one's.
    check = asset("icons", "check-white.png" if theme.name == "light" else "check-dark.png")
    return text.replace("@check_image@", str(check).replace("\\", "/"))


def apply_theme(app: QApplication, theme: Theme) -> None:
    sheet = style_sheet(theme)
    if app.styleSheet() == sheet and app.property("cnnlab_theme") == theme.name:
        return  # already in this look: setting it again re-polishes every widget for nothing
    app.setStyle("Fusion")  # the one style that honours a custom palette the same on every platform
    app.setPalette(palette_for(theme))
    app.setStyleSheet(sheet)
    app.setProperty("cnnlab_theme", theme.name)


def style_plot(plot, theme: Theme) -> None:
    """Axis, label and grid colours of one pyqtgraph ``PlotItem``."""
    import pyqtgraph as pg  # here, not at the top: the window shows before pyqtgraph is loaded

    pen = pg.mkPen(theme.plot_foreground)
    for name in ("left", "bottom", "right", "top"):
        axis = plot.getAxis(name)
        axis.setPen(pen)
        axis.setTextPen(pen)
    plot.titleLabel.setAttr("color", theme.plot_foreground)
    plot.titleLabel.setText(plot.titleLabel.text)
    legend = plot.legend
    if legend is not None:
        legend.setLabelTextColor(theme.plot_foreground)
        for _, label in legend.items:  # labels take a new colour only when their text is set again
            label.setText(label.text, color=theme.plot_foreground)
        legend.setBrush(
            pg.mkBrush(QColor(theme.plot_background).darker(104 if theme.name == "light" else 90))
        )
        legend.setPen(pg.mkPen(theme.border))
