"""STOA Rust gateway adapter (all stoa_* gateway types): ownership encoded as `<owner>.<name>` ids."""
