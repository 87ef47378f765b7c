"""``python -m customer_flow`` runs the CLI."""

from .cli import main

main()
