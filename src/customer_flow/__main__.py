"""``python -m customer_flow`` runs the CLI."""

from customer_flow.cli.main import main

main()
