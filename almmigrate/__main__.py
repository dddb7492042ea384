"""`python -m almmigrate` runs the command line."""

from almmigrate.cli import main

main()
