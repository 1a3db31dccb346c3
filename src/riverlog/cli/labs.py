"""`riverlog labs ...`: the two labs, NYC taxi rides & fares (`labs taxi`) and toll collection
(`labs toll`). Each lab's verbs live in their own module (`labs_taxi.py`, `labs_toll.py`); this
module only groups them.
"""

from __future__ import annotations

import typer

from riverlog.cli import labs_taxi, labs_toll

app = typer.Typer(
    help="The labs: NYC taxi rides & fares (taxi) and toll collection & monitoring (toll).",
    no_args_is_help=True,
)
# the labs' sub-groups (one line each):
app.add_typer(labs_toll.app, name="toll")
app.add_typer(labs_taxi.app, name="taxi")
