"""The standard formats partners' tools read: STIX 2.1 objects and bundles, NATO
confidentiality labels (STANAG 4774/4778), documents. Pure mappings over domain objects.

Imports the domain only. Imported by services and the CLI.
"""
