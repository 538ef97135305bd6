"""`python -m shared.cli`: the `edocta` command (how the demo starts its own processes)."""

from shared.cli import main

main()
