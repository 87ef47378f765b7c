"""The data commands: ``import``, ``imports list | revert``, ``validate`` and ``export``."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from customer_flow.cli.common import JsonOpt, err, get_hub, out, print_json, say, short

# -- imports, validate and export (issue 3) ------------------------------------------------

imports_app = typer.Typer(no_args_is_help=True, help="Past imports: list them, revert one.")

MapOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--map",
        help="Map a file column to a field, e.g. 'Phone Number=Phone'; 'Notes=' ignores a "
        "column. Repeatable.",
        show_default=False,
    ),
]
IgnoreOpt = Annotated[
    bool,
    typer.Option(
        "--ignore-unknown",
        help="Do not keep columns that are not customer fields as extra attributes "
        "(the report lists them).",
    ),
]
FormatInOpt = Annotated[
    str | None,
    typer.Option(
        "--format",
        help="csv, tsv, xlsx, jsonl or parquet (default: from the file).",
        show_default=False,
    ),
]
EncodingOpt = Annotated[
    str | None,
    typer.Option(help="The file's encoding (default: detected).", show_default=False),
]
DelimiterOpt = Annotated[
    str | None,
    typer.Option(help="The CSV delimiter (default: sniffed).", show_default=False),
]


def _import_options(
    mapping: list[str] | None,
    ignore_unknown: bool,
    fmt: str | None,
    encoding: str | None,
    delimiter: str | None,
    **more: Any,
) -> Any:
    from customer_flow.core.models import parse
    from customer_flow.data.imports import ImportOptions
    from customer_flow.data.sources import parse_mapping

    if delimiter == "\\t":
        delimiter = "\t"
    return parse(
        ImportOptions,
        {
            "mapping": parse_mapping(mapping or []),
            "ignore_unknown": ignore_unknown,
            "format": fmt,
            "encoding": encoding,
            "delimiter": delimiter,
            **more,
        },
    )


def _counts_table(report: Any, *, validating: bool = False) -> Table:
    table = Table(title=f"{report.source}" + (" (dry run)" if report.dry_run else ""))
    table.add_column("Rows", style="bold")
    table.add_column("Count", justify="right")
    if validating:
        table.add_row("valid", f"{report.imported:,}")
    else:
        table.add_row("imported", f"{report.imported:,}")
        table.add_row("updated", f"{report.updated:,}")
        skipped = f" ({report.skipped:,} skipped)" if report.skipped else ""
        table.add_row("unchanged", f"{report.unchanged:,}{skipped}")
    table.add_row("rejected", f"{report.rejected:,}")
    table.add_row("rows read", f"{report.rows_read:,}", style="bold")
    return table


def _rule_table(title: str, counts: dict[str, int], total: int, meanings: dict[str, str]) -> Table:
    table = Table(title=title)
    table.add_column("Rule")
    table.add_column("Values", justify="right")
    table.add_column("%", justify="right")
    table.add_column("Meaning", style="dim")
    for rule, n in counts.items():
        pct = f"{100 * n / total:.1f}" if total else "—"
        table.add_row(rule, f"{n:,}", pct, meanings.get(rule, ""))
    return table


def _show_report(report: Any, *, validating: bool = False, first: int = 10) -> None:
    from customer_flow.data.cleaning import CLEAN_RULES, ERROR_CODES, WARNING_CODES

    err.print(_counts_table(report, validating=validating))
    if report.cleaning:
        err.print(
            _rule_table("Cleaning: values changed", report.cleaning, report.rows_read, CLEAN_RULES)
        )
    if report.errors:
        err.print(
            _rule_table("Errors: rows rejected", report.errors, report.rows_read, ERROR_CODES)
        )
    if report.warnings:
        err.print(
            _rule_table(
                "Warnings: imported, flagged", report.warnings, report.rows_read, WARNING_CODES
            )
        )
    if report.rejects and first:
        table = Table(title=f"First rejected rows (of {report.rejected:,})")
        for col in ("Row", "Column", "Code", "Message"):
            table.add_column(col)
        for r in report.rejects[:first]:
            table.add_row(str(r.row), r.column, r.code, short(r.message).replace("…", "…"))
        err.print(table)
    if getattr(report, "duplicates", None) and first:
        shown = report.duplicates[: max(first, 20)]
        table = Table(
            title=f"Imported as possible duplicates (first {len(shown):,} of "
            f"{report.possible_duplicates:,}; each keeps a warning)"
        )
        for col in ("Row", "New ID", "Looks like", "Why"):
            table.add_column(col)
        for d in shown:
            for i, c in enumerate(d.candidates):
                who = f"customer {c.id}" if c.id is not None else f"row {c.row}"
                if c.row is not None and c.id is not None:
                    who += f" (row {c.row})"
                table.add_row(
                    str(d.row) if i == 0 else "",
                    str(d.id) if i == 0 else "",
                    f"{who}: {c.name}"
                    + (f", probability {c.probability:.3f}" if c.probability is not None else ""),
                    "; ".join(c.reasons),
                )
        err.print(table)
    for note in report.notes:
        say(f"note: {note}")
    if report.errors.get("possible_duplicate"):
        say(
            f"{report.errors['possible_duplicate']:,} rows look like existing customers or "
            "earlier rows and were not imported (possible_duplicate, --reject-duplicates); "
            "without that option they are imported with a warning, to review with "
            "`duplicates find`"
        )
    if report.rejects_file:
        say(f"rejected rows written to {report.rejects_file}")
    say(report.balance())


def _progress(as_json: bool) -> Any:
    """A Rich progress display on stderr, only for a person at a terminal."""
    from contextlib import nullcontext

    if as_json or not err.is_terminal:
        return nullcontext(None)
    from rich.progress import (
        BarColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
        SpinnerColumn(),
        TextColumn("importing: {task.completed:,.0f}{task.fields[of]} rows"),
        BarColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TextColumn("left"),
        TimeRemainingColumn(),
        console=err,
        transient=True,
    )


def _of(total: int | None) -> str:
    """ " of about 1,000,000" for the progress bar, or nothing when the total is unknown."""
    return "" if total is None else f" of about {total:,}"


def _rate(rows: int, seconds: float) -> str:
    return f"{rows / seconds:,.0f} rows/s" if seconds > 0 and rows else ""


def import_file(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="CSV, TSV, XLSX, JSON Lines or Parquet file.")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would happen; write nothing.")
    ] = False,
    on_conflict: Annotated[
        str,
        typer.Option(
            help="When a row matches a customer by ID (or by email, without an ID): "
            "skip it, update the customer, or fail the import."
        ),
    ] = "skip",
    mapping: MapOpt = None,
    ignore_unknown: IgnoreOpt = False,
    max_errors: Annotated[
        int | None,
        typer.Option(
            help="Import nothing and exit 1 if more rows than this are rejected.",
            min=0,
            show_default=False,
        ),
    ] = None,
    rejects: Annotated[
        Path | None,
        typer.Option(
            help="Where to write rejected rows (default: FILE.rejects.csv beside the file).",
            show_default=False,
        ),
    ] = None,
    reject_duplicates: Annotated[
        bool,
        typer.Option(
            "--reject-duplicates",
            help="Reject rows that look like an existing customer or an earlier row (the "
            "duplicates model's probability at or above its threshold) instead of importing "
            "them, each with a warning naming the candidates, for review.",
        ),
    ] = False,
    _allow_duplicate: Annotated[
        bool,
        typer.Option(
            "--allow-duplicate",
            hidden=True,
            help="What an import does by default now (kept so that older scripts run).",
        ),
    ] = False,
    fmt: FormatInOpt = None,
    encoding: EncodingOpt = None,
    delimiter: DelimiterOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Import customers from a file: map, clean, validate and load them in one transaction.

    Every row read is imported, updated, unchanged or rejected; rejected rows go to a rejects
    file with their row number, values, column, reason code and message.
    """
    if on_conflict not in ("skip", "update", "fail"):
        raise typer.BadParameter("choose skip, update or fail", param_hint="--on-conflict")
    options = _import_options(
        mapping,
        ignore_unknown,
        fmt,
        encoding,
        delimiter,
        on_conflict=on_conflict,
        max_errors=max_errors,
        reject_duplicates=reject_duplicates,
        # A dry run writes nothing unless asked to: no rejects file beside the input by default.
        rejects_path=rejects or (None if dry_run else path.with_name(f"{path.stem}.rejects.csv")),
    )
    hub = get_hub(ctx)
    with _progress(as_json) as bar:
        task = bar.add_task("import", total=None, of="", rate="") if bar is not None else None
        started = time.perf_counter()

        def tick(rows: int, total: int | None) -> None:
            if bar is not None:
                # An estimate a little low must not show more done than the whole.
                total = None if total is None else max(total, rows)
                elapsed = time.perf_counter() - started
                bar.update(
                    task, completed=rows, total=total, of=_of(total), rate=_rate(rows, elapsed)
                )

        def waiting(other: str) -> None:
            say(f"waiting for {other} to end first (one import at a time on SQLite)")

        report = hub.import_file(path, options, dry_run=dry_run, progress=tick, waiting=waiting)
    if as_json:
        print_json(report)
        return
    _show_report(report)
    if report.batch_id is not None:
        n = report.batch_id
        say(f"import {n} done; undo it with: customer-flow imports revert {n}")
    elif dry_run:
        say("dry run: nothing was written")


def validate_file(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="CSV, TSV, XLSX, JSON Lines or Parquet file.")],
    mapping: MapOpt = None,
    ignore_unknown: IgnoreOpt = False,
    first: Annotated[int, typer.Option(help="How many failing rows to show.", min=0)] = 10,
    rejects: Annotated[
        Path | None,
        typer.Option(help="Also write the failing rows to this file.", show_default=False),
    ] = None,
    fmt: FormatInOpt = None,
    encoding: EncodingOpt = None,
    delimiter: DelimiterOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The data-quality report of a file, without importing it: per-rule counts and
    percentages, and the first failing rows."""
    options = _import_options(
        mapping, ignore_unknown, fmt, encoding, delimiter, rejects_path=rejects
    )
    report = get_hub(ctx).validate_file(path, options)
    if as_json:
        print_json(report)
        return
    _show_report(report, validating=True, first=first)


def _batch_table(batches: list[Any]) -> Table:
    table = Table()
    for col in (
        "Import",
        "When",
        "Who",
        "File",
        "Read",
        "Imported",
        "Updated",
        "Unchanged",
        "Rejected",
        "Status",
    ):
        table.add_column(
            col,
            justify="right"
            if col in ("Import", "Read", "Imported", "Updated", "Unchanged", "Rejected")
            else "left",
        )
    for b in batches:
        table.add_row(
            str(b.id),
            b.created_at.isoformat(timespec="seconds"),
            b.actor,
            b.source,
            f"{b.rows_read:,}",
            f"{b.imported:,}",
            f"{b.updated:,}",
            f"{b.unchanged:,}",
            f"{b.rejected:,}",
            b.status,
        )
    return table


@imports_app.command("list")
def imports_list(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(help="How many, most recent first.", min=1)] = 50,
    as_json: JsonOpt = False,
) -> None:
    """List past imports, most recent first."""
    batches = get_hub(ctx).list_imports(limit=limit)
    if as_json:
        print_json(batches)
    else:
        out.print(_batch_table(batches))


@imports_app.command("revert")
def imports_revert(
    ctx: typer.Context,
    batch_id: Annotated[int, typer.Argument(help="The import's number (see imports list).", min=1)],
    skip_changed: Annotated[
        bool,
        typer.Option(
            "--skip-changed",
            help="Leave as they are the customers that cannot be undone (changed since the "
            "import, or holding tickets) and revert the rest; the report lists what stayed.",
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Undo an import exactly: remove the customers it created, restore the ones it updated.

    A revert that some customers block (changed since, or holding tickets) is refused, naming
    them; --skip-changed reverts the others. The IDs of the removed customers are free again:
    a file that gives them may use them."""
    result = get_hub(ctx).revert_import(batch_id, skip_changed=skip_changed)
    if as_json:
        print_json(result)
        return
    say(
        f"import {batch_id} {result.status}: {result.removed:,} customers removed, "
        f"{result.restored:,} restored"
    )
    if result.kept:
        say(f"{len(result.kept):,} customers stayed as they are:")
        for k in result.kept[:20]:
            say(f"  customer {k.id}{f' ({k.name})' if k.name else ''}: {k.reason}")
        if len(result.kept) > 20:
            say(f"  and {len(result.kept) - 20:,} more (--json lists them all)")


def export(
    ctx: typer.Context,
    path: Annotated[str, typer.Argument(help="The file to write, or - for stdout.")],
    fmt: Annotated[
        str, typer.Option("--format", help="csv (id.csv format), json, jsonl, xlsx or parquet.")
    ] = "csv",
    search: Annotated[
        str | None, typer.Option(help="Text to find in name, email or phone.", show_default=False)
    ] = None,
    sort: Annotated[str, typer.Option(help="id, name or created; prefix - to reverse.")] = "id",
    trash: Annotated[bool, typer.Option("--trash", help="Export the trash instead.")] = False,
    with_warnings: Annotated[
        bool, typer.Option("--with-warnings", help="Only customers with open warnings.")
    ] = False,
    raw: Annotated[
        bool,
        typer.Option(
            "--raw",
            help="Do not neutralise CSV cells that start with =, +, -, @, tab or CR "
            "(formula injection).",
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Export customers, with the filters of customers list."""
    from customer_flow.core.models import parse
    from customer_flow.customers.models import CustomerQuery
    from customer_flow.data.exports import FORMATS

    fmt = fmt.lower()
    if fmt not in FORMATS:
        raise typer.BadParameter(f"choose one of {', '.join(FORMATS)}", param_hint="--format")
    query = parse(
        CustomerQuery,
        {"search": search, "sort": sort, "trash": trash, "with_warnings": with_warnings},
    )
    hub = get_hub(ctx)
    if path == "-":
        if fmt in ("xlsx", "parquet"):
            raise typer.BadParameter(f"{fmt} needs a file, not stdout", param_hint="PATH")
        report = hub.export_customers(sys.stdout, query, format=fmt, raw=raw)
    else:
        report = hub.export_customers(Path(path), query, format=fmt, raw=raw)
    if as_json:
        print_json(report)
    else:
        cells = f"; {report.neutralised:,} cells neutralised" if report.neutralised else ""
        say(f"exported {report.rows:,} customers to {report.path} ({report.format}){cells}")


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.command("import")(import_file)
    app.command("validate")(validate_file)
    app.command("export")(export)
    app.add_typer(imports_app, name="imports")
