"""Result tables more than one verb prints."""

from __future__ import annotations

from edgeprune.console import escape


def class_table(result, title: str):
    from rich.table import Table

    table = Table(title=escape(title), title_justify="left")
    for column in ("class", "images", "instances", "mAP@0.5", "mAP@0.5:0.95", "recall@0.5"):
        table.add_column(column, justify="left" if column == "class" else "right")

    def fmt(value):
        return "-" if value is None else f"{value:.4f}"

    table.add_row("all", str(result.images), str(result.instances), fmt(result.map50),
                  fmt(result.map50_95), fmt(result.recall50), style="bold")
    for ap in result.classes:
        table.add_row(escape(ap.name), str(ap.images), str(ap.instances), fmt(ap.ap50),
                      fmt(ap.ap50_95), fmt(ap.recall50))
    return table


def info_table(title: str, answer: dict):
    """The /info answer as a two-column table (also `edgeprune device check`)."""
    from rich.table import Table

    table = Table(title=escape(title), show_header=False, title_justify="left")
    for key in ("backend", "version", "precisions", "device", "max_upload_bytes", "busy",
                "edgeprune"):
        value = answer.get(key)
        if isinstance(value, dict):
            value = ", ".join(f"{k}={v}" for k, v in value.items() if v is not None)
        elif isinstance(value, list):
            value = ", ".join(map(str, value))
        table.add_row(key, escape(value))
    return table
