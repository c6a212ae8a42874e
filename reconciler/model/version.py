"""The release of this package, in one place (the root package re-exports it)."""

VERSION = "0.1.0"
