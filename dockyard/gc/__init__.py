"""Online garbage collection: the writers' guard, the collector's lease and its reports.

The collector itself is ``dockyard.storage.gc``; ``docs/collection.md`` gives the argument
why it never removes what a live tag or an in-flight push needs.
"""
