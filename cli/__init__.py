"""The ``fastmlp`` command line tool: train, evaluate, predict and summarise models on CSV files.

Installed as the package ``fastmlp_cli``; the console script ``fastmlp`` runs
:func:`fastmlp_cli.main.cli`.
"""
