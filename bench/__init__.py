"""dockyard's benchmark suite: measures dockyard and the reference registry side by side.

Run it with ``python -m bench`` (or ``make bench``); ``python -m bench --help`` lists
the options.
"""
