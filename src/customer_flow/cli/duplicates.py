"""``customer-flow duplicates ...``: find, check, merge, unmerge and dismiss duplicates.

A thin Typer sub-app over the Hub's duplicates methods, registered at the end of ``cli.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from customer_flow.cli.common import IdArg, JsonOpt, fail, get_hub, out, print_json, say

if TYPE_CHECKING:
    from customer_flow.duplicates.models import ComparedField, DuplicateReport, MergeResult

__all__ = ["duplicates_app"]

duplicates_app = typer.Typer(
    no_args_is_help=True,
    help="Find likely duplicate customers, merge them (with an exact undo), or dismiss them.",
)


AutoFieldsOpt = Annotated[
    bool,
    typer.Option(
        "--auto-fields/--no-auto-fields",
        help="Compare the extra attributes recognised as identifying (postcode, zip, address, "
        "date of birth...) when at least 5 % (or 1,000) of the customers have one.",
    ),
]


def _parse_take(pairs: list[str]) -> dict[str, int]:
    take: dict[str, int] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip() or not value.strip().isdigit():
            raise typer.BadParameter(f"expected FIELD=ID, got {pair!r}", param_hint="--take")
        take[key.strip()] = int(value)
    return take


@duplicates_app.command("find")
def duplicates_find(
    ctx: typer.Context,
    threshold: Annotated[
        float | None,
        typer.Option(
            help="Match probability a pair needs, between 0 and 1 (default: the model's, 0.9).",
            show_default=False,
        ),
    ] = None,
    field: Annotated[
        list[str] | None,
        typer.Option(
            "--field",
            help="Also compare this extra attribute (any key, matched ignoring case and "
            "separators); repeatable.",
            show_default=False,
        ),
    ] = None,
    auto_fields: AutoFieldsOpt = True,
    train: Annotated[
        bool | None,
        typer.Option(
            "--train/--no-train",
            help="Train the model on this database: u by random sampling and m by EM "
            "(default: u from 1,000 live customers, m too from 5,000; --no-train: the shipped "
            "parameters).",
            show_default=False,
        ),
    ] = None,
    engine: Annotated[
        str,
        typer.Option(
            help="Where Splink runs: duckdb (this process) or spark (a Spark session: "
            "pip install 'customer-flow[spark]' and a Java runtime).",
        ),
    ] = "duckdb",
    spark_master: Annotated[
        str | None,
        typer.Option(
            help="The Spark master for --engine spark (default: $CUSTOMER_FLOW_SPARK_MASTER, "
            "else local[*]); Spark settings come from $CUSTOMER_FLOW_SPARK_CONF.",
            show_default=False,
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Find likely duplicates over all live customers (Splink): clusters with a score and the
    evidence per field. Pairs marked "not a duplicate" are left out. Besides name, email and
    phone, extra attributes that identify a person (date of birth, postcode, address, suburb,
    state, ID number, under any usual key) are compared when at least 5 % (or 1,000) of the
    customers have one; the output says which fields were compared and why. The check on entry
    then scores with the same parameters. With --engine spark the same model runs on Spark
    (with the parameters the last find stored, unless --train)."""
    if engine not in ("duckdb", "spark"):
        raise typer.BadParameter(f"{engine!r} is not duckdb or spark", param_hint="--engine")
    spark = None
    if engine == "spark":
        from customer_flow.duplicates.spark import NO_JAVA, SparkEngine

        if not _java_found():
            fail(NO_JAVA)
        settings = ctx.find_root().obj.settings
        spark = SparkEngine(spark_master or settings.spark_master, settings.spark_conf)
    report = get_hub(ctx).find_duplicates(
        threshold=threshold, fields=field or [], auto_fields=auto_fields, train=train, spark=spark
    )
    if as_json:
        # Serialised by pydantic-core directly: a million customers can give 50,000 clusters.
        sys.stdout.write(report.model_dump_json(indent=2) + "\n")
        return
    _show_report(report)


def _java_found() -> bool:
    """As Spark's launcher looks: ``$JAVA_HOME/bin/java`` when JAVA_HOME is set, else ``java``
    on the PATH."""
    import os
    import shutil

    home = os.environ.get("JAVA_HOME")
    if home:
        return os.access(Path(home) / "bin" / "java", os.X_OK)
    return shutil.which("java") is not None


def _show_fields(compared: list[ComparedField], left_out: list[ComparedField], auto: bool) -> None:
    say(f"fields compared: {', '.join(f.name for f in compared)}")
    for f in compared:
        if f.source != "built-in":
            say(f"  {f.name}: {f.why}")
    for f in left_out:
        say(f"  {f.name}: {f.why}")  # the why ends "not compared (...)"
    if not auto:
        say("  identifying extra attributes were not looked for (--no-auto-fields)")


_TRAINING = {
    "shipped": "shipped parameters",
    "u": "u trained on this database, m shipped",
    "full": "u and m trained on this database",
}
_VERDICT = {"agrees": "agree", "disagrees": "disagree", "missing": "missing on one side"}


def _show_report(report: DuplicateReport) -> None:
    say(
        f"{report.customers:,} customers, {report.pairs_compared:,} pairs compared, "
        f"{len(report.clusters):,} clusters at or above {report.threshold} "
        f"({_TRAINING[report.training]}, {report.seconds:.1f} s)"
    )
    _show_fields(report.fields, report.fields_not_compared, report.auto_fields)
    for n, cluster in enumerate(report.clusters, 1):
        table = Table(title=f"Cluster {n}: score {cluster.score:.4f}", title_justify="left")
        for col in ("ID", "Name", "Email", "Phone"):
            table.add_column(col)
        for c in cluster.customers:
            table.add_row(str(c.id), c.name, c.email or "", c.phone or "")
        out.print(table)
        for p in cluster.pairs:
            out.print(f"  {p.a} ~ {p.b}: {p.probability:.4f} (weight {p.weight:+.1f})")
            for verdict in ("agrees", "disagrees", "missing"):
                shown = [(f, e) for f, e in p.explanation.items() if e.verdict == verdict]
                if shown:
                    why = ", ".join(f"{f} {e.level} ({e.weight:+.1f})" for f, e in shown)
                    out.print(f"    {_VERDICT[verdict]}: {why}", markup=False)


@duplicates_app.command("export")
def duplicates_export(
    ctx: typer.Context,
    out_dir: Annotated[Path, typer.Option("--out", help="Folder to write into.")],
    field: Annotated[
        list[str] | None,
        typer.Option("--field", help="Also export this extra attribute; repeatable."),
    ] = None,
    auto_fields: AutoFieldsOpt = True,
    dialect: Annotated[
        str, typer.Option(help="Splink backend the settings are for: spark, duckdb, ...")
    ] = "spark",
) -> None:
    """Write customers.parquet (the model's input) and splink_settings.json (the model), to run
    the same duplicates model on Spark when a database outgrows one machine. The fields are
    chosen as `duplicates find` chooses them."""
    data, settings, compared = get_hub(ctx).export_duplicates_model(
        out_dir, fields=field or [], auto_fields=auto_fields, dialect=dialect
    )
    say(f"wrote {data} and {settings}")
    _show_fields(compared, [], auto_fields)


@duplicates_app.command("check")
def duplicates_check(
    ctx: typer.Context,
    name: Annotated[str, typer.Option(help="Full name.")],
    email: Annotated[str | None, typer.Option(show_default=False)] = None,
    phone: Annotated[str | None, typer.Option(show_default=False)] = None,
    as_json: JsonOpt = False,
) -> None:
    """Which live customers a customer with these values would look like (changes nothing)."""
    found = get_hub(ctx).check_duplicates(name, email, phone)
    if as_json:
        print_json(found)
        return
    if not found:
        say("no likely duplicates")
    for c in found:
        out.print(
            f"{c.id} {c.name}, probability {c.probability or 0:.3f}: {'; '.join(c.reasons)}",
            markup=False,
            highlight=False,
        )


def _show_merge(result: MergeResult, verb: str, as_json: bool) -> None:
    if as_json:
        print_json(result)
        return
    m = result.merge
    merged = ", ".join(map(str, m.merged_ids))
    say(f"merge {m.id}: {merged} {verb} customer {m.survivor_id}")
    if verb == "merged into":
        for fname, source in m.fields.items():
            say(f"  {fname}: from customer {source}")
        say(f"undo with: customer-flow duplicates unmerge {m.id}")


@duplicates_app.command("merge")
def duplicates_merge(
    ctx: typer.Context,
    keep: Annotated[int, typer.Argument(help="The customer that stays.", min=1)],
    others: Annotated[list[int], typer.Argument(help="The customers folded into it.", min=1)],
    take: Annotated[
        list[str] | None,
        typer.Option(
            help="Take a field from a given customer: FIELD=ID (name, email, phone, extra.KEY). "
            "Repeatable. Default: the most recently updated non-empty value.",
            show_default=False,
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Merge customers into KEEP. The others go to the trash pointing at it; tickets and extra
    attributes move to it; `duplicates unmerge N` undoes it exactly."""
    result = get_hub(ctx).merge_customers(keep, others, take=_parse_take(take or []))
    _show_merge(result, "merged into", as_json)


@duplicates_app.command("unmerge")
def duplicates_unmerge(
    ctx: typer.Context,
    merge_id: Annotated[int, typer.Argument(help="The merge's number.", min=1)],
    as_json: JsonOpt = False,
) -> None:
    """Undo a merge exactly. Refused, with the reason, if one of its customers changed since."""
    result = get_hub(ctx).unmerge_customers(merge_id)
    _show_merge(result, "split again from", as_json)


@duplicates_app.command("merges")
def duplicates_merges(
    ctx: typer.Context,
    customer: Annotated[
        int | None,
        typer.Option(help="Only merges into this customer.", min=1, show_default=False),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """List merges, newest first."""
    merges = get_hub(ctx).list_merges(customer)
    if as_json:
        print_json(merges)
        return
    table = Table()
    for col in ("Merge", "When", "Who", "Kept", "Merged", "Undone"):
        table.add_column(col)
    for m in merges:
        table.add_row(
            str(m.id),
            m.at.isoformat(timespec="seconds"),
            m.actor,
            str(m.survivor_id),
            ", ".join(map(str, m.merged_ids)),
            m.undone_at.isoformat(timespec="seconds") if m.undone_at else "",
        )
    out.print(table)


@duplicates_app.command("not-duplicate")
def duplicates_not_duplicate(
    ctx: typer.Context, first: IdArg, second: IdArg, as_json: JsonOpt = False
) -> None:
    """Remember that two customers are not the same: find and the entry check skip the pair."""
    a, b = get_hub(ctx).dismiss_duplicate(first, second)
    if as_json:
        print_json([a, b])
        return
    say(f"customers {first} and {second} marked as not duplicates")


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.add_typer(duplicates_app, name="duplicates")
