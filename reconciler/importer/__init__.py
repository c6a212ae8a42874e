"""`reconciler import`: live gateway objects -> a repo of manifests (decK dump, terraform import)."""
